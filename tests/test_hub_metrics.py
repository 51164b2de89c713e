"""GET /metrics: Prometheus text read back with prometheus_client's own parser, on SQLite and PostgreSQL.

The numbers come from the database, so two API apps (replicas) on one
database answer the same; who may read it: admins and the scrape token.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import metrics
from hub.accounts.principal import EMPLOYEE, UNIT_OFFICER
from hub.db import Employee, PunchRecord
from hub.devices import health, registry
from hub.ingest.intake import DeviceRecord, check_punch
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import messages, signing, topics
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.punchkit import signed_punch, to_payload

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
SITE = "site-m"
KEY = signing.generate_private_key()
DEVICES = ("kiosk-01", "kiosk-02", "kiosk-03", "kiosk-04", "kiosk-05")
SCRAPE_TOKEN = "scrape-" + "x" * 24


def seed(hub: HubApi) -> None:
    """kiosk-01 online, -02 offline, -03 stale, -04 never seen, -05 retired; punches received at known lags."""
    with hub.sessions() as session:
        registry.add_site(session, SITE, "Metrics office")
        for device_id in DEVICES:
            registry.register_device(session, device_id, SITE, signing.public_key_b64(KEY))
        registry.retire_device(session, "kiosk-05", NOW)
        session.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
        session.commit()
    cfg = hub.config

    def report(device_id: str, kind: str, payload: bytes, at: datetime) -> tuple[ReceivedMessage, health.Report]:
        message = ReceivedMessage(topics.device_topic(device_id, kind), payload, at)
        return message, health.parse_report(message, max_bytes=cfg.max_payload_bytes)

    def health_payload(at: datetime, skew_s: float, depth: int) -> bytes:
        return json.dumps({"ts": (at + timedelta(seconds=skew_s)).isoformat(), "uptime_s": 10, "outbox_depth": depth,
                           "oldest_unacked_s": 12.5, "gallery_version": 0, "sw_version": "0.1.0"}).encode()

    recent, old = NOW - timedelta(seconds=30), NOW - timedelta(hours=1)
    reports = [
        report("kiosk-01", topics.STATUS, b'{"state": "online"}', old),
        report("kiosk-01", topics.HEALTH, health_payload(recent, -42.0, 3), recent),
        report("kiosk-02", topics.STATUS, b'{"state": "offline"}', recent),
        report("kiosk-03", topics.STATUS, b'{"state": "online"}', old),
        report("kiosk-03", topics.HEALTH, health_payload(old, 0.0, 0), old),
        report("kiosk-05", topics.HEALTH, health_payload(recent, 0.0, 8), recent),
        report("kiosk-01", topics.HEALTH, b"[]", recent),
        report("kiosk-01", topics.HEALTH, b'{"ts": "soon"}', recent),
    ]
    with hub.sessions() as session:
        health.record_reports(session, reports, cfg.health, max_payload_bytes=cfg.max_payload_bytes)
        device = DeviceRecord("kiosk-01", SITE, signing.public_key_b64(KEY))
        topic = topics.device_topic("kiosk-01", topics.PUNCH)
        decisions = []
        # lags (receive minus device time) 1, 2, 3 and 60 s inside the window, and one received long before it
        for seq, (lag_s, received) in enumerate([(1, NOW), (2, NOW), (3, NOW), (60, NOW), (5, old)], start=1):
            ts = messages.device_time(received - timedelta(seconds=lag_s))
            payload = to_payload(signed_punch(KEY, "kiosk-01", SITE, "E1", ts=ts, seq=seq))
            decisions.append((ReceivedMessage(topic, payload, received), check_punch(
                topic, payload, max_bytes=4096, device_lookup={"kiosk-01": device}.get, is_allowed=lambda e, s: True)))
        forged = to_payload(signed_punch(signing.generate_private_key(), "kiosk-01", SITE, "E1"))
        decisions.append((ReceivedMessage(topic, forged, NOW), check_punch(
            topic, forged, max_bytes=4096, device_lookup={"kiosk-01": device}.get, is_allowed=lambda e, s: True)))
        assert store_decisions(session, decisions, max_payload_bytes=4096) == ["stored"] * 5 + ["rejected"]
        session.add(PunchRecord(id="phone-1", device_id="phone", site_id=SITE, employee_id="E1", device_ts=old,
                                device_utc_offset_min=330, received_at=old, method="phone", distance=0.3, margin=None,
                                gallery_version=0, liveness_passed=None, liveness_score=None, seq=0, payload="{}"))
        session.commit()


def make_hub(tmp_path, engine) -> HubApi:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "metrics.token").write_text(SCRAPE_TOKEN)
    hub = HubApi(tmp_path, engine, metrics={"token_file": str(tmp_path / "metrics.token"), "lag_window_s": 300},
                 health={"stale_after_s": 180})
    hub.app.state.clock = lambda: NOW
    return hub


@pytest.fixture
def hub(tmp_path, any_engine):
    api = make_hub(tmp_path, any_engine)
    seed(api)
    yield api
    api.close()


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a /metrics answer."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == metrics.CONTENT_TYPE
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def per_device(samples: dict, name: str) -> dict[str, float]:
    return {dict(labels)["device_id"]: v for (n, labels), v in samples.items() if n == name}


def test_metrics_report_the_fleet_and_the_totals(hub):
    samples = scrape(hub.machine)
    assert {dict(labels)["state"]: v for (n, labels), v in samples.items() if n == "hub_devices"} == {
        "online": 1, "offline": 1, "stale": 1, "never_seen": 1}, "the retired kiosk-05 is not counted"
    assert per_device(samples, "hub_device_up") == {"kiosk-01": 1, "kiosk-02": 0, "kiosk-03": 0, "kiosk-04": 0}
    assert per_device(samples, "hub_device_outbox_depth") == {"kiosk-01": 3, "kiosk-03": 0}
    assert per_device(samples, "hub_device_oldest_unacked_seconds") == {"kiosk-01": 12.5, "kiosk-03": 12.5}
    assert per_device(samples, "hub_device_clock_skew_seconds") == {"kiosk-01": -42.0, "kiosk-03": 0.0}
    assert per_device(samples, "hub_device_last_seen_timestamp_seconds") == {
        "kiosk-01": (NOW - timedelta(seconds=30)).timestamp(), "kiosk-03": (NOW - timedelta(hours=1)).timestamp()}
    assert per_device(samples, "hub_device_gallery_behind") == dict.fromkeys(DEVICES[:4], 1.0), "none confirmed"
    assert samples[("hub_punches_ingested_total", (("method", "face"),))] == 5
    assert samples[("hub_punches_ingested_total", (("method", "phone"),))] == 1
    assert samples[("hub_punches_rejected_total", ())] == 1
    assert samples[("hub_device_reports_rejected_total", (("kind", "health"),))] == 2
    assert samples[("hub_device_reports_rejected_total", (("kind", "status"),))] == 0


def test_ingest_lag_covers_the_recent_window_only(hub):
    samples = scrape(hub.machine)
    assert samples[("hub_recent_punches", ())] == 4
    lag = {dict(labels)["quantile"]: v for (n, labels), v in samples.items() if n == "hub_punch_ingest_lag_seconds"}
    assert (lag["0.0"], lag["1.0"]) == (1.0, 60.0)
    assert lag["0.5"] in (2.0, 3.0) and lag["0.9"] == lag["0.99"] == 60.0
    hub.app.state.clock = lambda: NOW + timedelta(hours=2)
    later = scrape(hub.machine)
    assert later[("hub_recent_punches", ())] == 0
    assert not [k for k in later if k[0] == "hub_punch_ingest_lag_seconds"], "no punches, no quantiles"
    assert later[("hub_devices", (("state", "stale"),))] == 2, "kiosk-01 has gone quiet too"


@pytest.mark.parametrize("values, q, expected", [
    ([5.0], 0.5, 5.0), ([1.0, 2.0, 3.0], 0.0, 1.0), ([1.0, 2.0, 3.0], 0.5, 2.0), ([1.0, 2.0, 3.0], 1.0, 3.0),
    (list(map(float, range(101))), 0.9, 90.0), (list(map(float, range(101))), 0.99, 99.0),
])
def test_quantile(values, q, expected):
    assert metrics.quantile(values, q) == expected


def test_two_replicas_on_one_database_agree(hub, tmp_path):
    other = make_hub(tmp_path / "replica", hub.engine)
    try:
        assert scrape(other.client(SCRAPE_TOKEN)) == scrape(hub.machine)
    finally:
        other.close()


def test_who_may_read_metrics(hub):
    with hub.sessions() as session:
        seed_org(session)
        session.commit()
    assert scrape(hub.client(SCRAPE_TOKEN))[("hub_punches_rejected_total", ())] == 1
    assert hub.client(SCRAPE_TOKEN).get("/api/v1/devices").status_code == 401, "the scrape token opens /metrics only"
    assert hub.client().get("/metrics").status_code == 401
    assert hub.client("not-the-token-at-all").get("/metrics").status_code == 401
    assert hub.user_client("officer", UNIT_OFFICER, unit_ids=["HEALTH"]).get("/metrics").status_code == 403
    assert hub.user_client("e001", EMPLOYEE, employee_id="E001").get("/metrics").status_code == 403
    assert hub.user_client("boss", "admin").get("/metrics").status_code == 200


def test_without_a_scrape_token_only_admins_read_metrics(tmp_path, any_engine):
    hub = HubApi(tmp_path, any_engine)
    try:
        assert hub.client(SCRAPE_TOKEN).get("/metrics").status_code == 401
        assert scrape(hub.machine)[("hub_devices", (("state", "online"),))] == 0
    finally:
        hub.close()
