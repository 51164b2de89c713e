"""A kiosk's clock and alarms at the hub: judged from each health message and each punch, both directions.

Database tests run on SQLite and PostgreSQL (``any_engine``) and store
messages the way the ingest worker does; the broker test runs the real
worker against a real Mosquitto with punches signed by a real device key.
Times are injected, never slept.
"""

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.config import HealthConfig
from hub.devices import health, registry
from hub.ingest.plausibility import CLOCK_SKEW
from hub.ingest.punches import ReceivedMessage
from protocol import messages, signing, topics
from tests.hub_api_kit import HubApi
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.polling import wait_until
from tests.punchkit import IST, KioskLink, signed_punch, to_payload
from tests.test_hub_ingest import DEVICE, KEY, SITE, Hub
from tests.test_hub_plausibility import stored

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
KEYS = {d: signing.generate_private_key() for d in ("kiosk-01", "kiosk-02")}
CONFIG = HealthConfig(max_clock_skew_s=300)


def health_message(device_id: str, received_at: datetime, ahead_s: float = 0.0, **over) -> ReceivedMessage:
    fields = {"ts": (received_at + timedelta(seconds=ahead_s)).isoformat(), "uptime_s": 60.0, "outbox_depth": 0,
              "gallery_version": 1, "sw_version": "0.2.0", **over}
    return ReceivedMessage(topics.device_topic(device_id, topics.HEALTH), json.dumps(fields).encode(), received_at)


def record(sessions, *received: ReceivedMessage, config: HealthConfig = CONFIG) -> list[str]:
    with sessions() as session:
        results = health.record_reports(session, [(m, health.parse_report(m, max_bytes=65536)) for m in received],
                                        config, max_payload_bytes=65536)
        session.commit()
    return results


@pytest.fixture
def api(tmp_path, any_engine):
    hub = HubApi(tmp_path, any_engine, health=CONFIG.model_dump())
    with hub.sessions() as session:
        registry.add_site(session, SITE, "Office A")
        for device_id, key in KEYS.items():
            registry.register_device(session, device_id, SITE, signing.public_key_b64(key))
        session.commit()
    hub.app.state.clock = lambda: T0
    yield hub
    hub.close()


def devices(api) -> dict[str, dict]:
    return {d["device_id"]: d for d in api.machine.get("/api/v1/devices").json()["items"]}


def alarm_gauges(api) -> dict[tuple, float]:
    text = api.machine.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name.startswith("hub_device_alarm")}


# --- alarms ------------------------------------------------------------------------


def test_alarms_in_health_are_the_kiosks_current_alarms_in_the_api_and_metrics(api, caplog):
    since = (T0 - timedelta(minutes=5)).isoformat()
    alarms = [{"kind": messages.ALARM_OUTBOX_RECOVERED, "detail": "outbox damaged; 12 punches salvaged",
               "since": since},
              {"kind": "fan_stopped", "detail": "", "since": since}]  # a kind newer than this hub
    with caplog.at_level(logging.WARNING, logger="hub.devices.health"):
        record(api.sessions, health_message("kiosk-01", T0 - timedelta(minutes=1), alarms=alarms))
        record(api.sessions, health_message("kiosk-01", T0, alarms=alarms))  # the same alarms again
    raised = [r.getMessage() for r in caplog.records if "raised alarm" in r.getMessage()]
    assert len(raised) == 2, "logged once when each appears, not on every health message"
    assert "outbox_recovered" in raised[0] and "12 punches salvaged" in raised[0]

    one = devices(api)["kiosk-01"]
    assert [(a["kind"], a["detail"]) for a in one["alarms"]] == [("outbox_recovered", "outbox damaged; 12 punches "
                                                                  "salvaged"), ("fan_stopped", "")]
    assert datetime.fromisoformat(one["alarms"][0]["since"]) == T0 - timedelta(minutes=5)
    assert one["telemetry"]["alarms"] == one["alarms"] and devices(api)["kiosk-02"]["alarms"] == []
    history = api.machine.get("/api/v1/devices/kiosk-01/health").json()["items"]
    assert [len(s["alarms"]) for s in history] == [2, 2]

    gauges = alarm_gauges(api)
    assert gauges[("hub_device_alarms", (("kind", "outbox_recovered"),))] == 1
    assert gauges[("hub_device_alarms", (("kind", "storage_error"),))] == 0, "every known kind is shown"
    assert gauges[("hub_device_alarms", (("kind", "fan_stopped"),))] == 1
    assert gauges[("hub_device_alarm", (("device_id", "kiosk-01"), ("kind", "outbox_recovered"),
                                        ("site_id", SITE)))] == 1

    record(api.sessions, health_message("kiosk-01", T0 + timedelta(minutes=1)))  # the kiosk cleared them
    assert devices(api)["kiosk-01"]["alarms"] == []
    assert alarm_gauges(api)[("hub_device_alarms", (("kind", "outbox_recovered"),))] == 0


# --- clock skew, both directions, at once --------------------------------------------


def test_a_kiosk_an_hour_behind_or_a_day_ahead_is_suspect_from_one_health_message(api):
    for i, (ahead_s, suspect) in enumerate([(-3600, True), (0, False), (86400, True), (2, False)]):
        at = T0 + timedelta(minutes=i)
        api.app.state.clock = lambda at=at: at
        record(api.sessions, health_message("kiosk-01", at, ahead_s))
        one = devices(api)["kiosk-01"]
        assert (one["clock_skew_s"], one["clock_suspect"]) == (ahead_s, suspect)


@pytest.mark.broker
def test_punches_of_a_kiosk_behind_or_ahead_are_flagged_until_it_is_back_in_step(tmp_path, broker):
    hub = Hub(tmp_path, broker.port)
    worker = hub.start_worker()
    other = signing.generate_private_key()
    with hub.sessions() as session:
        registry.register_device(session, "kiosk-02", SITE, signing.public_key_b64(other))
        session.commit()
    keys = {DEVICE: KEY, "kiosk-02": other}

    def health_now(device_id: str, ahead_s: float) -> None:
        count = worker.stats["health"]
        kiosk.publish(topics.HEALTH, health_payload(ahead_s), device_id=device_id)
        assert wait_until(lambda: worker.stats["health"] == count + 1)

    def punch_now(device_id: str, ahead_s: float, seq: int) -> str:
        """A punch made just now on a kiosk whose clock is ``ahead_s`` off; its stored flags."""
        fields = signed_punch(keys[device_id], device_id, SITE, "E1", seq=seq,
                              ts=messages.device_time(datetime.now(IST) + timedelta(seconds=ahead_s)))
        kiosk.publish(topics.PUNCH, to_payload(fields), device_id=device_id)
        assert wait_until(lambda: fields["id"] in stored(hub)), kiosk.received
        return stored(hub)[fields["id"]].flags

    try:
        with KioskLink(broker.port, DEVICE) as kiosk:
            health_now(DEVICE, -3600)
            health_now("kiosk-02", 86400)
            assert punch_now(DEVICE, -3600, 1) == CLOCK_SKEW, "an hour behind"
            assert punch_now("kiosk-02", 86400, 1) == CLOCK_SKEW, "a day ahead: kept, flagged"
            health_now(DEVICE, 0)
            assert punch_now(DEVICE, 0, 2) is None, "back in step: no longer flagged"
            assert punch_now(DEVICE, 0, 3) is None
            health_now("kiosk-02", 86400)
            assert punch_now("kiosk-02", 0, 2) == CLOCK_SKEW, "its clock was set right since its last health"
    finally:
        hub.close()


def health_payload(ahead_s: float) -> bytes:
    fields = {"ts": (datetime.now(timezone.utc) + timedelta(seconds=ahead_s)).isoformat(), "uptime_s": 60.0,
              "outbox_depth": 0, "gallery_version": 1, "sw_version": "0.2.0"}
    return json.dumps(fields).encode()
