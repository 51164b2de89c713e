"""Clock steps and wrong clocks at the kiosk (issue 21, part 3).

A Raspberry Pi without a real-time clock boots at the time it last saved and
NTP corrects it later, in one step; a person may set it wrong by hand. The
tests step an injected wall clock while the monotonic clock runs on:
- steps of -1 hour and +1 day and their correction, during a run and across a
  restart, neither lock anyone out beyond the repeat window (monotonic time)
  nor let anyone punch twice within it; a wrong clock the kiosk can tell
  (from the hub's time in its last ack) refuses, and the hub flags the
  punches of one it cannot (``clock_skew``, either way) from one health;
- an obviously wrong clock (1970, not synchronised, an hour from the hub's
  time in the last ack) refuses with the reason and the alarm, keeps draining
  the outbox, and recovers when the clock is right.
The kiosk tests run the real ``KioskApp`` (real photos and face model) against
a real Mosquitto and the hub's real ingest worker, in this process on the
test's true time (tests/clockkit.py); ``stored_punches`` returns what the hub
stored (device time, flags, receive time) for hub-side assertions.
"""

import re
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from biometrics.encoder import FaceEncoder
from hardware.replay import ReplayCamera
from hub.ingest.plausibility import CLOCK_SKEW
from kiosk.clock import (
    HUB_TIME_KEEP_S,
    RELEASED,
    STEP_ALARM_HOLD_S,
    SYNC_POLL_S,
    ClockConfig,
    ClockMonitor,
    judge,
)
from kiosk.decision import MESSAGES, DecisionMachine, Outcome, RepunchGuard
from kiosk.outbox import Outbox, RememberedPunch
from kiosk.timesync import FakeTimeSync, FirstAnswer, KernelSync, TimedatectlSync
from protocol.messages import ALARM_CLOCK_STEP, ALARM_CLOCK_UNSET
from provisioning import firstboot
from tests.clockkit import IST, ClockKiosk, HubSide, StepClock, TrueTimeHub, real_now
from tests.faultkit import wait_until
from tests.test_kiosk_app import PEOPLE
from tests.test_kiosk_decision import accept, machine, obs
from tests.test_systemd_units import REPO, directives

HOUR, DAY = 3600.0, 86400.0
WINDOW_S = 300.0                                    # recognition.repunch_suppress_s
STEPS = pytest.mark.parametrize("step_s", [-HOUR, DAY], ids=["back-1h", "ahead-1d"])


def morning() -> datetime:
    return datetime(2026, 12, 3, 9, 14, 3, tzinfo=IST)


# -- the clock's state (pure) ---------------------------------------------------------

NOW = morning().timestamp()


@pytest.mark.parametrize("wall, synced, require, hub_offset, stepped, state", [
    (NOW, True, True, None, None, "synced"),
    (0.0, True, True, None, None, "unset"),                       # 1970: booted without a clock
    (RELEASED.timestamp() - 1, None, False, None, None, "unset"),  # before this release
    (NOW, False, True, None, None, "unset"),                      # NTP has not answered yet
    (NOW, False, False, None, None, "synced"),                    # an RTC is fitted: no sync needed
    (NOW, None, True, None, None, "synced"),                      # the system cannot tell: not refused for it
    (NOW, True, True, HOUR, None, "unset"),                       # an hour behind the hub
    (NOW, True, True, -HOUR, None, "unset"),                      # an hour ahead of it
    (NOW, True, True, 120.0, None, "synced"),                     # two minutes: within the bound
    (NOW, True, True, None, "stepped +86400 s", "suspect"),       # jumped, but plausible: still punches
])
def test_judge(wall, synced, require, hub_offset, stepped, state):
    status = judge(wall_epoch=wall, synchronized=synced, require_sync=require, hub_offset_s=hub_offset,
                   max_hub_offset_s=300.0, stepped=stepped)
    assert status.state == state and status.may_punch == (state != "unset")
    assert (status.detail != "") == (state != "synced")


def test_a_step_while_running_raises_the_alarm_for_a_while_and_still_punches():
    clock = StepClock(morning())
    monitor = ClockMonitor(ClockConfig(), clock.clocks(), FakeTimeSync(True))
    assert monitor.check().state == "synced" and monitor.alarms() == []
    clock.advance(1.0)
    clock.step(DAY)
    status = monitor.check()
    assert status.state == "suspect" and status.may_punch
    [alarm] = monitor.alarms()
    assert alarm.kind == ALARM_CLOCK_STEP and "+86400 s" in alarm.detail
    clock.advance(20.0)
    clock.step(20.0)                                  # below step_threshold_s: NTP's small corrections
    assert monitor.check().state == "suspect"
    clock.advance(STEP_ALARM_HOLD_S)
    assert monitor.check().state == "synced" and monitor.alarms() == []


def test_far_from_the_hub_is_unset_until_the_clock_agrees_again():
    clock = StepClock(morning())
    monitor = ClockMonitor(ClockConfig(max_hub_offset_s=300), clock.clocks(), FakeTimeSync(True))
    monitor.note_hub_time(datetime.fromtimestamp(clock.wall() + HOUR, timezone.utc))
    clock.advance(50.0)
    assert monitor.hub_offset_s() == pytest.approx(HOUR)
    assert not monitor.may_punch()
    [alarm] = monitor.alarms()
    assert alarm.kind == ALARM_CLOCK_UNSET and "3600 s behind the hub" in alarm.detail
    clock.step(HOUR)                                  # NTP corrects it
    assert monitor.may_punch() and monitor.hub_offset_s() == pytest.approx(0.0)
    assert [a.kind for a in monitor.alarms()] == [ALARM_CLOCK_STEP]


def test_the_hubs_word_is_kept_for_a_while_not_for_ever():
    """A refusing kiosk gets no acks: an old wrong hub time must not lock it out until a restart."""
    clock = StepClock(morning())
    monitor = ClockMonitor(ClockConfig(), clock.clocks(), FakeTimeSync(True))
    monitor.note_hub_time(datetime.fromtimestamp(clock.wall() - HOUR, timezone.utc))
    clock.advance(HUB_TIME_KEEP_S - 1)
    assert not monitor.may_punch()
    clock.advance(1)
    assert monitor.hub_offset_s() is None and monitor.may_punch()


def test_time_sync_readers_answer_or_say_they_cannot_tell(tmp_path):
    script = tmp_path / "timedatectl"
    script.write_text("#!/bin/sh\necho no\n")
    script.chmod(0o755)
    assert TimedatectlSync([str(script)]).synchronized() is False
    assert TimedatectlSync([str(tmp_path / "missing")]).synchronized() is None
    assert KernelSync().synchronized() in (True, False, None)  # None where seccomp refuses adjtimex
    assert FirstAnswer(TimedatectlSync([str(tmp_path / "missing")]), FakeTimeSync(True)).synchronized() is True
    assert FirstAnswer(FakeTimeSync(None)).synchronized() is None


# -- the repeat-punch window under steps (decision machine, pure) --------------------------


class Visits:
    """One person at the kiosk, again and again: three agreeing frames 0.1 s apart per visit."""

    def __init__(self, m: DecisionMachine, clock: StepClock) -> None:
        self.m, self.clock = m, clock

    def visit(self, at_mono: float | None = None) -> Outcome:
        """A visit whose deciding frame is at ``at_mono`` (default: two seconds from now)."""
        target = self.clock.mono_s + 2.0 if at_mono is None else at_mono
        self.clock.advance(target - 0.2 - self.clock.mono_s)
        for _ in range(3):
            out = self.m.feed(obs(self.clock.mono_s, accept("emp-1")),
                              datetime.fromtimestamp(self.clock.wall(), IST), self.clock.mono_s)
            self.clock.advance(0.1)
        self.clock.advance(-0.1)
        return out


@STEPS
def test_a_step_and_its_correction_during_a_run(step_s):
    """Each phase: the clock steps, the person is told "already" with the previous punch's wall time
    until the window (monotonic) ends, then punches; the correction is a step of its own."""
    clock = StepClock(morning())
    visits = Visits(machine(repunch_s=WINDOW_S), clock)
    first = visits.visit()
    assert first.state == "accepted"
    punched_mono, punched_hhmm = clock.mono_s, clock.hhmm()
    for phase_step in (step_s, -step_s):
        clock.step(phase_step)
        for at in (punched_mono + 5, punched_mono + WINDOW_S - 3):
            again = visits.visit(at)
            assert again.state == "already", (phase_step, at - punched_mono)
            assert again.prompt[0] == f"Asha Rao: already punched at {punched_hhmm}"
        later = visits.visit(punched_mono + WINDOW_S + 0.01)
        assert later.state == "accepted", (phase_step, "locked out beyond the window")
        assert later.prompt[0] == f"Thank you, Asha Rao: {clock.hhmm()}"   # its honest (stepped) device time
        punched_mono, punched_hhmm = clock.mono_s, clock.hhmm()


# -- across a restart, from the outbox (component) ------------------------------------------


def reload_guard(path: Path, clock: StepClock) -> RepunchGuard:
    """What ``KioskApp`` does at start: the remembered punches into a fresh guard, the recent ones kept."""
    box = Outbox(path)
    try:
        guard = RepunchGuard(WINDOW_S)
        box.replace_recent_punches(guard.load(box.recent_punches(), wall_epoch=clock.wall(), mono_s=clock.mono_s,
                                              boot_id=clock.boot_id, zone=IST))
        return guard
    finally:
        box.close()


def remembered(path: Path) -> list[str]:
    box = Outbox(path)
    try:
        return [p.employee_id for p in box.recent_punches()]
    finally:
        box.close()


@pytest.mark.parametrize("step_s, reboot", [(-HOUR, False), (DAY, False), (DAY, True)],
                         ids=["back-1h-restart", "ahead-1d-restart", "ahead-1d-reboot"])
def test_a_remembered_punch_after_a_step_and_a_restart(tmp_path, step_s, reboot):
    """Punched while the clock was off, corrected a minute later, then the kiosk restarts.

    Same boot: the monotonic clock is the same one, the window is exact. After a
    reboot only the wall clock is left: a punch in the device's future counts as
    just now, so it is remembered for one window and then forgotten.
    """
    path = tmp_path / "outbox.sqlite"
    clock = StepClock(morning())
    clock.step(step_s)
    box = Outbox(path)
    box.remember_punch(RememberedPunch("emp-1", clock.wall(), clock.mono_s, clock.boot_id))
    box.close()
    punched_mono, punched_wall = clock.mono_s, datetime.fromtimestamp(clock.wall(), IST)
    clock.advance(60.0)
    clock.step(-step_s)
    if reboot:
        clock.reboot("boot-2")
    guard = reload_guard(path, clock)
    assert guard.last_punch("emp-1", clock.mono_s) == punched_wall     # still "already punched at ..."
    free_at = clock.mono_s + WINDOW_S if reboot else punched_mono + WINDOW_S
    assert guard.last_punch("emp-1", free_at - 1) == punched_wall
    assert guard.last_punch("emp-1", free_at) is None                  # never beyond one window
    clock.advance(free_at - 1 - clock.mono_s)
    assert reload_guard(path, clock).last_punch("emp-1", free_at - 1) == punched_wall   # a second restart
    clock.advance(1.0)                                                   # does not re-date it again
    assert reload_guard(path, clock).last_punch("emp-1", clock.mono_s) is None
    assert remembered(path) == []                                        # pruned, whatever the wall clock says


def test_an_outbox_of_the_previous_release_opens_and_forgets_its_wall_clock_only_memory(tmp_path):
    path = tmp_path / "outbox.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE last_punch (employee_id TEXT PRIMARY KEY, wall_epoch REAL NOT NULL)")
        db.execute("INSERT INTO last_punch VALUES ('emp-1', ?)", (morning().timestamp() + DAY,))
    assert remembered(path) == []                  # one window forgotten at the upgrade, never a day
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "last_punch" not in tables and "recent_punch" in tables


# -- the real kiosk against a real broker and the hub, both on the test's clocks ------------------------


@pytest.fixture(scope="module")
def encoder() -> FaceEncoder:
    return FaceEncoder()


@pytest.fixture
def clock() -> StepClock:
    """The kiosk's clocks, right to begin with, and the true time the hub keeps."""
    return StepClock(real_now())


@pytest.fixture
def hub(tmp_path, broker, clock, faces_dir, encoder):
    """The ingest worker on the true time, with PEOPLE enrolled at the site as the kiosk's cache has them."""
    hub = TrueTimeHub(tmp_path / "hub", broker.port, clock)
    hub.enrolment.enrol(tmp_path / "people", faces_dir, encoder)
    hub.start()
    yield hub
    hub.stop()


def unset_detail(k: ClockKiosk) -> str:
    """Why the kiosk refuses, as its clock_unset alarm tells the hub."""
    return {a.kind: a for a in k.app.health().alarms}[ALARM_CLOCK_UNSET].detail


@pytest.mark.broker
@pytest.mark.faces
@STEPS
def test_steps_at_a_running_kiosk_and_a_restart_reach_the_hub_honestly(tmp_path, broker, clock, hub, faces_dir,
                                                                          encoder, step_s):
    """A right clock, a punch and its ack (the kiosk learns the hub's time); then the clock steps.

    While wrong, the kiosk refuses with the reason (it is judged before the
    repeat window, so nobody punches twice) and its health tells the hub at
    once. Corrected, the next visit after the window punches: nobody locked
    out. Restarted on a wrong clock it has forgotten the hub's time: its next
    punch goes out with its honest device time and the hub flags it
    ``clock_skew`` the way the clock is off, at ingest, from the health sent on
    connecting; the punch's ack tells the kiosk, which refuses until corrected.
    """
    way = "behind" if step_s < 0 else "ahead"
    k = ClockKiosk(tmp_path, broker.port, hub, faces_dir, encoder, clock, FakeTimeSync(True))
    punches: list[tuple[float, float, float]] = []             # (monotonic, device wall, true time)

    def punched(outcome) -> None:
        assert outcome.state == "accepted", outcome
        punches.append((clock.mono_s, clock.wall(), clock.true_wall()))

    k.app.link.start()
    try:
        assert k.app.link.gallery_applied.wait(20)
        punched(k.visit())
        k.drained(hub, 1)
        assert k.app.clock.hub_offset_s() == pytest.approx(0.0, abs=0.5)   # the ack carried the hub's time

        clock.step(step_s)                                           # during the run: wrong now
        within = k.visit()
        assert (within.state, within.reason) == ("refused", "clock_unset")   # the clock is judged first
        k.report_health(hub)                                         # one health: the hub knows at once
        skew_s, alarms = hub.device_clock(k.config.device_id)
        assert skew_s == pytest.approx(step_s, abs=1) and {ALARM_CLOCK_UNSET, ALARM_CLOCK_STEP} <= alarms
        after = k.visit(punches[0][0] + WINDOW_S + 0.01)
        assert (after.state, after.reason) == ("refused", "clock_unset")     # still wrong after the window
        assert f"clock {abs(step_s):.0f} s {way}" in unset_detail(k)

        clock.step(-step_s)                                          # NTP corrects it ...
        k.report_health(hub)                                         # ... and the next health says so
        assert hub.device_clock(k.config.device_id)[0] == pytest.approx(0.0, abs=1)
        punched(k.visit())                                           # not locked out: the window had ended
        shown = datetime.fromtimestamp(clock.wall(), IST).strftime("%H:%M")
        k.drained(hub, 2)

        clock.step(step_s)                                           # wrong again, and a restart:
        k.restart()                                                  # the hub's time is forgotten
        k.report_health(hub)                                         # housekeeping reports on connecting
        assert hub.device_clock(k.config.device_id)[0] == pytest.approx(step_s, abs=1)
        assert k.app.clock.hub_offset_s() is None
        again = k.visit()
        assert again.state == "already" and f"already punched at {shown}" in again.prompt[0]
        punched(k.visit(punches[1][0] + WINDOW_S + 0.01))            # honestly dated, step included
        flagged = k.drained(hub, 3)[2]
        assert flagged["flags"] == CLOCK_SKEW, flagged                # at ingest, the way the clock is off
        assert f"kiosk clock {abs(step_s):.0f} s {way} at its last health" in flagged["flag_detail"]
        refused = k.visit(punches[2][0] + WINDOW_S + 0.01)           # its ack told the kiosk
        assert (refused.state, refused.reason) == ("refused", "clock_unset")
        assert f"clock {abs(step_s):.0f} s {way}" in unset_detail(k)

        clock.correct()
        k.report_health(hub)
        punched(k.visit())
        stored = k.drained(hub, 4)
        assert [p["seq"] for p in stored] == [1, 2, 3, 4]            # one punch per visit allowed, none twice
        assert [p["employee_id"] for p in stored] == [k.employee_id] * 4
        assert [p["flags"] for p in stored] == [None, None, CLOCK_SKEW, None]   # a right clock's: not flagged
        for row, (_, wall, true) in zip(stored, punches):
            assert row["device_ts"].timestamp() == pytest.approx(wall, abs=0.01)     # honest device time
            assert row["received_at"].timestamp() == pytest.approx(true, abs=1)      # the hub's true time
        assert k.app.counts["refused:clock_unset"] == 1              # this process's; two before the restart
    finally:
        k.stop()


@pytest.mark.broker
@pytest.mark.faces
def test_an_obviously_wrong_clock_refuses_with_the_reason_and_the_alarm(tmp_path, broker, clock, hub, faces_dir,
                                                                        encoder):
    """1970, not synchronised, an hour from the hub's time in the last ack: each refused with the reason
    and the alarm, the outbox draining meanwhile; each corrected, punching again, unflagged."""
    sync = FakeTimeSync(True)
    k = ClockKiosk(tmp_path, broker.port, hub, faces_dir, encoder, clock, sync)
    try:
        assert k.visit().state == "accepted"                         # offline: waits in the outbox
        clock.set_wall(datetime(1970, 1, 1, 0, 2, tzinfo=timezone.utc))   # a Pi booted without its clock
        k.app.link.start()
        refused = k.visit(clock.mono_s + WINDOW_S + 10)
        assert (refused.state, refused.reason, refused.prompt) == ("refused", "clock_unset", MESSAGES["clock_unset"])
        alarms = {a.kind: a for a in k.app.health().alarms}
        assert "1970-01-01" in alarms[ALARM_CLOCK_UNSET].detail and ALARM_CLOCK_STEP in alarms
        assert len(k.drained(hub, 1)) == 1                           # still drains while refusing
        k.report_health(hub)
        skew_s, kinds = hub.device_clock(k.config.device_id)
        assert skew_s == pytest.approx(clock.error_s(), abs=1) and ALARM_CLOCK_UNSET in kinds
        assert "1970-01-01" in unset_detail(k)                       # the hub's word in the ack: still refused

        clock.correct()                                              # NTP sets it: punching again
        k.report_health(hub)
        assert k.visit().state == "accepted"
        assert ALARM_CLOCK_UNSET not in {a.kind for a in k.app.health().alarms}

        sync.synced = False                                          # NTP lost (require_sync): refused
        clock.advance(SYNC_POLL_S)
        unsynced = k.visit(clock.mono_s + WINDOW_S)
        assert unsynced.reason == "clock_unset" and "not synchronised" in unset_detail(k)
        sync.synced = True
        clock.advance(SYNC_POLL_S)
        assert k.visit().state == "accepted"
        k.drained(hub, 3)                                            # its ack: the hub's time, which agrees

        clock.step(-HOUR)                                            # set an hour behind by hand
        far = k.visit(clock.mono_s + WINDOW_S)
        assert far.reason == "clock_unset" and "3600 s behind the hub" in unset_detail(k)
        clock.correct()                                              # corrected: plausible again
        assert k.visit().state == "accepted"
        stored = k.drained(hub, 4)
        assert k.app.counts["refused:clock_unset"] == 3 and len(stored) == 4
        assert stored[-1]["device_ts"].timestamp() == pytest.approx(clock.wall(), abs=0.01)
        assert [p["flags"] for p in stored] == [None] * 4            # each made on a right clock
    finally:
        k.stop()


@pytest.mark.broker
@pytest.mark.faces
def test_a_kiosk_whose_clock_never_synced_runs_refusing_draining_and_reporting(tmp_path, broker, hub, faces_dir,
                                                                                encoder, clock):
    """After clock.sync_wait_s the kiosk starts anyway: ``run()`` refuses every punch, drains what
    it had, and its health carries the clock_unset alarm, until NTP answers."""
    sync = FakeTimeSync(True)
    k = ClockKiosk(tmp_path, broker.port, hub, faces_dir, encoder, clock, sync)
    assert k.visit().state == "accepted"                             # waiting in the outbox
    k.stop()
    sync.synced = False
    clock.advance(WINDOW_S + SYNC_POLL_S)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "probe.jpg").symlink_to(sorted((faces_dir / "dev" / PEOPLE[1]).glob("*.jpg"))[-1])
    app = k.app = k.start_app(link=False, camera=ReplayCamera(frames, fps=5, loop=True, pace=True))
    runner = threading.Thread(target=app.run, name="kiosk-run")
    with HubSide(broker.port, k.config.device_id) as hub_side:
        runner.start()
        try:
            assert hub_side.wait_for(lambda h: any(ALARM_CLOCK_UNSET in kinds for kinds in h.alarms()), 30)
            wait_until(lambda: app.counts["refused:clock_unset"] >= 1, 60, "a refusal for the clock")
            assert len(k.drained(hub, 1)) == 1                       # the backlog reached the hub meanwhile
            assert app.counts["punches_created"] == 0
        finally:
            app.stop()
            runner.join(30)


# -- systemd and first boot: wait for network time, but not for ever -------------------------------


def test_kiosk_service_starts_after_time_sync_and_first_boot_bounds_the_wait(tmp_path):
    unit = directives("kiosk.service")
    assert "time-sync.target" in " ".join(unit["Unit.After"])
    script = firstboot.install_script()
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)
    assert "systemctl enable systemd-time-wait-sync.service" in script
    assert "systemd-time-wait-sync.service.d" in script and "TimeoutStartSec=%ss" in script
    query = re.search(r"^SYNC_WAIT_QUERY='(.*?)'$", script, re.M | re.S).group(1)
    config = yaml.safe_load((REPO / "kiosk" / "kiosk.example.yaml").read_text())
    config["clock"]["sync_wait_s"] = 45
    (tmp_path / "kiosk.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-c", query, str(tmp_path / "kiosk.yaml")], capture_output=True,
                          text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == "45"                       # the drop-in's limit comes from kiosk.yaml
