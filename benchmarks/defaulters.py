"""The daily defaulter list at state scale: 106,000 employees in 112 offices, run just after the cut-off.

Run ``python -m benchmarks.defaulters`` (about a minute, mostly loading).

One department with 112 offices, one site each (Asia/Kolkata, cut-off
12:00), 106,000 employees spread evenly. On Wednesday 18 March 2026 95 %
punch in between 09:00 and 11:59, 3 % only after the cut-off, 2 % not at
all (all defaulters: 5 %). The list is computed at 12:15 IST as
``hub deliver defaulters`` does (``hub.delivery.defaulters``, the daily
register's queries and rules), for the whole department (one unit holding
everyone) and for one office; the mail itself (body and CSV) is built too.
Time: median of 3 runs; memory: resident set sampled every 5 ms, its rise
over the process before the first run.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from benchmarks.exports import PeakSampler, rss_mb
from hub.attendance import rules
from hub.db import Employee, OrgUnit, PunchRecord, Site, init_db, make_engine, make_session_factory
from hub.delivery.defaulters import defaulter_list
from hub.delivery.messages import defaulter_mail
from hub.reports import queries as reports

IST = ZoneInfo("Asia/Kolkata")
DAY = date(2026, 3, 18)
OFFICES = 112


def load(engine, n: int) -> int:
    with make_session_factory(engine).begin() as session:
        session.add(OrgUnit(unit_id="DEPT", name="Department", kind="department"))
        session.flush()
        session.add_all([OrgUnit(unit_id=f"OFF{o:03d}", name=f"Office {o}", parent_id="DEPT") for o in range(OFFICES)])
        session.flush()
        session.add_all([Site(site_id=f"S{o:03d}", name=f"Site {o}", unit_id=f"OFF{o:03d}") for o in range(OFFICES)])
        session.flush()
        session.execute(insert(Employee), [
            {"employee_id": f"E{i:06d}", "name": f"Employee {i}", "home_site_id": f"S{i % OFFICES:03d}",
             "unit_id": f"OFF{i % OFFICES:03d}", "category": "permanent", "active": True} for i in range(n)])
    rows = []
    for i in range(n):
        bucket = i % 100
        if bucket < 2:
            continue  # no punch
        wall = dtime(12, 20 + i % 30) if bucket < 5 else dtime(9 + i % 3, i % 60)
        ts = datetime.combine(DAY, wall, tzinfo=IST)
        rows.append({"id": str(uuid.UUID(int=i)), "device_id": "kiosk-1", "site_id": f"S{i % OFFICES:03d}",
                     "employee_id": f"E{i:06d}", "device_ts": ts, "device_utc_offset_min": 330,
                     "received_at": ts + timedelta(seconds=2), "method": "face", "distance": 0.4, "margin": 0.2,
                     "gallery_version": 1, "liveness_passed": True, "liveness_score": 0.9, "seq": 0, "payload": "{}"})
    with engine.begin() as conn:
        for start in range(0, len(rows), 50_000):
            conn.execute(insert(PunchRecord), rows[start:start + 50_000])
        if engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=106_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS-defaulters.md"))
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/hub.sqlite")
        init_db(engine)
        t0 = time.perf_counter()
        punches = load(engine, args.employees)
        print(f"{args.employees:,} employees, {punches:,} punches loaded in {time.perf_counter() - t0:.0f} s",
              flush=True)
        sessions = make_session_factory(engine)
        now = datetime.combine(DAY, dtime(12, 15), tzinfo=IST).astimezone(timezone.utc)
        ctx = reports.ReportContext(rules.WorkCalendar(), rules.FlagPolicy(), now)
        for label, unit in (("department (all 112 offices)", "DEPT"), ("one office", "OFF007")):
            base, walls, cpus = rss_mb(), [], []
            with PeakSampler() as sampler:
                for _ in range(args.repeat):
                    w0, c0 = time.perf_counter(), time.process_time()
                    with sessions() as session:
                        found = defaulter_list(session, ctx, unit_id=unit, day=DAY)
                    mail = defaulter_mail(found, sender="hub@localhost", to=["x@localhost"])
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
            results.append((label, found.employees, len(found.defaulters), statistics.median(walls), min(walls),
                            statistics.median(cpus), sampler.peak - base, len(mail.as_bytes())))
            print(results[-1], flush=True)
        engine.dispose()
    lines = [
        "# Daily defaulter list (section for BENCHMARKS.md)", "",
        "- command: `python -m benchmarks.defaulters`",
        f"- machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, 2 cores "
        f"shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end)",
        f"- data: {args.employees:,} employees in {OFFICES} offices of one department, {punches:,} punches on "
        f"{DAY} (95 % in before the 12:00 cut-off, 3 % after it, 2 % none), SQLite; computed at 12:15 IST",
        f"- time: median and fastest of {args.repeat} runs of the list plus its mail (body and CSV attachment); "
        "memory: rise of the resident set over the process before the runs (sampled every 5 ms)", "",
        "| scope | employees | defaulters | median s | fastest s | CPU s | memory rise MB | mail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, employees, defaulters, median, fastest, cpu, rise, size in results:
        lines.append(f"| {label} | {employees:,} | {defaulters:,} | {median:.2f} | {fastest:.2f} | {cpu:.2f} | "
                     f"{rise:.0f} | {size / 1e6:.2f} MB |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
