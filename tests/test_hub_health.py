"""Device health at the hub: status (birth / last will), health telemetry, clock skew, the device API.

Database-level tests run on SQLite and PostgreSQL (``any_engine``); the
broker tests run a real Mosquitto with the real ingest worker, and the
kiosk that dies is a separate process killed with SIGKILL, so the last
will is the broker's own doing. Time for "stale" is injected, never slept.
"""

import json
import secrets
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import HealthConfig, HubConfig
from hub.db import (
    DeviceHealth,
    DeviceHealthSample,
    Employee,
    PunchRecord,
    RejectedMessage,
    init_db,
    make_engine,
    make_session_factory,
)
from hub.devices import health, registry
from hub.ingest.punches import ReceivedMessage
from hub.ingest.worker import IngestWorker
from protocol import messages, signing, topics
from tests.hub_api_kit import HubApi
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.polling import wait_until
from tests.punchkit import KioskLink, signed_punch, to_payload

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
IST = timezone(timedelta(hours=5, minutes=30))
SITE = "site-a"
KEYS = {d: signing.generate_private_key() for d in ("kiosk-01", "kiosk-02")}
CONFIG = HealthConfig(stale_after_s=180, max_clock_skew_s=120, history_days=7, history_max_samples=10)


def health_fields(ts: datetime, **over) -> dict:
    fields = {"ts": ts.isoformat(), "uptime_s": 3600.0, "cpu_temp_c": 51.5, "load1": 0.4, "mem_free_mb": 512.0,
              "disk_free_mb": 9000.0, "camera_fps": 14.8, "outbox_depth": 3, "oldest_unacked_s": 42.0,
              "gallery_version": 7, "sw_version": "0.1.0"}
    fields.update(over)
    return fields


def message(device_id: str, kind: str, payload: dict | bytes, received_at: datetime) -> ReceivedMessage:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ReceivedMessage(topics.device_topic(device_id, kind), body, received_at)


def seed(session) -> None:
    registry.add_site(session, SITE, "Office A")
    for device_id, key in KEYS.items():
        registry.register_device(session, device_id, SITE, signing.public_key_b64(key))
    session.commit()


def record(sessions, *items: tuple[ReceivedMessage, bool], config: HealthConfig = CONFIG) -> list[str]:
    """Parse and store messages as the worker does: ``(message, retained)``."""
    with sessions() as session:
        results = health.record_reports(
            session, [(m, health.parse_report(m, retained=r, max_bytes=65536)) for m, r in items], config,
            max_payload_bytes=65536)
        session.commit()
    return results


def row(sessions, device_id: str) -> DeviceHealth | None:
    with sessions() as session:
        return session.get(DeviceHealth, device_id)


def states(sessions, now: datetime, config: HealthConfig = CONFIG) -> dict[str, health.DeviceView]:
    with sessions() as session:
        return {v.device.device_id: v for v in health.device_views(session, now=now, config=config)}


# --- parsing (pure) ------------------------------------------------------------


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "not JSON"),
    (b"[1]", "not a JSON object"),
    (health_fields(T0, outbox_depth=-1), "schema: outbox_depth"),
    (health_fields(T0, extra=1), "schema: extra"),
    ({k: v for k, v in health_fields(T0).items() if k != "ts"}, "schema: ts: Field required"),
    (health_fields(T0.replace(tzinfo=None)), "schema: ts"),
    (b'{"ts": "2026-11-23T04:00:00+00:00", "uptime_s": NaN, "outbox_depth": 0, "gallery_version": 1, '
     b'"sw_version": "x"}', "not JSON: NaN or Infinity is not a number"),
    (health_fields(T0, outbox_depth=2**63), "schema: outbox_depth: too large"),
    (health_fields(T0, sw_version="v" * 65), "schema: sw_version: longer than 64"),
    (b'{"ts": "9999-12-31T23:59:00-05:00", "uptime_s": 1, "outbox_depth": 0, "gallery_version": 1, '
     b'"sw_version": "x"}', "schema: ts: out of range"),
])
def test_a_bad_health_message_is_a_bad_report_saying_why(payload, reason):
    report = health.parse_report(message("kiosk-01", topics.HEALTH, payload, T0), max_bytes=65536)
    assert isinstance(report, health.BadReport) and report.device_id == "kiosk-01"
    assert report.reason.startswith(reason), report.reason


def test_health_skew_is_device_time_minus_receive_time_whatever_the_offset():
    report = health.parse_report(message("kiosk-01", topics.HEALTH, health_fields((T0 + timedelta(seconds=95))
                                                                                  .astimezone(IST)), T0),
                                 max_bytes=65536)
    assert isinstance(report, health.HealthReport) and report.skew_s == 95.0
    a_pi_without_rtc = health_fields(datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc))
    report = health.parse_report(message("kiosk-01", topics.HEALTH, a_pi_without_rtc, T0), max_bytes=65536)
    assert isinstance(report, health.HealthReport) and report.skew_s < -1.7e9


def test_status_parsing_and_topics_it_refuses():
    report = health.parse_report(message("kiosk-01", topics.STATUS, {"state": "online", "sw_version": "0.1.0"}, T0),
                                 retained=True, max_bytes=65536)
    assert isinstance(report, health.StatusReport) and report.status.state == "online" and report.retained
    bad = health.parse_report(message("kiosk-01", topics.STATUS, {"state": "sleeping"}, T0), max_bytes=65536)
    assert isinstance(bad, health.BadReport) and bad.reason.startswith("schema: state")
    odd = health.parse_report(ReceivedMessage("att/v1/dev/#bad/health", b"{}", T0), max_bytes=65536)
    assert odd == health.BadReport(None, health.NOT_A_DEVICE_TOPIC)


def test_status_is_a_plain_subscription_and_health_may_be_shared():
    assert health.subscriptions("hub") == [("att/v1/dev/+/status", 1), ("$share/hub/att/v1/dev/+/health", 0)]


# --- the registry in the database (SQLite and PostgreSQL) ----------------------


@pytest.fixture
def sessions(any_engine):
    factory = make_session_factory(any_engine)
    with factory() as session:
        seed(session)
    return factory


def test_birth_then_health_then_last_will(sessions):
    assert row(sessions, "kiosk-01") is None
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "online", "sw_version": "0.1.0"}, T0), False))
    first = row(sessions, "kiosk-01")
    assert (first.status, first.status_at, first.last_seen_at, first.telemetry) == ("online", T0, T0, None)

    t1 = T0 + timedelta(seconds=60)
    assert record(sessions, (message("kiosk-01", topics.HEALTH, health_fields(t1 + timedelta(seconds=2)), t1),
                             False)) == ["health"]
    seen = row(sessions, "kiosk-01")
    assert (seen.last_seen_at, seen.health_at, seen.clock_skew_s, seen.sw_version) == (t1, t1, 2.0, "0.1.0")
    telemetry = json.loads(seen.telemetry)
    assert telemetry["outbox_depth"] == 3 and telemetry["clock_skew_s"] == 2.0
    assert telemetry["received_at"] == t1.isoformat()

    t2 = t1 + timedelta(seconds=30)
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "offline"}, t2), False))
    gone = row(sessions, "kiosk-01")
    assert (gone.status, gone.status_at) == ("offline", t2)
    assert gone.last_seen_at == t1, "the last will is the broker speaking, not the kiosk"


def test_state_online_stale_offline_is_judged_at_an_injected_now(sessions):
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "online"}, T0), False),
           (message("kiosk-01", topics.HEALTH, health_fields(T0), T0), False))
    views = {t: {d: v.state for d, v in states(sessions, T0 + timedelta(seconds=t)).items()} for t in (0, 180, 181)}
    assert views[0] == {"kiosk-01": "online", "kiosk-02": "never seen"}
    assert views[180]["kiosk-01"] == "online"
    assert views[181]["kiosk-01"] == "stale", "no health for longer than health.stale_after_s"
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "offline"}, T0 + timedelta(seconds=5)), False))
    assert states(sessions, T0 + timedelta(seconds=10))["kiosk-01"].state == "offline"


def test_a_retained_status_replayed_on_subscribe_is_not_a_sign_of_life(sessions):
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "online"}, T0), True))
    replayed = row(sessions, "kiosk-01")
    assert (replayed.status, replayed.last_seen_at) == ("online", None)
    assert states(sessions, T0)["kiosk-01"].state == "stale", "says online, but not heard since the hub started"


def test_skew_is_the_latest_samples_and_marks_the_clock_suspect_either_way_at_once(sessions):
    for i, skew in enumerate([2.0, -3604.0, 86400.0, 1.0]):  # in step, an hour behind, a day ahead, in step
        at = T0 + timedelta(seconds=60 * i)
        record(sessions, (message("kiosk-01", topics.HEALTH, health_fields(at + timedelta(seconds=skew)), at), False))
        assert row(sessions, "kiosk-01").clock_skew_s == skew
        assert states(sessions, at)["kiosk-01"].clock_suspect == (abs(skew) > CONFIG.max_clock_skew_s)
    late = T0 - timedelta(minutes=5)  # a sample that arrives after a newer one does not replace it
    record(sessions, (message("kiosk-01", topics.HEALTH, health_fields(late - timedelta(hours=2)), late), False))
    assert row(sessions, "kiosk-01").clock_skew_s == 1.0


def test_bad_and_unknown_reports_are_kept_with_their_reason_and_noted_on_the_kiosk(sessions):
    results = record(
        sessions,
        (message("kiosk-01", topics.HEALTH, b"{oops", T0), False),
        (message("kiosk-09", topics.HEALTH, health_fields(T0), T0), False),
        (message("kiosk-01", topics.HEALTH, health_fields(T0), T0 + timedelta(seconds=1)), False),
    )
    assert results == ["rejected", "rejected", "health"]
    with sessions() as session:
        rejected = [(r.device_id, r.reason[:8], r.punch_id) for r in session.scalars(select(RejectedMessage)
                                                                                      .order_by(RejectedMessage.id))]
    assert rejected == [("kiosk-01", "not JSON", None), ("kiosk-09", "unknown ", None)]
    kept = row(sessions, "kiosk-01")
    assert kept.error.startswith("not JSON") and kept.error_at == T0 and kept.health_at == T0 + timedelta(seconds=1)
    assert row(sessions, "kiosk-09") is None


def test_history_is_pruned_by_age_and_by_count(sessions):
    for day in range(9):  # one old sample a day
        at = T0 + timedelta(days=day)
        record(sessions, (message("kiosk-02", topics.HEALTH, health_fields(at), at), False))
    with sessions() as session:
        kept = sorted(session.scalars(select(DeviceHealthSample.received_at)))
    assert kept == [T0 + timedelta(days=d) for d in range(1, 9)], "samples older than history_days go"
    last = T0 + timedelta(days=8)
    for i in range(1, 15):
        at = last + timedelta(minutes=i)
        record(sessions, (message("kiosk-02", topics.HEALTH, health_fields(at), at), False))
    with sessions() as session:
        kept = [s.received_at for s in health.health_history(session, "kiosk-02", limit=100)]
    assert kept == [last + timedelta(minutes=i) for i in range(14, 4, -1)], "at most history_max_samples, newest"
    assert json.loads(row(sessions, "kiosk-02").telemetry)["received_at"] == kept[0].isoformat()


def test_phone_kiosk_status_reads_the_registry(sessions):
    record(sessions, (message("kiosk-01", topics.STATUS, {"state": "offline"}, T0), False))
    with sessions() as session:
        registry.retire_device(session, "kiosk-02", T0)
        session.commit()
        assert health.site_kiosk_status(session, SITE) == [("offline", None)]


# --- the API -------------------------------------------------------------------


@pytest.fixture
def api(tmp_path, any_engine):
    hub = HubApi(tmp_path, any_engine, health=CONFIG.model_dump())
    with hub.sessions() as session:
        seed(session)
    yield hub
    hub.close()


def test_device_list_shows_state_telemetry_skew_and_gallery(api):
    record(api.sessions, (message("kiosk-01", topics.STATUS, {"state": "online"}, T0), False),
           (message("kiosk-01", topics.HEALTH, health_fields(T0 + timedelta(seconds=300)), T0), False))
    api.app.state.clock = lambda: T0 + timedelta(seconds=60)
    items = {d["device_id"]: d for d in api.machine.get("/api/v1/devices").json()["items"]}
    one, two = items["kiosk-01"], items["kiosk-02"]
    assert (one["state"], one["status"], one["clock_skew_s"], one["clock_suspect"]) == ("online", "online", 300.0, True)
    assert datetime.fromisoformat(one["last_seen"]) == T0
    assert one["telemetry"]["outbox_depth"] == 3 and one["telemetry"]["camera_fps"] == 14.8
    assert datetime.fromisoformat(one["telemetry"]["ts"]) == T0 + timedelta(seconds=300)
    assert (one["gallery_version"], one["site_gallery_version"], one["gallery_behind"]) == (None, 0, True)
    assert (two["state"], two["telemetry"], two["clock_skew_s"], two["clock_suspect"]) == ("never seen", None, None,
                                                                                          False)
    api.app.state.clock = lambda: T0 + timedelta(seconds=181)
    assert api.machine.get("/api/v1/devices").json()["items"][0]["state"] == "stale"


def test_one_kiosks_recent_health_newest_first(api):
    for i in range(5):
        at = T0 + timedelta(minutes=i)
        record(api.sessions, (message("kiosk-01", topics.HEALTH, health_fields(at, outbox_depth=i), at), False))
    api.app.state.clock = lambda: T0 + timedelta(minutes=4)
    body = api.machine.get("/api/v1/devices/kiosk-01/health", params={"limit": 3}).json()
    assert (body["device_id"], body["state"], body["clock_skew_s"]) == ("kiosk-01", "online", 0.0)
    assert [s["outbox_depth"] for s in body["items"]] == [4, 3, 2]
    since = (T0 + timedelta(minutes=3)).isoformat()
    assert [s["outbox_depth"] for s in api.machine.get("/api/v1/devices/kiosk-01/health",
                                                        params={"since": since}).json()["items"]] == [4, 3]
    assert api.machine.get("/api/v1/devices/kiosk-02/health").json()["items"] == []
    assert api.machine.get("/api/v1/devices/nope/health").status_code == 404
    naive = api.machine.get("/api/v1/devices/kiosk-01/health", params={"since": "2026-11-23T04:00:00"})
    assert naive.status_code == 422 and "UTC offset" in naive.json()["detail"]


# --- through the broker: the real ingest worker and a kiosk process ------------


KIOSK_PROCESS = r"""
import json, sys
import paho.mqtt.client as mqtt
from protocol import topics
port, device_id, plan = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-" + device_id, protocol=mqtt.MQTTv5)
client.will_set(topics.device_topic(device_id, topics.STATUS), json.dumps({"state": "offline"}), qos=1, retain=True)
client.connect("127.0.0.1", port, keepalive=60)
client.loop_start()
for kind, payload, qos, retain in plan:
    client.publish(topics.device_topic(device_id, kind), payload, qos=qos, retain=retain).wait_for_publish(10)
print("ready", flush=True)
sys.stdin.read()  # until killed
"""


class IngestHub:
    def __init__(self, tmp_path: Path, port: int) -> None:
        token = tmp_path / "admin.token"
        token.write_text(secrets.token_urlsafe(32))
        self.engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}", busy_timeout_ms=50)
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.config = HubConfig.model_validate({
            "database_url": str(self.engine.url), "admin_token_file": str(token),
            "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"hub-test-{secrets.token_hex(4)}",
                     "shared_group": "hub"},
            "ingest": {"retry_initial_s": 0.05, "retry_max_s": 0.2}, "health": {"max_clock_skew_s": 120},
        })
        with self.sessions() as session:
            seed(session)
            session.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
            session.commit()
        self.worker = IngestWorker(self.config, self.sessions)

    def start(self) -> "IngestHub":
        self.worker.start()
        assert self.worker.ready.wait(20), "ingest worker did not subscribe"
        return self

    def health(self, device_id: str) -> DeviceHealth | None:
        return row(self.sessions, device_id)

    def close(self) -> None:
        self.worker.stop()
        self.engine.dispose()


@pytest.fixture
def ingest(tmp_path, broker):
    hub = IngestHub(tmp_path, broker.port)
    yield hub
    hub.close()


def kiosk_process(port: int, device_id: str, plan: list) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", KIOSK_PROCESS, str(port), device_id, json.dumps(plan)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", "the kiosk process did not publish"
    return proc


def health_json(ahead_s: float = 0.0, **over) -> str:
    return json.dumps(health_fields(datetime.now(timezone.utc) + timedelta(seconds=ahead_s), **over))


@pytest.mark.broker
def test_a_killed_kiosk_goes_offline_by_its_last_will(ingest, broker):
    ingest.start()
    proc = kiosk_process(broker.port, "kiosk-01", [
        (topics.STATUS, json.dumps({"state": "online", "sw_version": "0.1.0"}), 1, True),
        (topics.HEALTH, health_json(outbox_depth=5), 0, False),
    ])
    try:
        assert wait_until(lambda: (h := ingest.health("kiosk-01")) is not None and h.telemetry is not None)
        alive = ingest.health("kiosk-01")
        assert alive.status == "online" and json.loads(alive.telemetry)["outbox_depth"] == 5
        assert abs(alive.clock_skew_s) < 30
        assert states(ingest.sessions, datetime.now(timezone.utc), ingest.config.health)["kiosk-01"].state == "online"
    finally:
        proc.kill()  # SIGKILL: no DISCONNECT is sent, the broker publishes the will
        proc.wait()
    assert wait_until(lambda: ingest.health("kiosk-01").status == "offline"), "the last will did not arrive"
    dead = ingest.health("kiosk-01")
    assert dead.last_seen_at == alive.last_seen_at
    assert ingest.worker.stats["status"] >= 2 and ingest.worker.stats["health"] == 1


@pytest.mark.broker
def test_a_worker_starting_later_takes_the_retained_status(ingest, broker):
    proc = kiosk_process(broker.port, "kiosk-02", [(topics.STATUS, json.dumps({"state": "online"}), 1, True)])
    try:
        ingest.start()
        assert wait_until(lambda: (h := ingest.health("kiosk-02")) is not None and h.status == "online")
        assert ingest.health("kiosk-02").last_seen_at is None, "a retained copy is not a sign of life"
    finally:
        proc.kill()
        proc.wait()
    assert wait_until(lambda: ingest.health("kiosk-02").status == "offline")


@pytest.mark.broker
def test_bad_health_is_rejected_with_reason_and_the_worker_goes_on(ingest, broker):
    ingest.start()
    with KioskLink(broker.port, "kiosk-01") as kiosk:
        for payload in (b"\xff\xfe", b'{"ts": "yesterday"}', health_json(outbox_depth=-4).encode()):
            kiosk.publish(topics.HEALTH, payload)
        kiosk.publish(topics.HEALTH, health_json(outbox_depth=9).encode())
        assert wait_until(lambda: (h := ingest.health("kiosk-01")) is not None and h.telemetry is not None)
    with ingest.sessions() as session:
        reasons = [r.reason for r in session.scalars(select(RejectedMessage).order_by(RejectedMessage.id))]
        samples = session.scalar(select(func.count()).select_from(DeviceHealthSample))
    assert [r.split(":")[0] for r in reasons] == ["not JSON", "schema", "schema"], reasons
    assert [r.split(":")[1].strip() for r in reasons[1:]] == ["ts", "outbox_depth"], reasons
    assert samples == 1 and json.loads(ingest.health("kiosk-01").telemetry)["outbox_depth"] == 9
    assert ingest.worker.is_alive() and ingest.worker.stats["device_reports_rejected"] == 3


@pytest.mark.broker
def test_punches_from_a_kiosk_with_a_skewed_clock_are_flagged(ingest, broker):
    ingest.start()
    with KioskLink(broker.port, "kiosk-01") as kiosk:
        kiosk.publish(topics.HEALTH, health_json(ahead_s=-900).encode())  # the kiosk clock is 15 min behind
        kiosk.publish(topics.HEALTH, health_json().encode(), device_id="kiosk-02")
        assert wait_until(lambda: all((h := ingest.health(d)) is not None and h.clock_skew_s is not None
                                      for d in KEYS))
        assert -930 < ingest.health("kiosk-01").clock_skew_s < -870
        punches = {d: signed_punch(KEYS[d], d, SITE, "E1") for d in KEYS}
        for device_id, punch in punches.items():
            kiosk.publish(topics.PUNCH, to_payload(punch), device_id=device_id)
        assert kiosk.wait_for(lambda k: k.acked_ids() == [punches["kiosk-01"]["id"]]), kiosk.received
        assert wait_until(lambda: punch_count(ingest.sessions) == 2)
    with ingest.sessions() as session:
        flags = {p.device_id: p.flags for p in session.scalars(select(PunchRecord))}
    assert flags == {"kiosk-01": "clock_skew", "kiosk-02": None}


def punch_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(PunchRecord))


def test_health_model_fields_are_all_stored():
    """A field added to protocol.messages.Health must get a column and a place in the API."""
    assert set(messages.Health.model_fields) | {"received_at", "clock_skew_s"} == set(health.SAMPLE_FIELDS)


def test_what_a_kiosk_healed_is_stored_per_sample_and_shown_with_its_telemetry(api):
    heal = [{"fault": "link_down", "action": "renew_link", "detail": "broker unreachable for 300 s: made a fresh "
             "MQTT client; reconnected after 412 s down and 9 connection attempts", "since": T0.isoformat(),
             "at": T0.isoformat(), "count": 1, "recovered": True}]
    record(api.sessions, (message("kiosk-01", topics.HEALTH, health_fields(T0, heal=heal), T0), False),
           (message("kiosk-02", topics.HEALTH, health_fields(T0), T0), False))   # a kiosk from before: no heal
    api.app.state.clock = lambda: T0 + timedelta(seconds=30)
    items = {d["device_id"]: d for d in api.machine.get("/api/v1/devices").json()["items"]}
    [shown] = items["kiosk-01"]["telemetry"]["heal"]
    assert (shown["fault"], shown["action"], shown["count"], shown["recovered"]) == ("link_down", "renew_link", 1, True)
    assert items["kiosk-02"]["telemetry"]["heal"] == []
    [sample] = api.machine.get("/api/v1/devices/kiosk-01/health").json()["items"]
    assert sample["heal"][0]["detail"].endswith("9 connection attempts")
