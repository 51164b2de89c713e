"""The kiosk's self-healing, run from its housekeeping and frame loops: the I/O around kiosk/selfheal.py.

``tick()`` (housekeeping, once a second) looks at the disk, the clock and
the broker link and acts: trims the log spill, asks for a time resync,
renews the MQTT client. The camera belongs to the frame loop's thread (a
device must not be closed while another thread reads it), so the frame loop
asks ``camera_due()`` and restarts the camera itself, telling ``camera_*``.
Everything done lands in ``report()`` for ``Health.heal`` and in the log.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from kiosk.clock import ClockMonitor
from kiosk.logspill import LogSpill
from kiosk.selfheal import (
    ACTION_RENEW_LINK, ACTION_RESTART_CAMERA, ACTION_RESYNC_TIME, ACTION_TRIM_LOGS, FAULT_CAMERA, FAULT_CLOCK,
    FAULT_DISK, FAULT_LINK, CameraWatch, HealConfig, HealLog, Retry, ThresholdWatch,
)
from kiosk.storage import free_mb
from kiosk.timesync import TimeResync
from protocol.messages import HealAction

log = logging.getLogger(__name__)

DISK_TRIM_RETRY_S = 60.0      # after a trim, look again this soon (the spill refills slowly) ...
DISK_TRIM_RETRY_MAX_S = 900.0  # ... then ever less often while the disk stays low


class LinkView(Protocol):
    """What the healer needs of the MQTT link (kiosk/link.py ``MqttLink``)."""

    connected: threading.Event
    stats: dict

    def renew(self) -> None: ...


class Healer:
    """Watches for the four faults of kiosk/selfheal.py and cures what it can."""

    def __init__(self, config: HealConfig, *, state_dir: Path, spill: LogSpill, clock: ClockMonitor, resync: TimeResync,
                 link: LinkView, wall: Callable[[], datetime], monotonic: Callable[[], float]) -> None:
        self.config = config
        self.state_dir = state_dir
        self.spill = spill
        self.clock = clock
        self.resync = resync
        self.link = link
        self.wall = wall
        self.monotonic = monotonic
        self.log = HealLog(config.report_hold_s)
        self._lock = threading.Lock()        # housekeeping and frame threads both write the log
        self.camera = CameraWatch(config, monotonic())
        self.disk = ThresholdWatch(0.0, Retry(DISK_TRIM_RETRY_S, DISK_TRIM_RETRY_MAX_S))
        self.clock_watch = ThresholdWatch(config.clock_resync_after_s,
                                          Retry(config.clock_resync_after_s, config.clock_retry_max_s))
        self.link_watch = ThresholdWatch(config.link_renew_after_s,
                                         Retry(config.link_renew_after_s, config.link_retry_max_s))
        self._link_attempts_at_down = 0

    # -- housekeeping thread ------------------------------------------------------

    def tick(self) -> None:
        """One look at disk, clock and link; each acts only when its fault lasts and its backoff allows."""
        now = self.monotonic()
        self._disk(now)
        self._clock(now)
        self._link(now)

    def _disk(self, now: float) -> None:
        if self.config.disk_trim_below_mb <= 0:
            return
        free = free_mb(self.state_dir)
        low = free is not None and free < self.config.disk_trim_below_mb
        act, recovered = self.disk.observe(now, low)
        if recovered:
            self._recovered(FAULT_DISK, f"free space back to {free or 0:.1f} MB", now)
        if not act:
            return
        freed = self.spill.trim()
        after = free_mb(self.state_dir)
        shown = "unknown" if after is None else f"{after:.1f} MB"
        self._acted(FAULT_DISK, ACTION_TRIM_LOGS, f"free space {free:.1f} MB under {self.config.disk_trim_below_mb:g} "
                    f"MB: trimmed the log spill, {freed / 2**20:.2f} MB freed, now {shown}")

    def _clock(self, now: float) -> None:
        status = self.clock.check()
        act, recovered = self.clock_watch.observe(now, status.state == "unset")
        if recovered:
            self._recovered(FAULT_CLOCK, f"clock {status.state} again", now)
        if not act:
            return
        try:
            done = self.resync.resync()
        except OSError as exc:
            done = f"resync refused: {exc}"
        self._acted(FAULT_CLOCK, ACTION_RESYNC_TIME, f"clock unfit for {self.clock_watch.lasted_s(now):.0f} s "
                    f"({status.detail}): {done}")

    def _link(self, now: float) -> None:
        connected = self.link.connected.is_set()
        if not connected and self.link_watch.since_s is None:
            self._link_attempts_at_down = self.link.stats["connect_attempts"]
        down_s = self.link_watch.lasted_s(now)
        act, recovered = self.link_watch.observe(now, not connected)
        if recovered:
            attempts = self.link.stats["connect_attempts"] - self._link_attempts_at_down
            self._recovered(FAULT_LINK, f"reconnected after {down_s:.0f} s down and {attempts} connection attempts",
                            now)
        if act:
            self.link.renew()
            self._acted(FAULT_LINK, ACTION_RENEW_LINK, f"broker unreachable for {self.link_watch.lasted_s(now):.0f} s:"
                        " made a fresh MQTT client")

    # -- frame thread ----------------------------------------------------------------

    def camera_due(self) -> str | None:
        """Why the camera must be restarted now (the caller restarts it and calls ``camera_restarted``)."""
        return self.camera.due(self.monotonic())

    def camera_failed(self, error: str) -> None:
        self.camera.failed(error)

    def camera_frame(self) -> None:
        now = self.monotonic()
        restarts = self.camera.retry.attempts
        if self.camera.saw_frame(now):
            self._recovered(FAULT_CAMERA, f"frames again after {restarts} restart(s)", now)

    def camera_restarted(self, reason: str, error: str | None) -> None:
        """A restart was tried for ``reason``; ``error`` when the camera did not open."""
        attempts_before = self.camera.retry.attempts
        self.camera.restarted(self.monotonic(), error)
        outcome = f"reopening failed: {error}" if error else "reopened"
        self._acted(FAULT_CAMERA, ACTION_RESTART_CAMERA, f"{reason}: restart {attempts_before + 1}, {outcome}")

    # -- health ------------------------------------------------------------------------

    def report(self) -> list[HealAction]:
        with self._lock:
            return self.log.report(self.monotonic())

    def _acted(self, fault: str, action: str, detail: str) -> None:
        log.warning("self-healing %s: %s (%s)", fault, action, detail)
        with self._lock:
            self.log.acted(fault, action, detail, self.wall())

    def _recovered(self, fault: str, detail: str, now: float) -> None:
        with self._lock:
            recorded = self.log.recovered(fault, detail, now)
        if recorded:
            log.warning("self-healing %s: recovered (%s)", fault, detail)
