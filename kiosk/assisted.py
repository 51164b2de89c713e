"""Assisted attempts: a typed staff number whose face did not match, kept for the officer, never a punch.

Why kept on the kiosk and announced in health, not sent through the outbox:
the outbox and the punch topic carry punches only (each takes a ``seq``, and
the hub flags a gap in them; it stores and acks nothing else there), and a
new hub table, topic and ack path is more than this record needs. What an
officer needs is to know that someone stood at the kiosk claiming a number,
and to look: so each attempt is committed to ``assisted.sqlite`` in the state
directory (WAL, ``synchronous=FULL``, like the outbox), and every health
message carries an ``assisted_pending`` alarm naming the waiting attempts
(number, time, distance) until an officer marks them reviewed
(``kiosk assisted list`` / ``kiosk assisted done ID``). Health is repeated
every ``health_interval_s`` (and sent at once after an attempt), so a lost
message is followed by the next; the hub shows the alarm with the kiosk
(``/api/v1/devices``, the dashboard, ``/metrics``).

DESIGN.md keeps photos off kiosks; a face snapshot is written beside the
record (``assisted/<id>.jpg``, mode 0600) only where the site allows it
(``match.keep_snapshots``), and deleted when the attempt is marked reviewed.
"""

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from biometrics.encoder import FaceBox
from kiosk.storage import StorageError
from protocol import messages
from protocol.ids import new_punch_id

log = logging.getLogger(__name__)

DB_FILE = "assisted.sqlite"
SNAPSHOT_DIR = "assisted"
SNAPSHOT_MARGIN = 0.4   # the face box grown by this share each way: the face and a little around it
SCHEMA = """
CREATE TABLE IF NOT EXISTS assisted (
    id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    claimed_id TEXT NOT NULL,
    known INTEGER NOT NULL,
    distance REAL,
    liveness_passed INTEGER NOT NULL,
    snapshot TEXT,
    reviewed INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class AssistedRecord:
    id: str
    ts: str                  # device time, ISO 8601 with offset
    claimed_id: str
    known: bool              # the number was in the kiosk's gallery
    distance: float | None   # closest 1:1 distance seen
    liveness_passed: bool
    snapshot: str | None     # file name under assisted/, or None


class AssistedLog:
    """The kiosk's durable list of assisted attempts waiting for review."""

    def __init__(self, state_dir: Path, keep_snapshots: bool = False) -> None:
        self.state_dir = state_dir
        self.keep_snapshots = keep_snapshots
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        try:
            self._db = sqlite3.connect(self.state_dir / DB_FILE, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError("opening the assisted attempts", exc, self.state_dir) from exc

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def record(self, *, ts: datetime, claimed_id: str, known: bool, distance: float | None,
               liveness_passed: bool, rgb: np.ndarray | None = None, box: FaceBox | None = None) -> AssistedRecord:
        """Commit one attempt (with its snapshot where allowed); raises StorageError when it cannot."""
        attempt_id = new_punch_id()
        snapshot = None
        if self.keep_snapshots and rgb is not None and box is not None:
            snapshot = self._write_snapshot(attempt_id, rgb, box)
        record = AssistedRecord(attempt_id, messages.device_time(ts), claimed_id, known, distance, liveness_passed,
                                snapshot)
        with self._write("recording an assisted attempt"):
            self._db.execute(
                "INSERT INTO assisted (id, ts, claimed_id, known, distance, liveness_passed, snapshot) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.ts, claimed_id, int(known), distance, int(liveness_passed), snapshot))
        log.warning("assisted attempt %s: staff number %s, face not matched (distance %s), snapshot %s",
                    attempt_id, claimed_id, "none" if distance is None else f"{distance:.3f}",
                    "kept" if snapshot else "not kept")
        return record

    def pending(self) -> list[AssistedRecord]:
        """Attempts not yet reviewed, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, ts, claimed_id, known, distance, liveness_passed, snapshot FROM assisted "
                "WHERE reviewed = 0 ORDER BY ts, rowid").fetchall()  # same second: the order they came in
        return [AssistedRecord(r[0], r[1], r[2], bool(r[3]), r[4], bool(r[5]), r[6]) for r in rows]

    def mark_reviewed(self, ids: Iterable[str]) -> int:
        """The officer has seen these: off the alarm, snapshots deleted. Returns how many were pending."""
        ids = list(ids)
        snapshots = [r.snapshot for r in self.pending() if r.id in ids and r.snapshot]
        with self._write("marking assisted attempts reviewed"):
            done = self._db.executemany("UPDATE assisted SET reviewed = 1, snapshot = NULL "
                                        "WHERE id = ? AND reviewed = 0", [(i,) for i in ids]).rowcount
        for name in snapshots:
            (self.state_dir / SNAPSHOT_DIR / name).unlink(missing_ok=True)
        return done

    def alarm(self) -> messages.DeviceAlarm | None:
        """The ``assisted_pending`` alarm for health while any attempt waits, else None."""
        waiting = self.pending()
        if not waiting:
            return None
        listed = "; ".join(f"{r.claimed_id} at {r.ts[:19]}" + ("" if r.distance is None else f" ({r.distance:.2f})")
                           for r in waiting)
        detail = f"{len(waiting)} staff-number attempt(s) not matched, to review on the kiosk: {listed}"
        if len(detail) > 500:
            detail = detail[:497] + "..."
        return messages.DeviceAlarm(kind=messages.ALARM_ASSISTED_PENDING, detail=detail,
                                    since=datetime.fromisoformat(waiting[0].ts))

    def _write_snapshot(self, attempt_id: str, rgb: np.ndarray, box: FaceBox) -> str | None:
        h, w = rgb.shape[:2]
        gx, gy = int(box.width * SNAPSHOT_MARGIN), int(box.height * SNAPSHOT_MARGIN)
        crop = rgb[max(0, box.top - gy):min(h, box.bottom + gy), max(0, box.left - gx):min(w, box.right + gx)]
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return None
        folder = self.state_dir / SNAPSHOT_DIR
        name = f"{attempt_id}.jpg"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(jpeg.tobytes())
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:  # the attempt is still recorded, without its photo
            log.error("assisted attempt %s: snapshot not written: %s", attempt_id, exc)
            return None
        return name

    @contextmanager
    def _write(self, operation: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise StorageError(operation, exc, self.state_dir) from exc
