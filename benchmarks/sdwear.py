"""What a kiosk writes to its SD card: bytes per punch through the outbox, and what the log spill adds.

Run ``python -m benchmarks.sdwear`` (a minute; ``--punches``, ``--warnings``,
``--workdir``, which must be on a real disk: tmpfs writes count nothing).
Results go to stdout as Markdown for BENCHMARKS-sdwear.md.

The outbox is the real one (SQLite WAL, synchronous FULL, the seq mark
file) with real signed punches, each taken through the kiosk's own steps:
stored and remembered against repeats (``KioskApp.punch``), marked sent
(the link), deleted on the hub's ack. The journal is in RAM
(provisioning), health and self-healing write nothing, so these and the
log spill (warnings only, bounded by ``logs.spill_mb``) are what wears the
card. Counted from ``/proc/self/io``: ``write_bytes`` (what reached the
block layer, the card's wear) and ``wchar`` (what was handed to write()).
"""

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from kiosk.decision import PunchDecision
from kiosk.liveness import LivenessState
from kiosk.logspill import LogsConfig, LogSpill
from kiosk.outbox import Outbox, RememberedPunch
from kiosk.punches import make_signed_punch
from protocol import signing

IST = ZoneInfo("Asia/Kolkata")


def io_counters() -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


class Meter:
    """Bytes written between ``start()`` and ``stop()``, per the kernel."""

    def __enter__(self) -> "Meter":
        os.sync()
        self._before = io_counters()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        os.sync()   # dirty pages of this process's files reach the block layer (counted at dirtying anyway)
        after = io_counters()
        self.write_bytes = after["write_bytes"] - self._before["write_bytes"]
        self.wchar = after["wchar"] - self._before["wchar"]


def punch_cycle(workdir: Path, punches: int) -> dict[str, Meter]:
    key = signing.generate_private_key()
    outbox = Outbox(workdir / "outbox.sqlite")
    ids: list[str] = []
    meters = {}
    try:
        with Meter() as meters["stored"]:
            for i in range(punches):
                decision = PunchDecision(f"E{i % 200:04d}", 0.31, 0.12, LivenessState(True, 0.9, None, "blink"))
                wall = datetime.now(IST)
                row = outbox.add(lambda seq: make_signed_punch(
                    key, device_id="kiosk-0001", site_id="S-PHC1", decision=decision, ts=wall, gallery_version=42,
                    seq=seq))
                outbox.remember_punch(RememberedPunch(decision.employee_id, wall.timestamp(), time.monotonic(), "b"))
                ids.append(row.id)
        with Meter() as meters["marked sent"]:
            for punch_id in ids:                 # one publish per punch, as when staff come one by one
                outbox.mark_sent([punch_id])
        with Meter() as meters["acked"]:
            for punch_id in ids:
                outbox.remove([punch_id])
    finally:
        outbox.close()
    return meters


def spill_cost(workdir: Path, warnings: int, spill_mb: float) -> tuple[Meter, int]:
    spill = LogSpill(workdir, LogsConfig(spill_mb=spill_mb))
    logger = logging.getLogger("benchmarks.sdwear")
    logger.propagate = True
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    spill.open()
    try:
        with Meter() as meter:
            for i in range(warnings):
                logger.warning("broker 10.0.0.5:8883 unreachable ([Errno 111] Connection refused); retrying in "
                               "%.1f s (%d)", 30.0, i)
        size = spill.size_bytes()
    finally:
        spill.close()
        logging.getLogger().setLevel(root_level)
    return meter, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--punches", type=int, default=500)
    parser.add_argument("--warnings", type=int, default=20000, help="warnings logged into a 1 MB spill")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args(argv)
    logging.getLogger().handlers.clear()           # measure the spill alone, not a console handler
    work = Path(tempfile.mkdtemp(prefix="sdwear-", dir=args.workdir))
    try:
        fs = os.statvfs(work)
        for sub in ("outbox", "spill"):
            (work / sub).mkdir()
        meters = punch_cycle(work / "outbox", args.punches)
        spill, spill_size = spill_cost(work / "spill", args.warnings, 1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.punches
    total_wb = sum(m.write_bytes for m in meters.values())
    print("# SD-card wear: what the kiosk writes (section for BENCHMARKS.md)\n")
    print("- command: `python -m benchmarks.sdwear`")
    print(f"- machine: {platform.machine()}, Python {platform.python_version()}, 2 cores shared with other jobs; "
          f"work directory on a real disk (block size {fs.f_bsize} B); an SD card's erase blocks are larger, "
          "so this is the lower bound of what it wears")
    print(f"- data: {n} real signed punches through the real outbox (WAL, synchronous FULL, seq mark file), "
          "each stored + remembered, marked sent and deleted on its ack one at a time; "
          f"{args.warnings} warnings into a 1 MB log spill\n")
    print("| step | block-layer bytes per punch | write() bytes per punch | ms per punch |")
    print("|---|---|---|---|")
    for name, m in meters.items():
        print(f"| {name} | {m.write_bytes / n:,.0f} | {m.wchar / n:,.0f} | {m.seconds * 1000 / n:.2f} |")
    print(f"| **whole life of a punch** | **{total_wb / n:,.0f}** | {sum(m.wchar for m in meters.values()) / n:,.0f} "
          f"| {sum(m.seconds for m in meters.values()) * 1000 / n:.2f} |\n")
    print(f"Log spill: {args.warnings} warnings wrote {spill.write_bytes / 2**20:.1f} MB to the block layer "
          f"({spill.write_bytes / args.warnings:.0f} B each) and the spill held {spill_size / 2**20:.2f} MB at the "
          "end (bounded by `logs.spill_mb`). A healthy kiosk logs a few warnings a day; a broker down all day "
          "logs about one a minute (the capped reconnect backoff), about 1,440 a day.")
    day = 500 * total_wb / n
    print(f"\nA busy office (500 punches a day): about {day / 2**20:.1f} MB a day from the outbox, "
          f"{day * 365 / 2**30:.2f} GB a year, before the card's own write amplification.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
