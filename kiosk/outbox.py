"""The kiosk's durable outbox: a punch exists here before anyone sees green.

SQLite in WAL mode with ``synchronous=FULL``: a committed punch survives a
power cut. Rows leave only when the hub's ack names them (the broker's PUBACK
only says the broker has it, not that the hub stored it). Rows are drained in
``seq`` order; ``seq`` is a per-device counter that never goes back, even
after every row was acked, so the hub can spot gaps.

One connection guarded by a lock: the pipeline thread adds, the link thread
sends and removes. SQLite is fast enough for this at kiosk rates (one punch
per person per visit), and a single writer keeps the ordering trivial.

Storage failures (a full disk, a worn SD card) surface as ``StorageError``
naming the operation, never as a bare ``sqlite3`` error, and the outbox
remembers the latest one until a write succeeds again (``problem()``), so
health can report it whichever thread hit it. New punches are refused while
free space is under ``min_free_mb``: the rows already stored can then still
be marked sent and deleted on the hub's acks (SQLite needs room for that too).
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kiosk.storage import SeqMark, StorageError, free_mb

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- Who punched when, for "already punched" after a restart. Replaces last_punch (wall time only),
-- whose rows a stepped clock could keep for ever; one forgotten window at the upgrade.
DROP TABLE IF EXISTS last_punch;
CREATE TABLE IF NOT EXISTS recent_punch (
    employee_id TEXT PRIMARY KEY,
    wall_epoch REAL NOT NULL,
    mono_s REAL NOT NULL,
    boot_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    rejected_at REAL NOT NULL
);
"""


MAX_DOUBLINGS = 5  # resend waits: 1, 2, 4, 8, 16, 32 x ack_timeout_s (30 s -> 16 min at most)
# When a sent row is due again; parameters: (resend_after_s, MAX_DOUBLINGS).
_DUE_AT = "(sent_at + ? * (1 << min(max(attempts - 1, 0), ?)))"


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    id: str
    payload: bytes


@dataclass(frozen=True)
class StorageProblem:
    """The latest storage failure and when failures began (for a health alarm)."""

    error: StorageError
    since: datetime


def seq_mark_path(path: Path) -> Path:
    """Where the seq mark of the outbox at ``path`` lives: ``outbox.seq`` next to ``outbox.sqlite``."""
    return path.with_suffix(".seq")


@dataclass(frozen=True)
class RememberedPunch:
    """Someone's last punch here: wall time to show, monotonic time and boot to measure the window."""

    employee_id: str
    wall_epoch: float
    mono_s: float
    boot_id: str


class Outbox:
    """Punches waiting for the hub's ack, oldest first."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time, *, min_free_mb: float = 0.0) -> None:
        self.path = Path(path)
        self.min_free_mb = min_free_mb
        self._clock = clock
        self._lock = threading.Lock()
        self._problem: StorageProblem | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._mark = SeqMark(seq_mark_path(self.path))
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StorageError(f"opening the outbox {self.path}", exc, self.path.parent) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, make: Callable[[int], tuple[str, bytes]]) -> OutboxRow:
        """Store a new punch; ``make(seq)`` builds (id, payload) for the next seq.

        The counter and the row are committed in one transaction, so a crash
        can neither lose the row nor reuse its seq. The seq mark is raised
        just before the commit, so it is never behind a stored punch. Raises
        StorageError, with nothing stored, when the disk is (nearly) full or
        failing.
        """
        with self._lock, self._transaction("storing a punch"):
            self._check_free_space("storing a punch")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            seq = max(row[0] if row else 0, self._mark.value) + 1
            punch_id, payload = make(seq)
            self._db.execute(
                "INSERT INTO outbox (seq, id, payload, created_at) VALUES (?, ?, ?, ?)",
                (seq, punch_id, payload, self._clock()),
            )
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (seq,),
            )
            self._mark.raise_to(seq)
        return OutboxRow(seq, punch_id, payload)

    def due(self, limit: int, resend_after_s: float) -> list[OutboxRow]:
        """Rows to publish now, in order: never sent, or their resend time has come.

        A row waits ``resend_after_s`` for its ack after the first send, and
        twice as long after each further one (up to 2**MAX_DOUBLINGS times):
        when the hub is merely slow, every kiosk resending its whole window on
        a fixed timer would multiply the load it cannot keep up with.

        A row "sent in the future" means the wall clock went back (a Pi
        without RTC booted ahead and NTP corrected it): it is due now rather
        than after the clock has caught up, which could take hours.
        """
        if limit <= 0:
            return []
        now = self._clock()
        with self._lock, self._storage("reading due punches"):
            rows = self._db.execute(
                f"SELECT seq, id, payload FROM outbox WHERE sent_at IS NULL OR {_DUE_AT} <= ? OR sent_at > ? "
                "ORDER BY seq LIMIT ?",
                (resend_after_s, MAX_DOUBLINGS, now, now, limit),
            ).fetchall()
        return [OutboxRow(*r) for r in rows]

    def in_flight(self, resend_after_s: float) -> int:
        """Rows published and still waiting for an ack within their resend time."""
        now = self._clock()
        with self._lock, self._storage("counting punches in flight"):
            return self._db.execute(
                f"SELECT count(*) FROM outbox WHERE sent_at <= ? AND {_DUE_AT} > ?",
                (now, resend_after_s, MAX_DOUBLINGS, now),
            ).fetchone()[0]

    def next_resend_in_s(self, resend_after_s: float) -> float | None:
        """Seconds until the next in-flight row falls due again; None when nothing is in flight."""
        with self._lock, self._storage("reading resend times"):
            first_due, newest = self._db.execute(
                f"SELECT min({_DUE_AT}), max(sent_at) FROM outbox WHERE sent_at IS NOT NULL",
                (resend_after_s, MAX_DOUBLINGS),
            ).fetchone()
        if first_due is None:
            return None
        now = self._clock()
        if newest > now:          # the clock went back: that row is due now (see due())
            return 0.0
        return max(0.0, first_due - now)

    def mark_sent(self, ids: Iterable[str]) -> None:
        now = self._clock()
        with self._lock, self._transaction("marking punches sent"):
            self._db.executemany(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", [(now, i) for i in ids]
            )

    def mark_all_unsent(self) -> None:
        """After a reconnect: what was in flight may be gone with the old connection; send it again."""
        with self._lock, self._transaction("marking punches unsent after a reconnect"):
            self._db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL")

    def remove(self, ids: Iterable[str]) -> int:
        """Delete acked rows; returns how many were still here (acks of acks are harmless)."""
        with self._lock, self._transaction("deleting acked punches"):
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            return cur.rowcount

    def reject(self, punch_id: str, reason: str) -> bool:
        """Move a punch the hub refused into the local audit table; False if it was not here."""
        with self._lock, self._transaction("keeping a rejected punch"):
            row = self._db.execute("SELECT seq, payload FROM outbox WHERE id = ?", (punch_id,)).fetchone()
            if row is None:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO rejected (id, seq, reason, payload, rejected_at) VALUES (?, ?, ?, ?, ?)",
                (punch_id, row[0], reason, row[1], self._clock()),
            )
            self._db.execute("DELETE FROM outbox WHERE id = ?", (punch_id,))
        return True

    def remember_punch(self, punch: RememberedPunch) -> None:
        """Note when someone last punched here, so a restarted kiosk still says "already punched".

        One row per person (the latest punch), so the table stays as small as the gallery.
        """
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO recent_punch (employee_id, wall_epoch, mono_s, boot_id) VALUES (?, ?, ?, ?)",
                (punch.employee_id, punch.wall_epoch, punch.mono_s, punch.boot_id),
            )

    def recent_punches(self) -> list[RememberedPunch]:
        """Every remembered punch; which are still recent is the caller's call (``RepunchGuard.load``)."""
        with self._lock, self._storage("reading recent punches"):
            rows = self._db.execute("SELECT employee_id, wall_epoch, mono_s, boot_id FROM recent_punch").fetchall()
        return [RememberedPunch(*r) for r in rows]

    def replace_recent_punches(self, punches: Iterable[RememberedPunch]) -> None:
        """Keep exactly these remembered punches (after a restart: the recent ones, re-dated)."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM recent_punch")
            self._db.executemany(
                "INSERT INTO recent_punch (employee_id, wall_epoch, mono_s, boot_id) VALUES (?, ?, ?, ?)",
                [(p.employee_id, p.wall_epoch, p.mono_s, p.boot_id) for p in punches],
            )

    def depth(self) -> int:
        with self._lock, self._storage("counting waiting punches"):
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def oldest_age_s(self) -> float | None:
        with self._lock, self._storage("reading the oldest punch's age"):
            oldest = self._db.execute("SELECT min(created_at) FROM outbox").fetchone()[0]
        return None if oldest is None else max(0.0, self._clock() - oldest)

    def last_seq(self) -> int:
        """The seq of the last punch committed here (0: none yet)."""
        with self._lock, self._storage("reading the last seq"):
            row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return row[0] if row else 0

    def next_seq(self) -> int:
        """The seq the next punch gets: above every one committed here, in the seq mark or at the hub.

        After a kill in the middle of a commit the mark is one ahead: that seq
        is skipped, never reused (its punch was never shown green or sent).
        """
        return max(self.last_seq(), self._mark.value) + 1

    def note_hub_seq(self, seq: int) -> None:
        """The hub holds punches up to ``seq`` from us: a lost outbox must not make us reuse one."""
        with self._lock, self._storage("recording the hub's seq"):
            self._mark.raise_to(seq)

    def adopt(self, rows: Iterable[tuple[int, str, bytes, float]], last_seq: int) -> int:
        """Take in punches salvaged from a damaged outbox: (seq, id, payload, created_at); returns how many.

        They keep their seq and id (both are signed into the payload); the
        counter continues above ``last_seq`` and above every adopted seq.
        """
        with self._lock, self._transaction("storing salvaged punches"):
            cur = self._db.executemany(
                "INSERT OR IGNORE INTO outbox (seq, id, payload, created_at) VALUES (?, ?, ?, ?)", rows)
            adopted = cur.rowcount
            top = max(last_seq, self._db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)", (top,))
            self._mark.raise_to(top)
        return adopted

    def rejected(self) -> list[tuple[str, str]]:
        """(punch id, reason) of every punch the hub refused, oldest first."""
        with self._lock, self._storage("reading rejected punches"):
            return self._db.execute("SELECT id, reason FROM rejected ORDER BY seq").fetchall()

    def recheck(self) -> None:
        """A small real write, to learn whether storage works again; success clears ``problem()``.

        Its own failure is raised but not remembered: the alarm keeps naming the operation that failed.
        """
        with self._lock, self._transaction("checking the disk again", remember=False):
            self._check_free_space("checking the disk again")
            self._db.execute("INSERT INTO meta (key, value) VALUES ('disk_check', 1) "
                             "ON CONFLICT(key) DO UPDATE SET value = value + 1")

    def problem(self) -> StorageProblem | None:
        """The latest storage failure, until a write succeeds again."""
        return self._problem

    def _check_free_space(self, operation: str) -> None:
        free = free_mb(self.path.parent)
        if free is not None and free < self.min_free_mb:
            raise StorageError(operation, f"disk nearly full: {free:.1f} MB free, "
                               f"{self.min_free_mb:g} MB kept for acks and health", self.path.parent)

    def _note(self, error: StorageError | None) -> None:
        if error is None:
            self._problem = None
        else:
            since = self._problem.since if self._problem else datetime.now(timezone.utc)
            self._problem = StorageProblem(error, since)

    @contextmanager
    def _storage(self, operation: str, remember: bool = True) -> Iterator[None]:
        """Turn SQLite and file errors into StorageError naming ``operation``; remember it for ``problem()``."""
        try:
            yield
        except StorageError as exc:
            error = exc if exc.operation == operation else \
                StorageError(operation, f"{exc.operation}: {exc.cause}", self.path.parent)
            if remember:
                self._note(error)
            if error is exc:
                raise
            raise error from exc
        except sqlite3.IntegrityError:
            raise                      # our own mistake (a duplicate id), not the disk's
        except (sqlite3.DatabaseError, OSError) as exc:
            error = StorageError(operation, exc, self.path.parent)
            if remember:
                self._note(error)
            raise error from exc

    @contextmanager
    def _transaction(self, operation: str = "writing the outbox", remember: bool = True) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit connection).

        SQLite may end the transaction itself on a full disk or an I/O error,
        so ROLLBACK only when one is still open: the connection stays usable.
        A successful commit clears the remembered storage problem.
        """
        with self._storage(operation, remember):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        self._note(None)
