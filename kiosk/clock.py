"""Whether the kiosk's wall clock is fit to stamp a punch, and what to tell the hub about it.

A Raspberry Pi has no battery-backed clock unless one is fitted: it boots at
the time it last saved and NTP corrects it later, in one step, perhaps by
days; a person can set it wrong by hand too. So the kiosk keeps two clocks:
the **wall** clock, which a punch carries as its honest device time, and the
**monotonic** clock, which cannot step and measures every window and interval.

The clock is judged in three states:
- ``unset``: obviously wrong, punching is refused with a reason: before this
  software's release, not yet synchronised by the network (when
  ``require_sync``), or far from the hub's time seen in the last ack (for
  ``HUB_TIME_KEEP_S`` after it, carried forward on the monotonic clock);
- ``suspect``: plausible, but it stepped while the kiosk ran (the wall clock
  and the monotonic clock disagree on how much time passed); punches are
  still made, with their honest device time, and the hub is told by an alarm;
- ``synced``: none of the above.

Pure logic apart from reading the injected clocks and ``TimeSync`` source
(kiosk/timesync.py): tests step a wall clock while the monotonic one runs on.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from protocol.messages import ALARM_CLOCK_STEP, ALARM_CLOCK_UNSET, DeviceAlarm

log = logging.getLogger(__name__)

# This release was made after this instant: a wall clock before it is unset
# (1970 after a boot without network, or a manual setting gone wrong).
# Move it forward with each release.
RELEASED = datetime(2026, 12, 1, tzinfo=timezone.utc)
STEP_ALARM_HOLD_S = 3600.0   # a step stays reported (and the clock suspect) this long after it happened
SYNC_POLL_S = 10.0           # ask the time-sync source at most this often (it may run a command)
# The hub's time from an ack is trusted this long. Acks come only for punches, and a kiosk
# refusing punches gets none: a wrong word from the hub must not lock it out for good.
HUB_TIME_KEEP_S = 3600.0
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")

ClockState = Literal["unset", "synced", "suspect"]


class ClockConfig(BaseModel):
    """How the kiosk judges its clock (``clock:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    require_sync: bool = Field(
        True, description="refuse punches until network time sync is confirmed; false only with a "
                          "battery-backed RTC fitted (hardware/README.md, Clock)")
    sync_wait_s: int = Field(
        90, ge=0, le=3600,
        description="first boot sets this as the limit of systemd-time-wait-sync: kiosk.service waits this long "
                    "for network time, then runs in the 'clock not set' state until the clock syncs")
    max_hub_offset_s: float = Field(
        300.0, gt=0, description="refuse punches while the clock is further than this from the hub's time "
                                 "(learnt from the last ack within the hour)")
    step_threshold_s: float = Field(
        30.0, gt=0, description="a wall-clock jump larger than this while running raises the clock_step alarm")


def read_boot_id(path: Path = BOOT_ID_FILE) -> str:
    """This boot's id: monotonic readings are comparable only within one boot. Empty where unknown."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Clocks:
    """The kiosk's two clocks and the boot they belong to; tests pass their own."""

    wall: Callable[[], float] = time.time             # epoch seconds; may step
    monotonic: Callable[[], float] = time.monotonic   # seconds; never steps, restarts at boot
    boot_id: str = field(default_factory=read_boot_id)

    def wall_at(self, zone: tzinfo) -> datetime:
        return datetime.fromtimestamp(self.wall(), zone)


class TimeSync(Protocol):
    """Whether the system says the network has synchronised its clock; None when it cannot tell."""

    def synchronized(self) -> bool | None: ...


@dataclass(frozen=True)
class ClockStatus:
    """The clock's state now; only ``unset`` stops punching (a stepped clock is honest, just noted)."""

    state: ClockState
    detail: str = ""                 # why unset or suspect, for the log and the alarm

    @property
    def may_punch(self) -> bool:
        return self.state != "unset"


def judge(*, wall_epoch: float, synchronized: bool | None, require_sync: bool, hub_offset_s: float | None,
          max_hub_offset_s: float, stepped: str | None) -> ClockStatus:
    """The clock's state from what is known now (pure; see the module docstring)."""
    if wall_epoch < RELEASED.timestamp():
        shown = datetime.fromtimestamp(wall_epoch, timezone.utc).isoformat(timespec="seconds")
        return ClockStatus("unset", f"clock reads {shown}, before this software's release {RELEASED.date()}")
    if require_sync and synchronized is False:
        return ClockStatus("unset", "clock not synchronised by network time (NTP) yet")
    if hub_offset_s is not None and abs(hub_offset_s) > max_hub_offset_s:
        side = "behind" if hub_offset_s > 0 else "ahead of"
        return ClockStatus("unset", f"clock {abs(hub_offset_s):.0f} s {side} the hub's time "
                                    f"(allowed {max_hub_offset_s:.0f} s)")
    if stepped is not None:
        return ClockStatus("suspect", stepped)
    return ClockStatus("synced")


@dataclass(frozen=True)
class _Step:
    size_s: float
    at_mono: float
    at: datetime

    @property
    def detail(self) -> str:
        return f"wall clock stepped {self.size_s:+.0f} s while running"


class ClockMonitor:
    """Watches the wall clock against the monotonic one and the hub's time; thread-safe.

    ``check()`` is called often (the housekeeping loop, each decision): it
    notices steps, logs changes of state and keeps the alarms.
    """

    def __init__(self, config: ClockConfig, clocks: Clocks, sync: TimeSync) -> None:
        self.config = config
        self.clocks = clocks
        self._sync = sync
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None       # (wall, monotonic) at the previous check
        self._step: _Step | None = None
        self._hub: tuple[float, float] | None = None        # (hub epoch, our monotonic) from the last ack
        self._synced: bool | None = None
        self._synced_at: float | None = None                # monotonic time of the last sync query
        self._status = ClockStatus("synced")
        self._unset_since: datetime | None = None

    def note_hub_time(self, hub_ts: datetime) -> None:
        """An ack said what time the hub had when it sent it (network delay is small against the bound)."""
        with self._lock:
            self._hub = (hub_ts.timestamp(), self.clocks.monotonic())

    def hub_offset_s(self) -> float | None:
        """The hub's time now (its last word plus the monotonic time since) minus our wall clock."""
        with self._lock:
            return self._hub_offset(self.clocks.wall(), self.clocks.monotonic())

    def check(self) -> ClockStatus:
        synchronized = self._poll_sync()          # outside the lock: it may run a command
        with self._lock:                          # read under it: two threads' readings stay in order
            wall, mono = self.clocks.wall(), self.clocks.monotonic()
            self._notice_step(wall, mono)
            step = self._recent_step(mono)
            status = judge(
                wall_epoch=wall, synchronized=synchronized, require_sync=self.config.require_sync,
                hub_offset_s=self._hub_offset(wall, mono), max_hub_offset_s=self.config.max_hub_offset_s,
                stepped=None if step is None else step.detail,
            )
            if status != self._status:
                level = logging.INFO if status.state == "synced" else logging.WARNING
                log.log(level, "clock %s%s", status.state, f": {status.detail}" if status.detail else "")
            if status.state == "unset" and self._unset_since is None:
                self._unset_since = datetime.fromtimestamp(wall, timezone.utc)   # device time, however wrong
            elif status.state != "unset":
                self._unset_since = None
            self._status = status
        return status

    def may_punch(self) -> bool:
        """False while the clock is obviously wrong (``unset``): the decision refuses to punch."""
        return self.check().may_punch

    def alarms(self) -> list[DeviceAlarm]:
        """The clock's alarms for the health message, as of the last ``check()``."""
        with self._lock:
            found = []
            if self._unset_since is not None:
                found.append(DeviceAlarm(kind=ALARM_CLOCK_UNSET, detail=f"punching refused: {self._status.detail}",
                                         since=self._unset_since))
            step = self._recent_step(self.clocks.monotonic())
            if step is not None:
                found.append(DeviceAlarm(kind=ALARM_CLOCK_STEP, detail=step.detail, since=step.at))
            return found

    def _poll_sync(self) -> bool | None:
        """The time-sync source's answer, asked at most every SYNC_POLL_S."""
        mono = self.clocks.monotonic()
        with self._lock:
            if self._synced_at is not None and mono - self._synced_at < SYNC_POLL_S:
                return self._synced
        synced = self._sync.synchronized()
        with self._lock:
            self._synced, self._synced_at = synced, mono
        return synced

    # -- under the lock ------------------------------------------------------------

    def _notice_step(self, wall: float, mono: float) -> None:
        if self._last is not None:
            jump = (wall - self._last[0]) - (mono - self._last[1])
            if abs(jump) > self.config.step_threshold_s:
                self._step = _Step(jump, mono, datetime.fromtimestamp(wall, timezone.utc))
                log.warning("wall clock stepped %+.0f s while running (monotonic clock as reference)", jump)
        self._last = (wall, mono)

    def _recent_step(self, mono: float) -> _Step | None:
        """The last step, while it is still reported (STEP_ALARM_HOLD_S)."""
        step = self._step
        return step if step is not None and mono - step.at_mono < STEP_ALARM_HOLD_S else None

    def _hub_offset(self, wall: float, mono: float) -> float | None:
        if self._hub is None or mono - self._hub[1] >= HUB_TIME_KEEP_S:
            return None
        hub_epoch, at_mono = self._hub
        return hub_epoch + (mono - at_mono) - wall
