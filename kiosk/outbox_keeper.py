"""Keeps the kiosk's outbox usable on a full or failing disk, and says how it is doing.

The outbox itself only stores, and raises ``StorageError`` when it cannot.
This keeper does what the kiosk needs around it: open it checked (recovering
a damaged one), give back the space reserve when the disk is full so the
kiosk can still open the outbox and write acks, try a small write again now
and then so the alarm ends by itself once space returns, and answer health
with the last known depth while the outbox cannot even be read.
"""

import logging
from pathlib import Path

from kiosk.alarms import MAX_DETAIL_CHARS
from kiosk.config import StorageConfig
from kiosk.outbox import Outbox
from kiosk.outbox_recovery import RecoveryReport, open_outbox
from kiosk.storage import SpaceReserve, StorageError
from protocol import messages

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"
RESERVE_FILE = "reserve.bin"


class OutboxKeeper:
    """The outbox in ``state_dir``, the space reserve beside it, and their health."""

    def __init__(self, state_dir: Path, config: StorageConfig) -> None:
        self.path = state_dir / OUTBOX_FILE
        self.config = config
        self.reserve = SpaceReserve(state_dir / RESERVE_FILE, config.reserve_mb)
        self.outbox: Outbox | None = None
        self._depth = 0

    def open(self) -> tuple[Outbox, RecoveryReport | None]:
        """The checked outbox; on a full disk, once more after giving back the space reserve."""
        try:
            self.outbox, report = open_outbox(self.path, min_free_mb=self.config.min_free_mb)
        except StorageError as exc:
            if not self.reserve.release():
                raise
            log.error("the outbox could not be opened (%s); trying again in the reserved space", exc)
            self.outbox, report = open_outbox(self.path, min_free_mb=self.config.min_free_mb)
        self.reserve.ensure(self.config.min_free_mb)
        return self.outbox, report

    def recheck(self) -> None:
        """After a storage failure, a small real write: its success ends the alarm once space is back.

        While it fails, the space reserve is given back so acks and the rest
        can still be written; it is made again when space returns.
        """
        if self.outbox is None or self.outbox.problem() is None:
            return
        try:
            self.outbox.recheck()
        except StorageError as exc:
            log.warning("the state directory still fails: %s", exc)
            self.reserve.release()
            return
        log.info("the state directory takes writes again")
        self.reserve.ensure(self.config.min_free_mb)

    def storage_alarm(self) -> messages.DeviceAlarm | None:
        """The outbox's latest storage failure as a ``storage_error`` alarm, while it lasts."""
        problem = self.outbox.problem() if self.outbox is not None else None
        if problem is None:
            return None
        return messages.DeviceAlarm(kind=messages.ALARM_STORAGE_ERROR, detail=str(problem.error)[:MAX_DETAIL_CHARS],
                                    since=problem.since)

    def depth(self) -> int:
        """Punches waiting; the last depth read while the outbox cannot be read."""
        try:
            self._depth = self.outbox.depth() if self.outbox is not None else 0
        except StorageError as exc:
            log.warning("outbox depth unknown, reporting the last one read (%d): %s", self._depth, exc)
        return self._depth

    def oldest_age_s(self) -> float | None:
        """Age of the oldest waiting punch; None when there is none or it cannot be read."""
        try:
            return self.outbox.oldest_age_s() if self.outbox is not None else None
        except StorageError:
            return None
