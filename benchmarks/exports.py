"""Muster roll downloads at department scale: 10,000 employees x 31 days as CSV, Excel and PDF.

Run ``python -m benchmarks.exports`` (a few minutes: loading, then one child process per case).

The data is ``benchmarks.reports``' (10,000 employees in one unit, March
2026, two punches per working day, ~520,000 rows) on SQLite. Each case runs
in its own fresh process, so its peak resident memory (``ru_maxrss``) is its
own: the baseline is the process after imports and the first query
(interpreter, SQLAlchemy, openpyxl/fpdf2 loaded). A case is the muster roll
query and rules, then the file written to a temporary file as the API
streams it (``hub.reports.files.render_month``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub.attendance import rules
from hub.db import init_db, make_engine, make_session_factory
from hub.reports import export
from hub.reports import queries as reports
from hub.reports.heading import unit_heading

MONTH = "2026-03"
CASES = ["muster roll only", "muster roll + CSV", "muster roll + xlsx", "muster roll + PDF"]


PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Resident memory now (ru_maxrss is the lifetime peak, which imports may already have set)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


class PeakSampler:
    """Samples this process's resident memory every 5 ms from a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def run_case(db: str, case: str) -> dict[str, Any]:
    """One case in this process: wall and CPU time, peak RSS above the baseline, output size."""
    from hub.reports.files import render_month
    from hub.reports.pdf import write_muster_pdf  # noqa: F401  (loaded before the baseline)
    from hub.reports.xlsx import write_muster_xlsx  # noqa: F401

    engine = make_engine(f"sqlite:///{db}")
    factory = make_session_factory(engine)
    ctx = reports.ReportContext(rules.WorkCalendar(), rules.FlagPolicy(), datetime(2026, 4, 1, 12, tzinfo=timezone.utc))
    with factory() as s:
        reports.people_of(s, [])  # connection and mappers warmed
    base = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    with PeakSampler() as sampler:
        with factory() as s:
            roll = reports.muster_roll(s, ctx, unit_id="U1", month=MONTH)
            heading = unit_heading(s, title="Muster roll", unit_id="U1", month=MONTH)
        size = 0
        if case.endswith("CSV"):
            size = len(export.muster_csv(roll))
        elif case.endswith("xlsx") or case.endswith("PDF"):
            rendered = render_month("xlsx" if case.endswith("xlsx") else "pdf", heading, roll)
            size = sum(len(chunk) for chunk in rendered.chunks())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"case": case, "wall_s": wall, "cpu_s": cpu, "base_mb": base, "peak_mb": sampler.peak, "bytes": size,
            "rows": len(roll.rows), "days": len(roll.days)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS-exports.md"))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.db, args.case)))
        return 0
    from benchmarks.reports import load

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/hub.sqlite"
        engine = make_engine(f"sqlite:///{db}")
        init_db(engine)
        rows = load(engine, args.employees)
        with engine.begin() as conn:  # half the names in Devanagari: the PDF shapes those (the slow path)
            conn.execute(text("UPDATE employees SET name = 'विजय सिंह ' || employee_id "
                              "WHERE CAST(substr(employee_id, 2) AS INTEGER) % 2 = 0"))
        engine.dispose()
        print(f"{rows:,} punches loaded", flush=True)
        for case in CASES:
            done = subprocess.run([sys.executable, "-m", "benchmarks.exports", "--case", case, "--db", db],
                                  check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    lines = [
        "# Muster roll exports: CSV, Excel, PDF (section for BENCHMARKS.md)", "",
        "- command: `python -m benchmarks.exports`",
        f"- machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"2 cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end)",
        f"- data: {args.employees:,} employees in one unit (half of them named in Devanagari), March 2026 "
        f"(31 days), {rows:,} punches, SQLite",
        "- each case in a fresh process, timed once from the query to the last byte of the file (wall time suffers "
        "most from the shared machine; CPU time is this process's own); memory: resident set sampled every 5 ms "
        "during the case, its peak and its rise over the baseline (after imports and a first query)", "",
        "| case | wall s | CPU s | peak RSS MB | rise over baseline MB | file |", "|---|---|---|---|---|---|",
    ]
    for r in results:
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] else "-"
        lines.append(f"| {r['case']} ({r['rows']:,} x {r['days']} days) | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['base_mb']:.0f} | {size} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
