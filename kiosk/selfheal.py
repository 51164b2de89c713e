"""What a kiosk does by itself about a fault, decided from what it observes (pure: no I/O here).

A kiosk on a wall has nobody to restart its camera or free its disk. Four
faults it can often cure alone:

- the camera stops (no frame for ``camera_stall_s``, or a read error):
  restart the camera pipeline, again and again with a growing, capped pause;
- the disk runs low (free space under ``disk_trim_below_mb``): trim the
  kiosk's own bounded log spill; the outbox is never touched;
- the clock is unfit to punch (``unset``: not synchronised, or past the bound
  from the hub's time) for ``clock_resync_after_s``: ask the system to resync;
- the broker link is down for ``link_renew_after_s``: drop the MQTT client
  and make a fresh one (new socket, credentials read again), with backoff.

Each watcher here only says *when* to act; the kiosk (kiosk/healer.py and
the frame loop in kiosk/app.py) does the I/O. ``HealLog`` keeps what was
done and whether the fault has cleared, for ``Health.heal``, so the hub sees
it even when it happened while the link was down or between two reports.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.backoff import backoff_delay
from protocol.messages import HEAL_MAX_DETAIL, HealAction

FAULT_CAMERA = "camera_stopped"
FAULT_DISK = "disk_low"
FAULT_CLOCK = "clock_off"
FAULT_LINK = "link_down"
ACTION_RESTART_CAMERA = "restart_camera"
ACTION_TRIM_LOGS = "trim_logs"
ACTION_RESYNC_TIME = "resync_time"
ACTION_RENEW_LINK = "renew_link"


class HealConfig(BaseModel):
    """When the kiosk acts by itself (``heal:`` in kiosk.yaml); kiosk/selfheal.py."""

    model_config = ConfigDict(extra="forbid")

    camera_stall_s: float = Field(
        10.0, gt=0, description="no frame for this long counts as a stopped camera: restart the camera pipeline "
                                "(keep it under systemd's WatchdogSec, 30 s, which restarts the whole kiosk)")
    camera_retry_s: float = Field(2.0, gt=0, description="first pause between camera restarts; doubles each time")
    camera_retry_max_s: float = Field(60.0, gt=0, description="longest pause between camera restarts")
    disk_trim_below_mb: float = Field(
        32.0, ge=0, description="free space in state_dir under which the log spill is trimmed (0: never)")
    clock_resync_after_s: float = Field(
        60.0, gt=0, description="ask the system to resync network time after the clock was unfit this long")
    clock_retry_max_s: float = Field(900.0, gt=0, description="longest pause between time resync requests")
    link_renew_after_s: float = Field(
        300.0, gt=0, description="broker unreachable this long: make a fresh MQTT client (socket, credentials)")
    link_retry_max_s: float = Field(1800.0, gt=0, description="longest pause between fresh MQTT clients")
    report_hold_s: float = Field(
        3600.0, gt=0, description="a healed fault stays in health's heal list this long after it cleared")

    @model_validator(mode="after")
    def _caps(self) -> "HealConfig":
        if self.camera_retry_max_s < self.camera_retry_s:
            raise ValueError("heal.camera_retry_max_s must be at least heal.camera_retry_s")
        return self


class Retry:
    """A gate for repeated attempts: open at first, then shut for a doubling, capped, jittered pause."""

    def __init__(self, initial_s: float, max_s: float, rand: Callable[[], float] = random.random) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._rand = rand
        self.attempts = 0
        self._next_s: float | None = None

    def is_open(self, now_s: float) -> bool:
        return self._next_s is None or now_s >= self._next_s

    def tried(self, now_s: float) -> None:
        self._next_s = now_s + backoff_delay(self.attempts, self.initial_s, self.max_s, self._rand)
        self.attempts += 1

    def reset(self) -> None:
        self.attempts, self._next_s = 0, None


class CameraWatch:
    """A stopped camera: no frame for ``stall_s`` since the last frame (or restart), or a read error."""

    def __init__(self, config: HealConfig, now_s: float, rand: Callable[[], float] = random.random) -> None:
        self.stall_s = config.camera_stall_s
        self.retry = Retry(config.camera_retry_s, config.camera_retry_max_s, rand)
        self._since_s = now_s          # the last frame, or the last restart
        self._error: str | None = None
        self.failing = False           # a restart was due and no frame came since

    def reset(self, now_s: float) -> None:
        """The frame loop starts (after the waits for the hub): the stall clock starts now."""
        self._since_s, self._error, self.failing = now_s, None, False
        self.retry.reset()

    def saw_frame(self, now_s: float) -> bool:
        """A frame arrived; True when it ends a stop (the camera recovered)."""
        self._since_s, self._error = now_s, None
        recovered, self.failing = self.failing, False
        if recovered:
            self.retry.reset()
        return recovered

    def failed(self, error: str) -> None:
        """The camera raised an error; the next ``due`` restarts it (when the backoff allows)."""
        self._error = error

    def due(self, now_s: float) -> str | None:
        """Why the camera must be restarted now, or None."""
        if self._error is not None:
            reason = f"camera error: {self._error}"
        elif now_s - self._since_s >= self.stall_s:
            reason = f"no frame for {now_s - self._since_s:.0f} s"
        else:
            return None
        self.failing = True
        if not self.retry.is_open(now_s):
            return None
        return reason

    def restarted(self, now_s: float, error: str | None = None) -> None:
        """A restart was tried; ``error`` when reopening failed (then the next one waits the backoff)."""
        self.retry.tried(now_s)
        self._since_s, self._error = now_s, error


class ThresholdWatch:
    """A fault that lasts while a condition holds; acting on it is gated by ``Retry`` after ``after_s``."""

    def __init__(self, after_s: float, retry: Retry) -> None:
        self.after_s = after_s
        self.retry = retry
        self.since_s: float | None = None

    def observe(self, now_s: float, faulty: bool) -> tuple[bool, bool]:
        """(act now, recovered now) for the condition ``faulty`` at ``now_s``."""
        if not faulty:
            recovered = self.since_s is not None and self.retry.attempts > 0
            self.since_s = None
            self.retry.reset()
            return False, recovered
        if self.since_s is None:
            self.since_s = now_s
        if now_s - self.since_s < self.after_s or not self.retry.is_open(now_s):
            return False, False
        self.retry.tried(now_s)
        return True, False

    def lasted_s(self, now_s: float) -> float:
        return 0.0 if self.since_s is None else now_s - self.since_s


@dataclass
class _Entry:
    fault: str
    action: str
    first: str               # what was seen and done the first time (the cause)
    latest: str              # ... and the latest time
    since: datetime          # wall time of the first action about this fault
    at: datetime             # wall time of the latest action
    count: int
    recovered_mono_s: float | None = None
    cure: str = ""

    @property
    def detail(self) -> str:
        half = HEAL_MAX_DETAIL // 2 - 20
        text = self.first if self.count == 1 else f"{self.first[:half]} | latest: {self.latest[:half]}"
        return f"{text}; {self.cure}"[:HEAL_MAX_DETAIL] if self.cure else text[:HEAL_MAX_DETAIL]


class HealLog:
    """What was done about each fault, and whether it cleared; reported in health for ``hold_s`` after."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._entries: dict[str, _Entry] = {}

    def acted(self, fault: str, action: str, detail: str, wall: datetime) -> None:
        """An action was taken; a fault that had cleared and comes back starts a new entry."""
        entry = self._entries.get(fault)
        if entry is None or entry.recovered_mono_s is not None:
            self._entries[fault] = _Entry(fault, action, detail, detail, wall, wall, 1)
            return
        entry.action, entry.latest, entry.at, entry.count = action, detail, wall, entry.count + 1

    def recovered(self, fault: str, detail: str, now_s: float) -> bool:
        """The fault cleared; False when nothing had been done about it (nothing to report)."""
        entry = self._entries.get(fault)
        if entry is None or entry.recovered_mono_s is not None:
            return False
        entry.recovered_mono_s, entry.cure = now_s, detail
        return True

    def is_open(self, fault: str) -> bool:
        entry = self._entries.get(fault)
        return entry is not None and entry.recovered_mono_s is None

    def report(self, now_s: float) -> list[HealAction]:
        """For ``Health.heal``: open faults, and cured ones for ``hold_s`` after they cleared."""
        for fault in [f for f, e in self._entries.items()
                      if e.recovered_mono_s is not None and now_s - e.recovered_mono_s >= self.hold_s]:
            del self._entries[fault]
        return [HealAction(fault=e.fault, action=e.action, detail=e.detail, since=e.since, at=e.at, count=e.count,
                           recovered=e.recovered_mono_s is not None)
                for e in sorted(self._entries.values(), key=lambda e: e.since)]
