"""The outbox at start-up: check it, move a damaged one aside, salvage its punches into a new one.

Worn SD cards and power cuts harm the SQLite file while the kiosk is off: it
ends up empty, with a broken header, a broken page, or cut short. Replacing
it with a new empty outbox would lose the unacked punches without a word and
restart ``seq`` at 1; refusing to start would leave the kiosk in a restart
loop. Instead the damaged file (with its WAL) is renamed
``outbox.sqlite.damaged-<UTC stamp>`` and kept, every unacked punch that can
still be read is copied into a fresh outbox with its own seq and id (both
are signed), the counter continues above everything known (the salvaged
rows, the seq mark, later the hub's ``Ack.seq``), and a report says what
was found, for the ``outbox_recovered`` health alarm.
"""

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kiosk.outbox import Outbox, seq_mark_path
from kiosk.storage import SeqMark, StorageError

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100
WAL_HEADER_BYTES = 32
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)  # SQLite's default first
SIDE_FILES = ("-wal", "-shm")
MAX_PROBLEM_CHARS = 200          # the alarm detail has room for 500 in all
SCAN = "SELECT seq, id, payload, created_at FROM outbox WHERE seq > ? ORDER BY seq"
PROBE = "SELECT seq, id, payload, created_at FROM outbox WHERE seq = ?"

Row = tuple[int, str, bytes, float]


@dataclass
class Salvage:
    """What could be read from a damaged outbox."""

    rows: list[Row] = field(default_factory=list)
    unreadable: int = 0          # rows or seq positions that raised, or whose payload was not their punch
    last_seq: int = 0            # the damaged file's own counter, when readable
    note: str = ""               # why nothing could be read, when that is the case


@dataclass(frozen=True)
class RecoveryReport:
    """What the start-up check found and did; ``detail()`` is the alarm text."""

    problem: str
    quarantined: Path | None
    salvaged: int
    unreadable: int
    next_seq: int
    note: str = ""

    def detail(self) -> str:
        where = f"moved to {self.quarantined.name}; " if self.quarantined else ""
        note = f" ({self.note})" if self.note else ""
        return (f"{self.problem}; {where}salvaged {self.salvaged} unacked punches, {self.unreadable} unreadable"
                f"{note}; seq continues at {self.next_seq}")


def check_outbox(path: Path, expected_seq: int) -> str | None:
    """Why the outbox file cannot be trusted, or None when it is sound (or absent: a new kiosk).

    ``expected_seq`` is the seq mark: above 0, punches were made here, so an
    empty file means they were lost rather than never made.
    """
    if not path.exists():
        return None
    size = path.stat().st_size
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        if wal_bytes:                 # SQLite deletes the WAL of an empty database: salvage it first
            return f"zero-length outbox beside a WAL of {wal_bytes} bytes"
        if expected_seq > 0:
            return f"zero-length outbox although punches up to seq {expected_seq} were made"
        return None                   # created and killed before its first write: nothing was in it
    problem = _header_problem(path, size)
    return problem or _quick_check(path)


def _header_problem(path: Path, size: int) -> str | None:
    with open(path, "rb") as f:
        header = f.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        return f"not a database: header damaged ({size} bytes)"
    page_size = _page_size(header)
    if page_size is None:
        return f"header damaged: page size {int.from_bytes(header[16:18], 'big')}"
    pages = int.from_bytes(header[28:32], "big")
    header_count_valid = header[24:28] == header[92:96]
    if size % page_size or (header_count_valid and pages * page_size > size):
        return f"truncated: {size} bytes, the header says {pages} pages of {page_size}"
    return None


def _page_size(header: bytes) -> int | None:
    raw = int.from_bytes(header[16:18], "big")
    size = 65536 if raw == 1 else raw
    return size if size in PAGE_SIZES else None


def _quick_check(path: Path) -> str | None:
    """SQLite's own check; a full disk or an I/O error is a StorageError, not a damaged file."""
    try:
        db = sqlite3.connect(path)
        try:
            result = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
        finally:
            db.close()
    except sqlite3.OperationalError as exc:     # SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN...
        raise StorageError(f"checking the outbox {path.name}", exc, path.parent) from exc
    except sqlite3.DatabaseError as exc:        # SQLITE_CORRUPT, SQLITE_NOTADB
        return f"unreadable: {exc}"
    if result == ["ok"]:
        return None
    return ("quick_check: " + "; ".join(result).replace("\n", "; "))[:MAX_PROBLEM_CHARS]


def quarantine(path: Path, now: datetime) -> Path:
    """Rename the outbox and its WAL/SHM to ``<name>.damaged-<UTC stamp>``; returns the new main path."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        path.rename(target)
        for suffix in SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
    except OSError as exc:
        raise StorageError(f"moving the damaged outbox {path.name} aside", exc, path.parent) from exc
    return target


def salvage(damaged: Path, scratch: Path, upper_seq: int) -> Salvage:
    """Every readable unacked punch of ``damaged``, read row by row from a copy made in ``scratch``.

    The copy keeps the quarantined file as it was found. A damaged header is
    replaced by a fresh one (the pages behind it are usually intact); a
    damaged page costs the rows on it, not the rest. ``upper_seq`` bounds
    the probing past unreadable pages.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / "salvage.sqlite"
    try:
        has_wal = _copy_with_wal(damaged, copy)
        if copy.stat().st_size == 0:
            if not has_wal:
                return Salvage(note="the file was empty")
            _give_the_wal_a_database(copy)
        found = Salvage(note="no readable rows")
        for page_size in _candidate_page_sizes(copy):
            attempt = _read_copy(copy, page_size, upper_seq)
            if attempt.rows or not attempt.note:
                return attempt
            found = attempt
        return found
    except OSError as exc:
        raise StorageError(f"salvaging {damaged.name}", exc, scratch) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_with_wal(source: Path, target: Path) -> bool:
    """Copy the database and its WAL (if any, and not empty); True when there was a WAL."""
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + "-wal")
    if not wal.exists() or wal.stat().st_size < WAL_HEADER_BYTES:
        return False
    shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    return True


def _give_the_wal_a_database(copy: Path) -> None:
    """An empty main file makes SQLite drop the WAL; one blank page (its header is written next) keeps it."""
    wal = copy.with_name(copy.name + "-wal")
    with open(wal, "rb") as f:
        page_size = int.from_bytes(f.read(WAL_HEADER_BYTES)[8:12], "big")
    copy.write_bytes(b"\0" * (page_size if page_size in PAGE_SIZES else PAGE_SIZES[0]))


def _candidate_page_sizes(copy: Path) -> list[int]:
    with open(copy, "rb") as f:
        header = f.read(HEADER_BYTES)
    if header.startswith(SQLITE_MAGIC) and _page_size(header):
        return [_page_size(header)]  # type: ignore[list-item]
    return list(PAGE_SIZES)


def _read_copy(copy: Path, page_size: int, upper_seq: int) -> Salvage:
    """Read ``copy`` after giving it a fresh header for ``page_size`` if its own is broken."""
    with open(copy, "rb") as f:
        header = f.read(HEADER_BYTES)
    if header.startswith(SQLITE_MAGIC) and _page_size(header) == page_size:
        _distrust_page_count(copy, header)   # a file cut short is otherwise refused as a whole
    else:
        _write_fresh_header(copy, page_size)
    try:
        db = sqlite3.connect(copy)
    except sqlite3.DatabaseError as exc:
        return Salvage(note=f"cannot be opened: {exc}")
    try:
        return _read_rows(db, upper_seq)
    finally:
        db.close()


def _write_fresh_header(copy: Path, page_size: int) -> None:
    """Put the header of a new WAL database of ``page_size`` in front of the copy's pages."""
    template = copy.with_name("header-template.sqlite")
    db = sqlite3.connect(template)
    try:
        db.execute(f"PRAGMA page_size={page_size}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
    finally:
        db.close()
    header = template.read_bytes()[:HEADER_BYTES]
    template.unlink()
    _distrust_page_count(copy, header)


def _distrust_page_count(copy: Path, header: bytes) -> None:
    """Write ``header`` to the copy with its "valid-for" counter off by one: SQLite then sizes by the file."""
    fixed = bytearray(header)
    fixed[92:96] = ((int.from_bytes(header[24:28], "big") + 1) % 2**32).to_bytes(4, "big")
    with open(copy, "r+b") as f:
        f.write(fixed)


def _read_rows(db: sqlite3.Connection, upper_seq: int) -> Salvage:
    found = Salvage()
    try:
        found.last_seq = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]
    except (sqlite3.DatabaseError, TypeError):
        pass
    upper = max(upper_seq, found.last_seq)
    after, damaged = 0, False
    while True:
        after, failed = _scan(db, after, found)
        damaged = damaged or failed
        resumed = _probe_past(db, after, upper, found) if failed else None
        if resumed is None:
            break
        after = resumed
    if not found.rows and damaged:
        found.note = "no row readable"   # with a guessed page size: try the next one
    return found


def _scan(db: sqlite3.Connection, after: int, found: Salvage) -> tuple[int, bool]:
    """Read rows in seq order from ``after``; (last seq read, whether the scan hit damage)."""
    try:
        for row in db.execute(SCAN, (after,)):
            after = row[0]
            _keep(row, found)
    except sqlite3.DatabaseError:
        return after, True
    return after, False


def _probe_past(db: sqlite3.Connection, after: int, upper: int, found: Salvage) -> int | None:
    """Look up seqs one by one past damage until one reads; the seq to scan on from, None past ``upper``."""
    for seq in range(after + 1, upper + 1):
        try:
            row = db.execute(PROBE, (seq,)).fetchone()
        except sqlite3.DatabaseError:
            found.unreadable += 1
            continue
        if row is not None:
            _keep(row, found)
            return seq
    return None


def _keep(row: tuple, found: Salvage) -> None:
    """Keep the row when its payload is the punch it claims to be (a damaged page can garble bytes)."""
    seq, punch_id, payload, created_at = row
    try:
        data = json.loads(payload)
        sound = data.get("id") == punch_id and data.get("seq") == seq
    except (ValueError, TypeError, AttributeError):
        sound = False
    if sound:
        found.rows.append((seq, punch_id, bytes(payload), float(created_at)))
    else:
        found.unreadable += 1


def open_outbox(path: Path, *, min_free_mb: float = 0.0, now: datetime | None = None
                ) -> tuple[Outbox, RecoveryReport | None]:
    """The outbox at ``path``, checked; a report when it had to be recovered (or was missing)."""
    mark = SeqMark(seq_mark_path(path)).value
    try:
        problem = check_outbox(path, mark)
    except StorageError:
        raise
    except OSError as exc:           # the file cannot even be read: the disk, not the database
        raise StorageError(f"checking the outbox {path.name}", exc, path.parent) from exc
    if problem is None:
        missing = not path.exists() and mark > 0
        box = Outbox(path, min_free_mb=min_free_mb)
        if not missing:
            return box, None
        return box, RecoveryReport(f"outbox file missing although punches up to seq {mark} were made",
                                   None, 0, 0, box.next_seq())
    log.error("outbox %s is damaged (%s): moving it aside and salvaging its punches", path, problem)
    moved = quarantine(path, now or datetime.now(timezone.utc))
    try:
        found = salvage(moved, path.with_name("salvage-tmp"), mark)
    except StorageError as exc:
        log.error("nothing salvaged from %s: %s", moved, exc)
        found = Salvage(note=str(exc))
    box = Outbox(path, min_free_mb=min_free_mb)
    adopted = box.adopt(found.rows, max(mark, found.last_seq))
    report = RecoveryReport(problem, moved, adopted, found.unreadable, box.next_seq(), found.note)
    log.error("outbox recovered: %s", report.detail())
    return box, report
