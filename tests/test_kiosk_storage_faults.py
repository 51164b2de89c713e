"""Storage faults on the kiosk (issue 21): a full disk and a damaged outbox, end to end.

The kiosk is the real ``KioskApp`` (outbox, link, housekeeping, gpiozero
indicators on MockFactory pins) without a camera: accepted decisions go
through ``KioskApp.punch``, the same path a recognised face takes. The hub
is a real `hub ingest` on SQLite, the broker a real Mosquitto. A full disk
is a real one: a small tmpfs mounted for the test (root only; skipped
otherwise). A damaged outbox is a real outbox of signed punches, harmed on
disk while the kiosk is stopped.
"""

import re
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory

from biometrics.encoder import FaceEncoder
from hardware.indicators import Indicators, IndicatorsConfig
from hardware.replay import ReplayCamera
from kiosk.alarms import Alarms
from kiosk.app import OUTBOX_FILE, KioskApp
from kiosk.config import KioskConfig
from kiosk.decision import Outcome, PunchDecision
from kiosk.liveness import LivenessState
from protocol import messages, signing, topics
from tests.diskfaults import cut_in_half, cut_tail, damaged_header, damaged_page, fill, small_tmpfs, zero_length
from tests.faultkit import EMPLOYEES, SITE, HubIngest, wait_until

pytestmark = pytest.mark.broker

DEVICE = "kiosk-storage"
IST = ZoneInfo("Asia/Kolkata")
PINS = IndicatorsConfig()   # green 17, red 27, buzzer 22


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path, broker):
    hub = HubIngest(tmp_path / "hub", broker.port)
    yield hub
    hub.stop()


@pytest.fixture
def key_file(tmp_path, hub) -> Path:
    path = tmp_path / "device.key"
    key = signing.generate_private_key()
    signing.write_private_key(key, path)
    hub.register(DEVICE, signing.public_key_b64(key))
    return path


@pytest.fixture
def small_fs(tmp_path):
    """A 3 MB tmpfs: a disk that really fills up."""
    with small_tmpfs(tmp_path / "small-fs", "3m") as where:
        yield where


def start_hub(hub: HubIngest) -> None:
    """Start `hub ingest` and wait until it listens: the broker drops a punch nobody subscribes to yet."""
    hub.start()
    wait_until(lambda: "mqtt connected" in hub.log_text(), 30, "the hub's ingest to connect")
    threading.Event().wait(1.0)                 # its subscriptions follow the connection; no event tells


def kiosk_config(state_dir: Path, key_file: Path, port: int, **over) -> KioskConfig:
    return KioskConfig(
        device_id=DEVICE, site_id=SITE, state_dir=state_dir, signing_key_file=key_file,
        mqtt={"host": "127.0.0.1", "port": port, "reconnect_max_s": 1, "ack_timeout_s": over.pop("ack_s", 30)},
        liveness={"mode": "off"}, health_interval_s=0.5, clock={"require_sync": False}, **over,
    )


class Kiosk:
    """A KioskApp without frames, with MockFactory indicators whose pins record every change."""

    def __init__(self, config: KioskConfig, encoder: FaceEncoder) -> None:
        self.pins = MockFactory()
        self.app = KioskApp(config, ReplayCamera(config.state_dir), Indicators(PINS, pin_factory=self.pins),
                            encoder=encoder)

    def start(self) -> "Kiosk":
        self.app.start()
        assert self.app.link.connected.wait(30), "the kiosk did not connect"
        return self

    def punch(self, employee_id: str) -> Outcome:
        decision = PunchDecision(employee_id, 0.3, 0.1, LivenessState(True, 0.0, None, "off"))
        accepted = Outcome("accepted", employee_id=employee_id, punch=decision)
        return self.app.punch(accepted, self.app.clocks.wall_at(IST), self.app.clocks.monotonic())

    def lit(self, pin: int) -> list[bool]:
        return [s.state for s in self.pins.pin(pin).states]

    def clear_pins(self) -> None:
        for pin in (PINS.green_pin, PINS.red_pin, PINS.buzzer_pin):
            self.pins.pin(pin).clear_states()

    def running(self) -> bool:
        """The threads that must never end: housekeeping, the network loop and the punch sender
        (the gallery-key thread ends by design once the hub has sent the key)."""
        link = [t for t in self.app.link._threads if t.name.startswith(("mqtt-network", "mqtt-sender"))]
        return len(link) == 2 and all(t.is_alive() for t in (self.app._housekeeper, *link))

    def close(self) -> dict:
        return self.app.close()


@pytest.fixture(scope="module")
def encoder() -> FaceEncoder:
    return FaceEncoder()


class HealthWatch:
    """The kiosk's health messages as the hub receives them."""

    def __init__(self, port: int) -> None:
        self.seen: list[messages.Health] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="health-watch")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_connect(self, client, _u, _f, _rc, _p) -> None:
        client.subscribe(topics.device_topic(DEVICE, topics.HEALTH))

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.seen.append(messages.parse(messages.Health, msg.payload))

    def latest(self) -> messages.Health | None:
        with self._lock:
            return self.seen[-1] if self.seen else None

    def alarm(self, kind: str) -> messages.DeviceAlarm | None:
        """The latest health's alarm of ``kind``; for storage, the outbox's (the gallery cache has its own)."""
        latest = self.latest()
        alarms = [a for a in latest.alarms if a.kind == kind] if latest else []
        return next((a for a in alarms if "gallery" not in a.detail), None)

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def health(broker):
    watch = HealthWatch(broker.port)
    yield watch
    watch.stop()


def truncate_wal(state_dir: Path) -> None:
    """Fold the kiosk's WAL into its database and cut it to nothing: its next write must grow the file."""
    db = sqlite3.connect(state_dir / OUTBOX_FILE)
    try:
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    finally:
        db.close()


def assert_once(seqs: list[int]) -> None:
    assert len(seqs) == len(set(seqs)), f"stored twice: {sorted(s for s in seqs if seqs.count(s) > 1)}"


# -- a full disk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", [{"min_free_mb": 0.5, "reserve_mb": 0.25}, {"min_free_mb": 0, "reserve_mb": 0}],
                         ids=["min-free-refuses-first", "no-reserve"])
def test_a_full_disk_refuses_the_punch_visibly_keeps_running_and_recovers(
        small_fs, hub, key_file, broker, health, encoder, storage):
    start_hub(hub)
    k = Kiosk(kiosk_config(small_fs / "state", key_file, broker.port, storage=storage), encoder).start()
    try:
        assert k.punch(EMPLOYEES[1]).state == "accepted"
        wait_until(lambda: k.app.outbox.depth() == 0, 30, "the first punch to be acked")

        filler = fill(small_fs)
        k.app.feedback.wait_idle(5)
        k.clear_pins()
        refused = k.punch(EMPLOYEES[2])
        assert refused.state == "refused" and refused.reason == "cannot_save"
        assert refused.prompt[0] == "Cannot save: please use the register / tell the office"
        assert k.app.feedback.wait_idle(10)
        assert True not in k.lit(PINS.green_pin)                     # never green
        assert k.lit(PINS.red_pin).count(True) == PINS.fault_pulses   # red and buzzer pulse together
        assert k.lit(PINS.buzzer_pin).count(True) == PINS.fault_pulses
        assert k.app.summary()["cannot_save"] == 1

        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is not None, 20, "a storage alarm")
        wait_until(lambda: messages.ALARM_STORAGE_ERROR in hub.alarm_kinds(DEVICE), 20, "the alarm at the hub")
        detail = health.alarm(messages.ALARM_STORAGE_ERROR).detail
        assert "storing a punch failed" in detail and "free space" in detail
        assert k.running() and k.app.link.stats["connects"] == 1

        filler.unlink()
        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is None, 20, "the alarm to clear")
        again = k.punch(EMPLOYEES[2])                 # the same person again: not "already punched"
        assert again.state == "accepted"
        wait_until(lambda: len(hub.seqs(DEVICE)) == 2 and k.app.outbox.depth() == 0, 30, "the second punch")
        assert sorted(hub.seqs(DEVICE)) == [1, 2]
        assert k.running()
    finally:
        k.close()


def test_failing_marks_neither_resend_every_second_nor_flap_the_link(small_fs, hub, key_file, broker, health,
                                                                     encoder):
    """Every publish marks its row, every reconnect resets the unacked rows, every ack deletes: on a
    full disk all three fail, and the punch must still go at its ack timeout, not every second."""
    config = kiosk_config(small_fs / "state", key_file, broker.port, ack_s=4,
                          storage={"min_free_mb": 0, "reserve_mb": 0})
    k = Kiosk(config, encoder).start()            # the hub's ingest is not running yet: no ack
    try:
        k.punch(EMPLOYEES[3])
        wait_until(lambda: k.app.outbox.in_flight(4) == 1, 20, "the punch to be published and marked")
        truncate_wal(config.state_dir)
        filler = fill(small_fs)
        broker.kill()                             # the session is lost: the reconnect resets unacked rows
        broker.start()
        wait_until(lambda: k.app.link.stats["connects"] == 2 and k.app.link.connected.is_set(), 30, "a reconnect")
        start_hub(hub)
        wait_until(lambda: len(hub.seqs(DEVICE)) == 1, 30, "the hub to store the punch")
        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is not None, 20, "a storage alarm")
        published = k.app.link.stats["punches_published"]
        threading.Event().wait(9)                 # two ack timeouts on a disk that refuses every write
        resent = k.app.link.stats["punches_published"] - published
        assert 1 <= resent <= 3, f"{resent} publishes in 9 s with a 4 s ack timeout"
        assert k.app.link.stats["connects"] == 2 and k.running()
        assert k.app.outbox.depth() == 1          # acked, but the delete cannot be written

        filler.unlink()
        wait_until(lambda: k.app.outbox.depth() == 0, 30, "a resend's ack to delete the row")
        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is None, 20, "the alarm to clear")
        assert hub.seqs(DEVICE) == [1]
    finally:
        k.close()


def test_a_kiosk_started_on_a_full_disk_runs_refuses_and_reports(small_fs, hub, key_file, broker, health, encoder):
    """Start-up opens the outbox (SQLite needs room for its WAL index) and prunes old repeat-punch rows:
    on a full disk it gives back its space reserve instead of exiting into a restart loop."""
    config = kiosk_config(small_fs / "state", key_file, broker.port, storage={"min_free_mb": 0.5, "reserve_mb": 0.25},
                          recognition={"repunch_suppress_s": 1})
    start_hub(hub)
    first = Kiosk(config, encoder).start()
    assert first.punch(EMPLOYEES[4]).state == "accepted"
    wait_until(lambda: first.app.outbox.depth() == 0, 30, "the punch to be acked")
    first.close()
    assert (config.state_dir / "reserve.bin").exists()
    filler = fill(small_fs)
    threading.Event().wait(1.5)                   # the repeat-punch row is now old: start-up deletes it

    k = Kiosk(config, encoder).start()
    try:
        assert not (config.state_dir / "reserve.bin").exists()
        refused = k.punch(EMPLOYEES[5])
        assert refused.reason == "cannot_save" and k.app.feedback.wait_idle(10)
        assert True not in k.lit(PINS.green_pin)
        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is not None, 20, "a storage alarm")
        assert "disk nearly full" in health.alarm(messages.ALARM_STORAGE_ERROR).detail

        filler.unlink()
        wait_until(lambda: health.alarm(messages.ALARM_STORAGE_ERROR) is None, 20, "the alarm to clear")
        assert (config.state_dir / "reserve.bin").exists()      # made again
        assert k.punch(EMPLOYEES[5]).state == "accepted"
        wait_until(lambda: sorted(hub.seqs(DEVICE)) == [1, 2], 30, "the punch after the disk was freed")
        assert k.running() and k.app.link.stats["connects"] == 1
    finally:
        k.close()


# -- a damaged outbox -------------------------------------------------------------------------------


@pytest.mark.parametrize("harm", [zero_length, damaged_header, damaged_page, cut_in_half, cut_tail])
def test_a_damaged_outbox_is_kept_aside_salvaged_once_and_seq_goes_on(tmp_path, hub, key_file, broker, health,
                                                                       encoder, harm):
    state = tmp_path / "state"
    config = kiosk_config(state, key_file, broker.port)
    start_hub(hub)
    online = Kiosk(config, encoder).start()
    for i in range(10):
        online.punch(EMPLOYEES[i % len(EMPLOYEES)])
    wait_until(lambda: online.app.outbox.depth() == 0, 30, "the first ten punches to be acked")
    online.close()
    offline = Kiosk(config, encoder)              # not started: no link
    offline.app.feedback.open()
    for i in range(40):                           # 40 punches the hub has not seen (seq 11..50)
        assert offline.punch(EMPLOYEES[i % len(EMPLOYEES)]).state == "accepted"
    offline.app.feedback.close()
    offline.app.outbox.close()

    harm(state / OUTBOX_FILE)
    k = Kiosk(config, encoder).start()
    try:
        report = k.app.alarms.active()
        assert [a.kind for a in report] == [messages.ALARM_OUTBOX_RECOVERED], report
        # The kiosk is online already and may have delivered some of them: the alarm says what was salvaged.
        found = re.search(r"salvaged (\d+) unacked punches", report[0].detail)
        assert found, report[0].detail
        salvaged = int(found.group(1))
        assert salvaged <= 40 and k.app.outbox.depth() <= salvaged
        assert "seq continues at 51" in report[0].detail
        assert harm is not damaged_header or salvaged == 40   # pages behind a broken header are intact
        assert len(list(state.glob("outbox.sqlite.damaged-*"))) == 1

        wait_until(lambda: k.app.outbox.depth() == 0, 30, "the salvaged punches to be acked")
        new = k.punch(EMPLOYEES[0])
        assert new.state == "accepted"
        wait_until(lambda: 51 in hub.seqs(DEVICE), 30, "the new punch")
        seqs = hub.seqs(DEVICE)
        assert_once(seqs)
        assert len(seqs) == 10 + salvaged + 1
        assert max(seqs) == 51 and set(range(1, 11)) <= set(seqs) <= set(range(1, 52))
        wait_until(lambda: health.alarm(messages.ALARM_OUTBOX_RECOVERED) is not None, 20, "the alarm in health")
        wait_until(lambda: messages.ALARM_OUTBOX_RECOVERED in hub.alarm_kinds(DEVICE), 20, "the alarm at the hub")
        lost = salvaged < 40                          # what could not be read leaves a gap the hub flags
        assert ("seq_gap" in (hub.flags(DEVICE)[51] or "")) == lost and "seq_reused" not in str(hub.flags(DEVICE))
        assert k.app.link.stats["punches_published"] <= salvaged + 1 + 2    # no resend loop
        assert k.app.link.stats["connects"] == 1 and k.running()
    finally:
        k.close()


# -- seq from the hub, threads that must not die, the last exit ----------------------------------------


def test_the_hubs_ack_seq_keeps_a_kiosk_that_lost_everything_from_reusing_a_seq(tmp_path, key_file, broker,
                                                                                 encoder):
    """Outbox and seq mark both gone: the first ack carrying ``seq`` (the hub's highest from this device)
    lifts the counter, as the hub does once it fills ``Ack.seq``."""
    k = Kiosk(kiosk_config(tmp_path / "state", key_file, broker.port), encoder).start()
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hub-acks")
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    try:
        ack = messages.Ack(ids=[], seq=77, hub_ts=datetime.now(IST))
        hub.publish(topics.device_topic(DEVICE, topics.ACK), ack.to_json(), qos=1).wait_for_publish(10)
        wait_until(lambda: k.app.outbox.next_seq() == 78, 20, "the hub's seq to reach the outbox")
        assert (tmp_path / "state" / "outbox.seq").read_text() == "77\n"
        assert k.punch(EMPLOYEES[0]).state == "accepted"
        assert k.app.outbox.due(10, 0)[0].seq == 78
    finally:
        hub.loop_stop()
        hub.disconnect()
        k.close()


class FlakyCamera(ReplayCamera):
    """A camera whose frame-rate reading fails once, as a driver hiccup would."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures = 1

    @property
    def camera_fps(self) -> float:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("V4L2 query failed")
        return 10.0


def test_housekeeping_survives_an_error_and_reports_it(tmp_path, key_file, broker, health, encoder):
    config = kiosk_config(tmp_path / "state", key_file, broker.port)
    app = KioskApp(config, FlakyCamera(tmp_path), encoder=encoder)
    app.start()
    try:
        wait_until(lambda: health.alarm(messages.ALARM_THREAD_ERROR) is not None, 30, "a thread_error alarm")
        detail = health.alarm(messages.ALARM_THREAD_ERROR).detail
        assert detail == "housekeeping: RuntimeError: V4L2 query failed"
        assert app._housekeeper.is_alive()
        count = len(health.seen)
        wait_until(lambda: len(health.seen) > count + 2, 30, "health to go on")
    finally:
        app.close()


def test_the_error_that_ended_a_run_is_a_last_exit_alarm_in_the_next(tmp_path, key_file, broker, encoder, capsys):
    from kiosk.cli import main

    empty = tmp_path / "no-frames"
    empty.mkdir()
    config = kiosk_config(tmp_path / "state", key_file, broker.port)
    path = tmp_path / "kiosk.yaml"
    path.write_text(config.model_copy(update={"camera": config.camera.model_copy(
        update={"kind": "replay", "path": empty})}).model_dump_json())
    assert main(["run", "--config", str(path)]) == 1
    assert "holds no images" in capsys.readouterr().err

    app = KioskApp(config, ReplayCamera(empty), encoder=encoder)
    try:
        alarms = app.health().alarms
        assert [a.kind for a in alarms] == [messages.ALARM_LAST_EXIT]
        assert alarms[0].detail.startswith("previous run ended with CameraError: replay folder")
        assert not (config.state_dir / "last_exit.json").exists()       # reported once, not every run
    finally:
        app.outbox.close()


def test_kiosk_run_names_an_unusable_state_directory(tmp_path, key_file, broker, capsys):
    from kiosk.cli import main

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    config = kiosk_config(blocker / "state", key_file, broker.port, camera={"kind": "replay", "path": tmp_path})
    path = tmp_path / "kiosk.yaml"
    path.write_text(config.model_dump_json())
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kiosk: the state directory cannot be used: creating the state directory")
    assert "NotADirectoryError" in err and "free space" in err


def test_alarms_keep_their_first_time_and_end_after_their_hold():
    now = [100.0]
    alarms = Alarms(monotonic=lambda: now[0])
    alarms.raise_alarm(messages.ALARM_THREAD_ERROR, "sender: first", source="sender", hold_s=60)
    first = alarms.active()[0].since
    now[0] += 30
    alarms.raise_alarm(messages.ALARM_THREAD_ERROR, "sender: again", source="sender", hold_s=60)
    alarms.raise_alarm(messages.ALARM_THREAD_ERROR, "housekeeping: x", source="housekeeping", hold_s=10)
    assert [(a.detail, a.since == first) for a in alarms.active()][0] == ("sender: again", True)
    now[0] += 20                                  # housekeeping's hold is over, the sender's is not
    assert [a.detail for a in alarms.active()] == ["sender: again"]
    now[0] += 60
    assert alarms.active() == []
    alarms.raise_alarm(messages.ALARM_OUTBOX_RECOVERED, "x" * 900)           # no hold: until cleared
    assert len(alarms.active()[0].detail) == 500
    alarms.clear(messages.ALARM_OUTBOX_RECOVERED)
    assert alarms.active() == []
