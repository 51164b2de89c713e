"""A kiosk that heals itself (issue 18 part 3): a camera that stops, a full disk, a clock off, a broker down for long.

Pure decisions first (kiosk/selfheal.py), then the healer with the real
clock monitor and log spill, then end to end: the real ``KioskApp`` (outbox,
link, housekeeping, frame loop) against a real `hub ingest` and a real
Mosquitto; the camera is the file replay behind ``FaultyCamera`` and the
newest-frame grabber (the live cameras' path); the full disk is a real
small tmpfs (tests/diskfaults.py); the broker is killed and started again.
Each fault must be cured by the kiosk alone, reported in ``Health.heal`` as
the hub stores it, and no punch may be lost.
"""

import json
import logging
import os
import sqlite3
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hardware.faulty_camera import FaultyCamera
from hardware.latest_frame import LatestFrameGrabber
from hardware.replay import ReplayCamera
from kiosk.app import KioskApp, RunOptions
from kiosk.clock import ClockConfig, ClockMonitor
from kiosk.decision import Outcome, PunchDecision
from kiosk.healer import Healer
from kiosk.liveness import LivenessState
from kiosk.logspill import LogsConfig, LogSpill
from kiosk.selfheal import (
    FAULT_CAMERA, FAULT_CLOCK, FAULT_DISK, FAULT_LINK, CameraWatch, HealConfig, HealLog, Retry, ThresholdWatch,
)
from kiosk.timesync import FakeResync, FakeTimeSync
from protocol import messages
from tests.clockkit import StepClock
from tests.diskfaults import small_tmpfs
from tests.faultkit import EMPLOYEES, HubIngest, wait_until
from tests.test_kiosk_storage_faults import DEVICE, HealthWatch, Kiosk, kiosk_config, start_hub
from tests.test_kiosk_storage_faults import encoder, health as health_watch, hub, key_file  # noqa: F401 (fixtures)

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)


# -- pure decisions -----------------------------------------------------------------------------


def test_retry_doubles_to_its_cap_and_opens_again_after_reset():
    retry = Retry(2.0, 10.0, rand=lambda: 1.0)       # no jitter: 2, 4, 8, 10, 10
    now, waits = 0.0, []
    for _ in range(5):
        assert retry.is_open(now)
        retry.tried(now)
        opened = next(t for t in range(1, 100) if retry.is_open(now + t))
        assert not retry.is_open(now + opened - 0.5)
        waits.append(opened)
        now += opened
    assert waits == [2, 4, 8, 10, 10]
    retry.reset()
    assert retry.is_open(now) and retry.attempts == 0


def test_camera_watch_restarts_a_stall_or_an_error_with_backoff_and_sees_it_recover():
    watch = CameraWatch(HealConfig(camera_stall_s=10, camera_retry_s=2, camera_retry_max_s=8), now_s=0.0,
                        rand=lambda: 1.0)
    watch.saw_frame(5.0)
    assert watch.due(14.9) is None                       # a frame 9.9 s ago: fine
    assert watch.due(15.0) == "no frame for 10 s"
    watch.restarted(15.0)
    assert watch.due(16.0) is None                       # the restart resets the stall clock
    watch.failed("device disconnected")
    assert watch.due(16.5) is None                       # an error, but the backoff (2 s) is not over
    assert watch.due(17.0) == "camera error: device disconnected"
    watch.restarted(17.0, "camera not found")
    assert watch.due(20.9) is None and watch.due(21.0) == "camera error: camera not found"   # then 4 s
    watch.restarted(21.0)
    assert watch.saw_frame(21.5) is True and watch.failing is False
    assert watch.saw_frame(22.0) is False                # a second frame ends nothing
    assert watch.retry.attempts == 0


@pytest.mark.parametrize("observations, acts, recovers", [
    ([(0, True), (4, True), (5, True), (6, True), (15, True)], [5, 15], []),   # after 5 s, then backoff 10 s
    ([(0, True), (3, False)], [], []),                                         # short: neither acted nor reported
    ([(0, True), (5, True), (6, False)], [5], [6]),
    ([(0, True), (5, True), (6, False), (7, True), (11, True), (12, True)], [5, 12], [6]),   # a new fault: anew
])
def test_threshold_watch_acts_after_its_time_with_backoff_and_reports_only_what_it_acted_on(
        observations, acts, recovers):
    watch = ThresholdWatch(5.0, Retry(10.0, 60.0, rand=lambda: 1.0))
    acted, recovered = [], []
    for now, faulty in observations:
        act, rec = watch.observe(now, faulty)
        if act:
            acted.append(now)
        if rec:
            recovered.append(now)
    assert (acted, recovered) == (acts, recovers)


def test_heal_log_counts_actions_keeps_a_cure_for_its_hold_and_starts_anew_after():
    log = HealLog(hold_s=100.0)
    log.acted(FAULT_CAMERA, "restart_camera", "no frame for 10 s: restart 1", T0)
    log.acted(FAULT_CAMERA, "restart_camera", "no frame for 12 s: restart 2", T0 + timedelta(seconds=12))
    assert log.recovered(FAULT_DISK, "free again", 0.0) is False           # nothing done: nothing to say
    [open_] = log.report(0.0)
    assert (open_.count, open_.recovered, open_.since, open_.at) == (2, False, T0, T0 + timedelta(seconds=12))
    assert log.recovered(FAULT_CAMERA, "frames again", 50.0)
    [cured] = log.report(149.0)
    assert cured.recovered
    assert cured.detail == "no frame for 10 s: restart 1 | latest: no frame for 12 s: restart 2; frames again"
    assert log.report(150.0) == []
    log.acted(FAULT_CAMERA, "restart_camera", "x", T0)
    log.recovered(FAULT_CAMERA, "y", 200.0)
    log.acted(FAULT_CAMERA, "restart_camera", "again", T0 + timedelta(hours=1))   # back after a cure: a new entry
    [again] = log.report(201.0)
    assert (again.count, again.recovered, again.detail) == (1, False, "again")


def health(**over) -> messages.Health:
    return messages.Health(ts=T0, uptime_s=1.0, outbox_depth=0, gallery_version=0, sw_version="1", **over)


def test_health_without_heal_is_what_an_older_hub_reads_and_heal_round_trips():
    assert b"heal" not in health().to_json()
    action = messages.HealAction(fault=FAULT_LINK, action="renew_link", detail="d", since=T0, at=T0, count=2,
                                 recovered=True)
    parsed = messages.parse(messages.Health, health(heal=[action]).to_json())
    assert parsed.heal == [action]
    with pytest.raises(Exception, match="count"):
        messages.parse(messages.Health, health(heal=[action]).to_json().replace(b'"count":2', b'"count":0'))


# -- the healer with the real clock monitor and log spill ----------------------------------------------


class StandInLink:
    """The two things the healer reads of the MQTT link, and what it asks of it."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.stats: Counter[str] = Counter()
        self.renewals = 0

    def renew(self) -> None:
        self.renewals += 1


def make_healer(tmp_path: Path, clock: StepClock, sync: FakeTimeSync, resync: FakeResync,
                link: StandInLink, **heal) -> Healer:
    monitor = ClockMonitor(ClockConfig(require_sync=True), clock.clocks(), sync)
    return Healer(HealConfig(**heal), state_dir=tmp_path, spill=LogSpill(tmp_path, LogsConfig()), clock=monitor,
                  resync=resync, link=link, wall=lambda: datetime.fromtimestamp(clock.wall(), timezone.utc),
                  monotonic=clock.monotonic)


def test_an_unsynchronised_clock_is_resynced_after_its_time_and_reported_cured(tmp_path):
    clock, sync = StepClock(T0), FakeTimeSync(synced=False)
    resync = FakeResync(fix=lambda: setattr(sync, "synced", True))
    link = StandInLink()
    link.connected.set()
    healer = make_healer(tmp_path, clock, sync, resync, link, clock_resync_after_s=60, disk_trim_below_mb=0)
    for _ in range(6):                          # 50 s unfit: not yet
        healer.tick()
        clock.advance(10)
    assert resync.requests == 0 and healer.report() == []
    healer.tick()                               # 60 s
    assert resync.requests == 1
    [open_] = healer.report()
    assert (open_.fault, open_.action, open_.recovered) == (FAULT_CLOCK, "resync_time", False)
    assert "clock not synchronised by network time (NTP) yet" in open_.detail
    clock.advance(11)                           # past the sync poll: the fixed clock is seen
    healer.tick()
    [cured] = healer.report()
    assert cured.recovered and cured.detail.endswith("clock synced again") and resync.requests == 1


def test_a_clock_drifted_past_the_bound_from_the_hub_is_resynced_and_cured_when_ntp_sets_it(tmp_path):
    """The hub's time from an ack says the clock is 400 s behind (bound 300 s): unfit, so resynced; NTP sets it."""
    clock = StepClock(T0)
    clock.step(-400)
    resync = FakeResync(fix=clock.correct)
    link = StandInLink()
    link.connected.set()
    healer = make_healer(tmp_path, clock, FakeTimeSync(synced=True), resync, link, clock_resync_after_s=30,
                         disk_trim_below_mb=0)
    healer.clock.note_hub_time(clock.true_now())
    for _ in range(4):
        healer.tick()
        clock.advance(10)
    assert resync.requests == 1 and clock.error_s() == 0
    healer.tick()
    [cured] = healer.report()
    assert cured.recovered and "clock 400 s behind the hub's time (allowed 300 s)" in cured.detail


def test_a_long_outage_renews_the_link_with_backoff_and_the_reconnect_is_reported(tmp_path):
    clock, link = StepClock(T0), StandInLink()
    healer = make_healer(tmp_path, clock, FakeTimeSync(), FakeResync(), link, link_renew_after_s=300,
                         link_retry_max_s=1800, disk_trim_below_mb=0)
    renewed_at = []
    for t in range(0, 600, 20):                 # ten minutes down, looked at every 20 s
        link.stats["connect_attempts"] += 2
        before = link.renewals
        healer.tick()
        renewed_at += [t] * (link.renewals - before)
        clock.advance(20)
    assert renewed_at[0] == 300                 # then a jittered pause of 150-300 s before the next
    assert all(450 <= t for t in renewed_at[1:]) and len(renewed_at) <= 2
    link.connected.set()
    healer.tick()
    [cured] = healer.report()
    assert (cured.fault, cured.action, cured.recovered) == (FAULT_LINK, "renew_link", True)
    assert "reconnected after 600 s down and 58 connection attempts" in cured.detail


def test_the_log_spill_is_bounded_and_trimmed_to_nothing(tmp_path):
    spill = LogSpill(tmp_path, LogsConfig(spill_mb=0.2))
    spill.open()
    try:
        for i in range(3000):
            logging.getLogger("kiosk.test").warning("a warning worth keeping across a reboot, number %05d", i)
        assert 0.1 * 2**20 < spill.size_bytes() <= 0.2 * 2**20 + 200
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["kiosk.log", "kiosk.log.1"]
        freed = spill.trim()
        assert freed > 0.1 * 2**20 and spill.size_bytes() == 0
        logging.getLogger("kiosk.test").warning("after the trim")
        assert (tmp_path / "logs" / "kiosk.log").read_text().endswith("after the trim\n")
    finally:
        spill.close()


# -- end to end: the real kiosk, a real hub and broker ------------------------------------------------



def stored_heal(hub: HubIngest, device_id: str) -> list[dict]:
    """``heal`` of the device's latest health as the hub stored it."""
    with sqlite3.connect(hub.db_path, timeout=30) as db:
        row = db.execute("SELECT telemetry FROM device_health WHERE device_id = ?", (device_id,)).fetchone()
    return json.loads(row[0]).get("heal", []) if row and row[0] else []


def healed(watch: HealthWatch, fault: str, **expect) -> messages.HealAction | None:
    """The latest health's heal entry for ``fault`` when it has the ``expect``ed values."""
    latest = watch.latest()
    for action in (latest.heal or []) if latest else []:
        if action.fault == fault and all(getattr(action, k) == v for k, v in expect.items()):
            return action
    return None


def accepted_punch(app: KioskApp, employee_id: str) -> str:
    """An accepted decision through ``KioskApp.punch`` (the path a recognised face takes); its state."""
    decision = PunchDecision(employee_id, 0.3, 0.1, LivenessState(True, 0.0, None, "off"))
    outcome = Outcome("accepted", employee_id=employee_id, punch=decision)
    return app.punch(outcome, app.clocks.wall_at(app.zone), app.clocks.monotonic()).state


def assert_all_delivered(hub: HubIngest, app: KioskApp, accepted: int) -> None:
    wait_until(lambda: len(hub.seqs(DEVICE)) == accepted and app.outbox.depth() == 0, 60,
               f"all {accepted} accepted punches at the hub")
    seqs = hub.seqs(DEVICE)
    assert len(seqs) == len(set(seqs)) == accepted, f"lost or doubled: {sorted(seqs)}"


@pytest.mark.broker
def test_a_camera_that_hangs_then_fails_is_restarted_and_reported_no_punch_lost(
        tmp_path, hub, key_file, broker, health_watch, encoder, faces_dir):
    start_hub(hub)
    config = kiosk_config(tmp_path / "state", key_file, broker.port, gallery={"key_source": "card"},
                          heal={"camera_stall_s": 1.5, "camera_retry_s": 0.5, "camera_retry_max_s": 2})
    camera = FaultyCamera(ReplayCamera(faces_dir / "dev" / "Alex_Lacamoire", fps=10, loop=True))
    app = KioskApp(config, LatestFrameGrabber(camera, stop_timeout_s=1.0), encoder=encoder)
    runner = threading.Thread(target=app.run, name="kiosk-run", daemon=True)
    runner.start()
    accepted = 0
    try:
        wait_until(lambda: app.counts["frames"] >= 5, 60, "frames to flow")
        accepted += accepted_punch(app, EMPLOYEES[0]) == "accepted"

        assert camera.opens == 1 and healed(health_watch, FAULT_CAMERA) is None
        camera.hang()                                      # the driver's read never returns
        threading.Event().wait(0.5)
        hung_at = app.counts["frames"]
        accepted += accepted_punch(app, EMPLOYEES[1]) == "accepted"     # punches go on without a camera
        wait_until(lambda: healed(health_watch, FAULT_CAMERA, recovered=True), 60, "the hung camera to be cured")
        assert app.counts["frames"] > hung_at and camera.opens >= 2
        report = healed(health_watch, FAULT_CAMERA)
        assert report.action == "restart_camera" and report.detail.startswith("no frame for ")
        assert "frames again after 1 restart(s)" in report.detail

        opens = camera.opens
        camera.fail(opens=2)                               # read errors, and the next two opens fail too
        wait_until(lambda: healed(health_watch, FAULT_CAMERA, recovered=False), 30, "the failing camera reported")
        accepted += accepted_punch(app, EMPLOYEES[2]) == "accepted"
        wait_until(lambda: healed(health_watch, FAULT_CAMERA, recovered=True, count=3), 60,
                   "the failing camera cured after three restarts")
        report = healed(health_watch, FAULT_CAMERA)
        assert "camera error: camera read failed (simulated: device disconnected)" in report.detail
        assert camera.opens == opens + 3 and runner.is_alive()
        wait_until(lambda: any(h["fault"] == FAULT_CAMERA and h["recovered"] for h in stored_heal(hub, DEVICE)),
                   30, "the hub to store the cure")
        assert_all_delivered(hub, app, accepted)
        assert accepted == 3
    finally:
        app.stop()
        runner.join(30)
    assert not runner.is_alive()


@pytest.fixture
def small_fs(tmp_path):
    with small_tmpfs(tmp_path / "small-fs", "3m") as where:
        yield where


@pytest.mark.broker
def test_a_full_disk_is_cured_by_trimming_the_log_spill_and_no_punch_lost(small_fs, hub, key_file, broker,
                                                                          health_watch, encoder):
    start_hub(hub)
    config = kiosk_config(small_fs / "state", key_file, broker.port, storage={"min_free_mb": 0.25, "reserve_mb": 0},
                          logs={"spill_mb": 1.6}, heal={"disk_trim_below_mb": 0.6})
    k = Kiosk(config, encoder).start()
    accepted = 0
    try:
        noisy = logging.getLogger("kiosk.selfheal-test")
        for i in range(1500):                              # warnings fill the spill to its bound (1.6 MB)
            noisy.warning("sensor %04d: %s", i, "x" * 1000)
        assert k.app.spill.size_bytes() > 1.2 * 2**20
        accepted += k.punch(EMPLOYEES[0]).state == "accepted"
        wait_until(lambda: k.app.outbox.depth() == 0, 30, "the first punch acked")

        filler = small_fs / "filler"                       # another writer takes every free byte
        free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            os.posix_fallocate(fd, 0, free - 8192)
        finally:
            os.close(fd)
        refused_or_not = k.punch(EMPLOYEES[1])             # refused on screen (never green) or, once trimmed, saved
        accepted += refused_or_not.state == "accepted"
        assert refused_or_not.state == "accepted" or refused_or_not.reason == "cannot_save"

        wait_until(lambda: healed(health_watch, FAULT_DISK, recovered=True), 30, "the disk to be cured")
        report = healed(health_watch, FAULT_DISK)
        assert report.action == "trim_logs" and "trimmed the log spill" in report.detail
        assert filler.exists()                             # nobody else freed anything
        assert k.app.spill.size_bytes() < 0.2 * 2**20
        assert k.punch(EMPLOYEES[2]).state == "accepted"
        accepted += 1
        wait_until(lambda: health_watch.alarm(messages.ALARM_STORAGE_ERROR) is None, 30, "no storage alarm")
        assert_all_delivered(hub, k.app, accepted)
        assert k.running()
    finally:
        k.close()


@pytest.mark.broker
def test_a_broker_down_for_long_gets_a_fresh_client_and_every_punch_taken_meanwhile_arrives(
        tmp_path, hub, key_file, broker, health_watch, encoder):
    start_hub(hub)
    config = kiosk_config(tmp_path / "state", key_file, broker.port,
                          heal={"link_renew_after_s": 3, "link_retry_max_s": 6})
    k = Kiosk(config, encoder).start()
    try:
        assert k.punch(EMPLOYEES[0]).state == "accepted"
        wait_until(lambda: k.app.outbox.depth() == 0, 30, "the first punch acked")

        broker.kill()                                      # "minutes" down: compressed by link_renew_after_s
        for employee in EMPLOYEES[1:6]:
            assert k.punch(employee).state == "accepted"   # kept in the outbox meanwhile
        wait_until(lambda: k.app.link.stats["renewals"] >= 2, 60, "two fresh MQTT clients while it is down")
        assert k.app.outbox.depth() == 5
        broker.start()

        wait_until(lambda: healed(health_watch, FAULT_LINK, recovered=True), 60, "the outage reported as cured")
        report = healed(health_watch, FAULT_LINK)
        assert report.action == "renew_link" and report.count >= 2
        assert "made a fresh MQTT client" in report.detail and "reconnected after" in report.detail
        assert_all_delivered(hub, k.app, 6)
        wait_until(lambda: any(h["fault"] == FAULT_LINK for h in stored_heal(hub, DEVICE)), 30, "the hub to store it")
        assert k.running()
    finally:
        k.close()
