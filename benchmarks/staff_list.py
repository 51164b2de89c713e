"""The staff list at state scale: 100,000 employees, first page and searches through the HTTP API.

Run ``python -m benchmarks.staff_list`` (a minute or two, mostly loading rows); it writes
BENCHMARKS-staff.md, then ``python -m benchmarks.collect`` folds it into BENCHMARKS.md.

100,000 employees in 100 offices (one site each) are written to a fresh SQLite file and, when
it answers, a throwaway PostgreSQL database on 127.0.0.1:5432. Each request is timed end to end
through FastAPI's TestClient as the dashboard sends it (``GET /api/v1/employees?limit=50&count=true``
plus ``q=`` for searches; auth, query, count and JSON included, network excluded). The target is
under 300 ms for the first page and for each search. On PostgreSQL the search uses the trigram and
pattern-ops indexes of migration a3c9e1f07b52; the table is analyzed after loading, as autovacuum
would do.
"""

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, text

from hub.api import create_app
from hub.config import HubConfig
from hub.db import Employee, OrgUnit, Site, init_db, make_engine

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
QUERIES = [("first page", None), ("staff-number prefix", "E0421"), ("name part", "kumar"),
           ("rare name", "Zorawar"), ("no match", "qqqq")]
FIRST_NAMES = ["Asha", "Ramesh", "Sunita", "Vikram", "Meena", "Arjun", "Kavita", "Suresh", "Pooja", "Anil"]
LAST_NAMES = ["Kumar", "Sharma", "Devi", "Singh", "Yadav", "Verma", "Gupta", "Patel", "Rao", "Mishra"]


def load(engine: Engine, n: int) -> None:
    """``n`` employees E000001.. in 100 offices with one site each; one "Zorawar" in 10,000."""
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(insert(OrgUnit), [{"unit_id": "DEPT", "name": "Department", "kind": "department", "parent_id": None}]
                     + [{"unit_id": f"U{u:03d}", "name": f"Office {u}", "kind": "office", "parent_id": "DEPT"}
                        for u in range(100)])
        conn.execute(insert(Site), [{"site_id": f"S{u:03d}", "name": f"Site {u}", "unit_id": f"U{u:03d}"} for u in range(100)])
        rows = [{"employee_id": f"E{i:06d}", "unit_id": f"U{i % 100:03d}", "home_site_id": f"S{i % 100:03d}",
                 "name": "Zorawar Bedi" if i % 10_000 == 7 else
                 f"{FIRST_NAMES[i % 10]} {LAST_NAMES[(i // 10) % 10]} {i}", "category": "permanent", "active": True}
                for i in range(1, n + 1)]
        for start in range(0, n, 10_000):
            conn.execute(insert(Employee), rows[start:start + 10_000])
    if engine.dialect.name == "postgresql":
        # autovacuum analyzes a table this size within a minute of loading; the benchmark would
        # otherwise time the planner's guesses on a table it has no statistics for (a sequential scan)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE employees"))


def measure(engine: Engine, workdir: Path, repeats: int) -> list[tuple[str, str | None, int, float, float]]:
    """(label, q, total, median ms, max ms) per query, through the API as the admin."""
    token = secrets.token_urlsafe(32)
    (workdir / "admin.token").write_text(token)
    config = HubConfig.model_validate({"admin_token_file": str(workdir / "admin.token"),
                                       "enrolment": {"photo_dir": str(workdir / "photos")}})
    client = TestClient(create_app(config, engine), headers={"Authorization": f"Bearer {token}"})
    out = []
    for label, q in QUERIES:
        params = {"limit": 50, "count": "true", **({"q": q} if q else {})}
        assert client.get("/api/v1/employees", params=params).status_code == 200  # warm
        times, total = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get("/api/v1/employees", params=params)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            total = response.json()["total"]
        out.append((label, q, total, statistics.median(times), max(times)))
    client.close()
    return out


def postgres_engine() -> tuple[Engine, callable] | None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"bench_staff_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001  (no PostgreSQL here: SQLite only)
        print(f"PostgreSQL not measured: {exc.__class__.__name__}", file=sys.stderr)
        return None
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return engine, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-staff.md")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        engine = make_engine(f"sqlite:///{workdir / 'hub.sqlite'}")
        load(engine, args.employees)
        results["SQLite"] = measure(engine, workdir, args.repeats)
        engine.dispose()
        pg = postgres_engine()
        if pg is not None:
            engine, drop = pg
            try:
                load(engine, args.employees)
                results["PostgreSQL"] = measure(engine, workdir, args.repeats)
            finally:
                drop()
    lines = ["# Staff list (dashboard Staff page)", "",
             f"{args.employees:,} employees in 100 offices; `GET /api/v1/employees?limit=50&count=true[&q=...]` "
             f"through FastAPI's TestClient as the admin, median and worst of {args.repeats} after one warm-up. "
             f"Target: under 300 ms. Machine: {platform.machine()}, Python {platform.python_version()}, "
             f"2 cores shared with other work (load average {os.getloadavg()[0]:.1f} at the end). Rerun: `python -m benchmarks.staff_list`.", "",
             "| database | request | q | matches | median ms | max ms |", "|---|---|---|---:|---:|---:|"]
    for db, rows in results.items():
        lines += [f"| {db} | {label} | {q or ''} | {total:,} | {median:.0f} | {worst:.0f} |"
                  for label, q, total, median, worst in rows]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
