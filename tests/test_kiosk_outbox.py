"""The kiosk outbox: ordered, windowed, durable; rows leave only on the hub's ack.

Real SQLite files in ``tmp_path``; time is a clock the test advances. The
durability case runs a child process that is SIGKILLed right after ``add()``
returns and reads its row back in a new ``Outbox``.
"""

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.decision import PunchDecision
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox, seq_mark_path
from kiosk.outbox_recovery import check_outbox, open_outbox, salvage
from kiosk.punches import make_signed_punch
from kiosk.storage import StorageError
from protocol import messages, signing
from tests.diskfaults import cut_tail, damaged_header, damaged_page, fill, small_tmpfs, zero_length

REPO = Path(__file__).resolve().parents[1]


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path, clock):
    box = Outbox(tmp_path / "state" / "outbox.sqlite", clock=clock)
    yield box
    box.close()


def fake(seq: int) -> tuple[str, bytes]:
    return f"id-{seq}", json.dumps({"seq": seq}).encode()


def ids(rows) -> list[str]:
    return [r.id for r in rows]


def all_rows(box: Outbox) -> list[str]:
    """Every row still here, in seq order (everything is 'due' with a zero resend time)."""
    return ids(box.due(10_000, 0))


# -- seq ---------------------------------------------------------------------------


def test_seq_increases_and_make_sees_it(outbox):
    seen: list[int] = []

    def make(seq: int) -> tuple[str, bytes]:
        seen.append(seq)
        return fake(seq)

    rows = [outbox.add(make) for _ in range(3)]
    assert [r.seq for r in rows] == [1, 2, 3] == seen
    assert [r.id for r in rows] == ["id-1", "id-2", "id-3"]
    assert rows[0].payload == b'{"seq": 1}'
    assert outbox.last_seq() == 3 and outbox.depth() == 3


def test_seq_survives_reopen_and_deleting_every_row(tmp_path, clock):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, clock=clock)
    for _ in range(4):
        box.add(fake)
    assert box.remove(["id-1", "id-2", "id-3", "id-4"]) == 4
    assert box.depth() == 0
    box.close()

    box = Outbox(path, clock=clock)
    try:
        assert box.last_seq() == 4
        assert box.add(fake).seq == 5           # never reused, so the hub can spot gaps
        box.reject("id-5", "bad signature")
        assert box.add(fake).seq == 6           # a rejection does not free its seq either
    finally:
        box.close()
    box = Outbox(path, clock=clock)
    try:
        assert box.last_seq() == 6 and all_rows(box) == ["id-6"]
    finally:
        box.close()


def test_a_failing_make_stores_nothing_and_leaves_the_outbox_usable(outbox):
    outbox.add(fake)

    def broken(seq: int) -> tuple[str, bytes]:
        raise ValueError("signing failed")

    with pytest.raises(ValueError, match="signing failed"):
        outbox.add(broken)
    assert outbox.depth() == 1 and outbox.last_seq() == 1
    assert outbox.add(fake).seq == 2            # no transaction left open, no lock left held


def test_a_duplicate_id_is_refused_and_rolled_back(outbox):
    outbox.add(lambda seq: ("same", b"a"))
    with pytest.raises(sqlite3.IntegrityError):
        outbox.add(lambda seq: ("same", b"b"))
    assert outbox.depth() == 1 and outbox.last_seq() == 1
    assert outbox.add(fake).seq == 2


def test_concurrent_adds_get_unique_gapless_seqs(outbox):
    def worker(tag: str) -> None:
        for i in range(100):
            outbox.add(lambda seq, i=i: (f"{tag}-{i}", b"x"))

    threads = [threading.Thread(target=worker, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = outbox.due(1000, 0)
    assert [r.seq for r in rows] == list(range(1, 301))
    assert len(set(ids(rows))) == 300


# -- due / window / resend -------------------------------------------------------------


def test_due_is_in_seq_order_and_respects_the_limit(outbox):
    for _ in range(5):
        outbox.add(fake)
    assert ids(outbox.due(3, 30)) == ["id-1", "id-2", "id-3"]
    assert ids(outbox.due(10, 30)) == [f"id-{i}" for i in range(1, 6)]
    assert outbox.due(0, 30) == [] and outbox.due(-1, 30) == []


def test_sent_rows_are_in_flight_until_their_timeout_then_due_again(outbox, clock):
    for _ in range(5):
        outbox.add(fake)
    assert outbox.in_flight(30) == 0 and outbox.next_resend_in_s(30) is None

    outbox.mark_sent(["id-1", "id-2", "id-3"])
    assert outbox.in_flight(30) == 3
    assert ids(outbox.due(10, 30)) == ["id-4", "id-5"]     # in flight: not sent again yet
    assert outbox.next_resend_in_s(30) == pytest.approx(30)

    clock.advance(10)
    outbox.mark_sent(["id-4"])
    assert outbox.in_flight(30) == 4
    assert outbox.next_resend_in_s(30) == pytest.approx(20)  # the oldest in flight decides

    clock.advance(20)                                        # id-1..3 reach their timeout
    assert outbox.in_flight(30) == 1
    assert ids(outbox.due(10, 30)) == ["id-1", "id-2", "id-3", "id-5"]
    assert outbox.next_resend_in_s(30) == 0.0

    outbox.mark_sent(["id-1"])                               # resent: a fresh timeout
    assert ids(outbox.due(10, 30)) == ["id-2", "id-3", "id-5"]


def test_a_window_of_sends_then_acks_drains_everything_in_order(outbox):
    for _ in range(12):
        outbox.add(fake)
    window, sent_order = 5, []
    while outbox.depth():
        room = window - outbox.in_flight(30)
        batch = outbox.due(room, 30)
        assert len(batch) <= window
        outbox.mark_sent(ids(batch))
        sent_order += ids(batch)
        assert outbox.in_flight(30) <= window
        outbox.remove(ids(batch))                             # the hub acks the whole batch
    assert sent_order == [f"id-{i}" for i in range(1, 13)]


def test_mark_all_unsent_makes_everything_due_at_once(outbox):
    for _ in range(3):
        outbox.add(fake)
    outbox.mark_sent(["id-1", "id-2", "id-3"])
    assert outbox.due(10, 30) == []
    outbox.mark_all_unsent()
    assert ids(outbox.due(10, 30)) == ["id-1", "id-2", "id-3"]
    assert outbox.in_flight(30) == 0 and outbox.next_resend_in_s(30) is None


def test_a_wall_clock_jump_backwards_does_not_stall_sent_rows(outbox, clock):
    """A Pi without RTC can boot ahead and be corrected back by NTP: rows must not wait that out."""
    outbox.add(fake)
    outbox.mark_sent(["id-1"])
    clock.advance(-3600)
    assert ids(outbox.due(10, 30)) == ["id-1"]
    assert outbox.in_flight(30) == 0
    assert outbox.next_resend_in_s(30) == 0.0


def test_mark_sent_of_unknown_ids_is_harmless(outbox):
    outbox.add(fake)
    outbox.mark_sent(["nope", "id-9"])
    assert ids(outbox.due(10, 30)) == ["id-1"]


# -- ack / reject -----------------------------------------------------------------------


def test_remove_takes_only_what_is_acked_and_unknown_ids_are_harmless(outbox):
    for _ in range(4):
        outbox.add(fake)
    assert outbox.remove(["id-2", "not-ours", "id-4"]) == 2
    assert all_rows(outbox) == ["id-1", "id-3"]
    assert outbox.remove(["id-2"]) == 0                      # an ack repeated by the hub
    assert outbox.remove([]) == 0
    assert outbox.depth() == 2


def test_reject_moves_the_row_to_the_audit_table(outbox, tmp_path):
    for _ in range(3):
        outbox.add(fake)
    assert outbox.reject("id-2", "bad signature") is True
    assert outbox.reject("id-9", "unknown") is False
    assert outbox.reject("id-2", "again") is False           # no longer in the outbox
    assert all_rows(outbox) == ["id-1", "id-3"]
    assert outbox.rejected() == [("id-2", "bad signature")]
    outbox.reject("id-1", "employee not allowed at the site")
    assert outbox.rejected() == [("id-1", "employee not allowed at the site"), ("id-2", "bad signature")]
    # the refused payload is kept whole for audit
    with sqlite3.connect(outbox.path) as db:
        assert db.execute("SELECT payload FROM rejected WHERE id = 'id-2'").fetchone()[0] == b'{"seq": 2}'


def test_depth_and_oldest_age(outbox, clock):
    assert outbox.depth() == 0 and outbox.oldest_age_s() is None
    outbox.add(fake)
    clock.advance(5)
    outbox.add(fake)
    clock.advance(2)
    assert outbox.depth() == 2 and outbox.oldest_age_s() == pytest.approx(7)
    outbox.remove(["id-1"])
    assert outbox.oldest_age_s() == pytest.approx(2)


# -- durability --------------------------------------------------------------------------


def test_wal_and_full_sync_are_on(outbox):
    with sqlite3.connect(outbox.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: ask the outbox's own
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL


CHILD = r"""
import os, signal, sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from kiosk.decision import PunchDecision
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import signing

db, key_file = Path(sys.argv[1]), Path(sys.argv[2])
key = signing.load_private_key(key_file)
box = Outbox(db)
decision = PunchDecision("emp-7", 0.31, 0.12, LivenessState(True, 0.8, None, "blink"))
row = box.add(lambda seq: make_signed_punch(
    key, device_id="kiosk-1", site_id="site-1", decision=decision,
    ts=datetime.now(ZoneInfo("Asia/Kolkata")), gallery_version=4, seq=seq))
sys.stdout.write(f"{row.seq} {row.id}\n")
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)   # no close(), no checkpoint, no atexit
"""


def test_a_punch_survives_sigkill_right_after_add(tmp_path):
    key_file = tmp_path / "device.key"
    key = signing.generate_private_key()
    signing.write_private_key(key, key_file)
    db = tmp_path / "outbox.sqlite"
    seeded = Outbox(db)
    seeded.add(fake)                          # seq 1 exists before the child runs
    seeded.close()

    proc = subprocess.run([sys.executable, "-c", CHILD, str(db), str(key_file)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    seq, punch_id = proc.stdout.split()
    assert int(seq) == 2

    box = Outbox(db)
    try:
        assert box.depth() == 2 and box.last_seq() == 2
        row = box.due(10, 0)[1]
        assert (row.seq, row.id) == (2, punch_id)
        data = messages.decode_json(row.payload)
        punch = messages.validate(messages.Punch, data)
        assert punch.employee_id == "emp-7" and punch.seq == 2
        assert punch.liveness is not None and punch.liveness.method == "blink"
        signing.verify_fields(data, key.public_key())  # stored bytes are exactly what was signed
        assert box.add(fake).seq == 3
    finally:
        box.close()


def test_signed_punch_payload_is_what_the_outbox_stores(outbox):
    key = signing.generate_private_key()
    decision = PunchDecision("emp-1", 0.4, None, LivenessState(True, 0.0, None, "off"))
    row = outbox.add(lambda seq: make_signed_punch(
        key, device_id="kiosk-1", site_id="site-1", decision=decision,
        ts=datetime.now(ZoneInfo("Asia/Kolkata")), gallery_version=1, seq=seq))
    data = json.loads(row.payload)
    assert data["id"] == row.id and data["seq"] == row.seq == 1
    assert "liveness" not in data
    signing.verify_fields(data, key.public_key())


def test_each_resend_waits_twice_as_long_up_to_a_cap(outbox, clock):
    """A slow hub is not answered with ever more traffic: 30 s, 60 s, 120 s ... between sends."""
    outbox.add(fake)
    sends = []
    for _ in range(9):
        rows = outbox.due(10, 30)
        if rows:
            sends.append(clock.now)
            outbox.mark_sent(ids(rows))
        wait = outbox.next_resend_in_s(30)
        clock.advance(wait)
    gaps = [round(b - a) for a, b in zip(sends, sends[1:])]
    assert gaps == [30, 60, 120, 240, 480, 960, 960, 960]
    outbox.mark_sent(ids(outbox.due(10, 30)))
    assert outbox.in_flight(30) == 1 and outbox.due(10, 30) == []
    outbox.mark_all_unsent()                        # a reconnect: due at once, whatever the attempts
    assert ids(outbox.due(10, 30)) == ["id-1"]


# -- storage faults: errors, seq mark, start-up check and salvage (issue 21) -----------------------


def punch_like(seq: int) -> tuple[str, bytes]:
    """A payload that names its own id and seq, as a signed punch does (salvage checks both)."""
    return f"id-{seq}", json.dumps({"id": f"id-{seq}", "seq": seq, "pad": "x" * 300}).encode()


def outbox_of(path: Path, count: int) -> Path:
    box = Outbox(path)
    for _ in range(count):
        box.add(punch_like)
    box.close()                               # checkpointed: everything in the main file, no WAL
    return path


def test_the_seq_mark_follows_every_add_and_continues_a_lost_outbox(tmp_path):
    path = outbox_of(tmp_path / "outbox.sqlite", 3)
    assert seq_mark_path(path).read_text() == "3\n"
    path.unlink()                             # the database is gone, the mark is not
    box = Outbox(path)
    try:
        assert box.last_seq() == 0 and box.next_seq() == 4 and box.add(fake).seq == 4
        box.note_hub_seq(10)                  # the hub holds punches up to 10 from us
        box.note_hub_seq(7)                   # never goes back
        assert box.add(fake).seq == 11
        assert seq_mark_path(path).read_text() == "11\n"
    finally:
        box.close()


def test_min_free_space_refuses_a_new_punch_before_sqlite_and_names_the_cause(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", min_free_mb=10 ** 12)   # more than any disk has
    try:
        with pytest.raises(StorageError, match=r"storing a punch failed: disk nearly full: .* MB free"):
            box.add(fake)
        assert box.depth() == 0 and box.last_seq() == 0
        problem = box.problem()
        assert problem is not None and problem.error.operation == "storing a punch"
        assert problem.error.free_mb is not None and problem.since.tzinfo is not None
        box.min_free_mb = 0
        box.recheck()                          # space is back: a real write succeeds
        assert box.problem() is None and box.add(fake).seq == 1
    finally:
        box.close()


@pytest.fixture
def tiny_fs(tmp_path):
    with small_tmpfs(tmp_path / "tiny", "1m") as where:
        yield where


def test_a_full_disk_is_a_storage_error_and_the_outbox_works_again_after(tiny_fs):
    box = Outbox(tiny_fs / "outbox.sqlite")
    try:
        box.add(punch_like)
        filler = fill(tiny_fs)
        with pytest.raises(StorageError, match="storing a punch failed: .*No space left|database or disk is full"):
            for _ in range(50):                # the WAL's last page may still hold a row or two
                box.add(punch_like)
        assert box.problem() is not None
        stored = box.depth()
        assert stored == box.last_seq() and box.next_seq() > stored
        filler.unlink()
        assert box.add(punch_like).seq == box.next_seq() - 1 > stored   # no transaction left open
        assert box.depth() == stored + 1
        assert box.problem() is None
    finally:
        box.close()


@pytest.mark.parametrize("harm, problem", [
    (zero_length, "zero-length outbox although punches up to seq 40 were made"),
    (damaged_header, "not a database: header damaged"),
    (cut_tail, "truncated:"),
    (damaged_page, "quick_check:"),
])
def test_check_outbox_names_each_kind_of_damage(tmp_path, harm, problem):
    path = outbox_of(tmp_path / "outbox.sqlite", 40)
    assert check_outbox(path, 40) is None
    harm(path)
    assert check_outbox(path, 40).startswith(problem)


def test_check_outbox_accepts_a_missing_or_never_used_file(tmp_path):
    path = tmp_path / "outbox.sqlite"
    assert check_outbox(path, 0) is None
    path.write_bytes(b"")
    assert check_outbox(path, 0) is None      # created and killed before its first write


@pytest.mark.parametrize("harm, readable", [(damaged_header, 40), (cut_tail, range(1, 40)),
                                            (damaged_page, range(1, 40))])
def test_salvage_reads_what_is_left_row_by_row_and_keeps_the_damaged_file(tmp_path, harm, readable):
    path = outbox_of(tmp_path / "outbox.sqlite", 40)
    harm(path)
    before = path.read_bytes()
    found = salvage(path, tmp_path / "scratch", upper_seq=40)
    seqs = [r[0] for r in found.rows]
    if isinstance(readable, int):
        assert seqs == list(range(1, readable + 1))
    else:
        assert 0 < len(seqs) < 40 and set(seqs) <= set(readable) and seqs == sorted(seqs)
    assert all(r[1] == f"id-{r[0]}" and json.loads(r[2])["seq"] == r[0] for r in found.rows)
    assert path.read_bytes() == before and not (tmp_path / "scratch").exists()


def test_open_outbox_quarantines_salvages_once_and_continues_seq(tmp_path):
    path = outbox_of(tmp_path / "outbox.sqlite", 40)
    acked = Outbox(path)
    acked.remove([f"id-{i}" for i in range(1, 11)])                     # 1..10 acked earlier
    acked.close()
    damaged_page(path)
    box, report = open_outbox(path, now=datetime(2026, 12, 3, 20, 0, tzinfo=ZoneInfo("UTC")))
    try:
        kept = path.with_name("outbox.sqlite.damaged-20261203T200000Z")
        assert report is not None and report.quarantined == kept and kept.exists()
        assert report.problem.startswith("quick_check:") and report.next_seq == 41
        salvaged = all_rows(box)
        assert report.salvaged == len(salvaged) > 0
        assert set(salvaged) <= {f"id-{i}" for i in range(11, 41)}         # acked rows stay gone
        assert f"salvaged {len(salvaged)} unacked punches" in report.detail()
        assert box.add(fake).seq == 41
    finally:
        box.close()
    again, second = open_outbox(path)         # the new outbox is sound: nothing more to report
    again.close()
    assert second is None and len(list(tmp_path.glob("outbox.sqlite.damaged-*"))) == 1


def test_open_outbox_reports_a_missing_outbox_when_the_seq_mark_knows_better(tmp_path):
    path = outbox_of(tmp_path / "outbox.sqlite", 5)
    path.unlink()
    box, report = open_outbox(path)
    try:
        assert report is not None and report.quarantined is None and report.next_seq == 6
        assert "missing" in report.detail()
    finally:
        box.close()


@pytest.mark.parametrize("harm", [zero_length, damaged_header])
def test_punches_only_in_the_wal_of_a_power_cut_are_salvaged(tmp_path, harm):
    """A power cut leaves the newest punches in the WAL; SQLite drops the WAL of an empty main file."""
    live = Outbox(tmp_path / "live" / "outbox.sqlite")
    try:
        for _ in range(40):
            live.add(punch_like)
        cut = tmp_path / "cut"
        cut.mkdir()
        for name in ("outbox.sqlite", "outbox.sqlite-wal", "outbox.seq"):   # the files as the power cut left them
            shutil.copyfile(tmp_path / "live" / name, cut / name)
    finally:
        live.close()
    assert (cut / "outbox.sqlite-wal").stat().st_size > 0
    harm(cut / "outbox.sqlite")
    box, report = open_outbox(cut / "outbox.sqlite")
    try:
        assert report is not None and report.salvaged == 40 and report.next_seq == 41
        assert all_rows(box) == [f"id-{i}" for i in range(1, 41)]
        kept = report.quarantined
        assert kept.with_name(kept.name + "-wal").exists()      # the WAL is kept with its database
    finally:
        box.close()
