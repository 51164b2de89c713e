"""Device health at district scale: storing health batches, and a /metrics scrape.

Run ``python -m benchmarks.health`` (about a minute per database).

2,000 kiosks at one site, each with 60 stored health samples, and 200,000
punches received evenly over a day (about 700 in the 5-minute ingest-lag
window). Timed in Python as the worker and the API run it, without MQTT and
HTTP: (1) ``health.record_reports`` + commit for batches of 200 health
messages (the ingest worker's ``batch_max``), each kiosk's skew median and
pruning included; (2) ``metrics.render``, the whole /metrics body;
(3) ``health.device_views``, the core of GET /api/v1/devices. A fleet of
2,000 kiosks sending health once a minute needs 33 messages/s.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text

from hub import metrics
from hub.config import HubConfig
from hub.db import (
    Device,
    DeviceHealthSample,
    PunchRecord,
    Site,
    init_db,
    make_engine,
    make_session_factory,
)
from hub.devices import health
from hub.ingest.punches import ReceivedMessage
from protocol import topics

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
KEY = "A" * 43 + "="


def load(engine: Engine, n_devices: int, n_samples: int, n_punches: int) -> None:
    with make_session_factory(engine).begin() as session:
        session.add(Site(site_id="S1", name="District office"))
        session.flush()
        session.execute(insert(Device), [{"device_id": f"kiosk-{i:05d}", "site_id": "S1", "public_key_b64": KEY,
                                          "created_at": NOW} for i in range(n_devices)])
    with engine.begin() as conn:
        for k in range(n_samples):
            at = NOW - timedelta(minutes=n_samples - k)
            conn.execute(insert(DeviceHealthSample), [{
                "device_id": f"kiosk-{i:05d}", "received_at": at, "device_ts": at, "clock_skew_s": 0.0,
                "uptime_s": 1.0, "outbox_depth": 0, "gallery_version": 1, "sw_version": "0.1.0"}
                for i in range(n_devices)])
        rows = []
        for p in range(n_punches):
            received = NOW - timedelta(seconds=(p * 86_400) // n_punches)
            rows.append({"id": str(uuid.UUID(int=p)), "device_id": f"kiosk-{p % n_devices:05d}", "site_id": "S1",
                         "employee_id": f"E{p % 10_000:05d}", "device_ts": received - timedelta(seconds=2),
                         "device_utc_offset_min": 330, "received_at": received, "method": "face", "distance": 0.4,
                         "margin": 0.2, "gallery_version": 1, "liveness_passed": True, "liveness_score": 0.9,
                         "seq": p, "payload": "{}"})
            if len(rows) == 50_000:
                conn.execute(insert(PunchRecord), rows)
                rows = []
        if rows:
            conn.execute(insert(PunchRecord), rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"))


def health_batches(n_devices: int, batch: int, round_no: int) -> list[list[tuple[ReceivedMessage, health.Report]]]:
    at = NOW + timedelta(minutes=round_no)
    payload = json.dumps({"ts": at.isoformat(), "uptime_s": 60.0, "cpu_temp_c": 50.0, "outbox_depth": 1,
                          "gallery_version": 1, "sw_version": "0.1.0"}).encode()
    items = []
    for i in range(n_devices):
        message = ReceivedMessage(topics.device_topic(f"kiosk-{i:05d}", topics.HEALTH), payload, at)
        items.append((message, health.parse_report(message, max_bytes=65536)))
    return [items[k:k + batch] for k in range(0, len(items), batch)]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), min(walls)


def bench(name: str, engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    init_db(engine)
    t0 = time.perf_counter()
    load(engine, args.devices, args.samples, args.punches)
    print(f"{name}: loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    config = HubConfig.model_validate({"admin_token_file": "unused"})
    factory = make_session_factory(engine)
    batch_times = []
    for round_no in range(args.rounds):
        for batch in health_batches(args.devices, 200, round_no):
            t0 = time.perf_counter()
            with factory() as session:
                health.record_reports(session, batch, config.health, max_payload_bytes=65536)
                session.commit()
            batch_times.append(time.perf_counter() - t0)
    render_now = NOW + timedelta(minutes=args.rounds)

    def scrape() -> None:
        with factory() as session:
            metrics.render(session, config, render_now)

    def views() -> None:
        with factory() as session:
            health.device_views(session, now=render_now, config=config.health)

    result = {"name": name, "batch_median": statistics.median(batch_times), "batch_fastest": min(batch_times),
              "batches": len(batch_times), "metrics": timed(scrape, args.repeat), "views": timed(views, args.repeat),
              "loadavg": os.getloadavg()[0]}
    print(f"  {result}", flush=True)
    return result


def markdown(results: list[dict[str, Any]], args: argparse.Namespace, skipped: str | None) -> str:
    lines = [
        "# Device health at the hub (section for BENCHMARKS.md)", "",
        "- command: `python -m benchmarks.health`",
        f"- machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        "2 cores shared with other jobs while measured",
        f"- data: {args.devices:,} kiosks, {args.samples} stored health samples each, {args.punches:,} punches "
        f"received evenly over 24 h ({args.punches * 300 // 86_400:,} in the 5-minute lag window)",
        "- time: in Python as the ingest worker / API run it, without MQTT and HTTP; health batches of 200 "
        f"messages ({args.rounds} rounds over every kiosk), scrape and device list median of {args.repeat} runs",
        f"- need: {args.devices:,} kiosks at one health a minute = {args.devices / 60:.0f} messages/s", "",
        "| database | health batch of 200, median ms | fastest ms | messages/s (median) | /metrics ms (median / "
        "fastest) | device list ms (median / fastest) |", "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['batch_median'] * 1000:.0f} | {r['batch_fastest'] * 1000:.0f} | "
                     f"{200 / r['batch_median']:,.0f} | {r['metrics'][0] * 1000:.0f} / {r['metrics'][1] * 1000:.0f} | "
                     f"{r['views'][0] * 1000:.0f} / {r['views'][1] * 1000:.0f} |")
    lines.append("")
    lines += [f"{r['name']}: load average after the runs {r['loadavg']:.1f}." for r in results]
    if skipped:
        lines.append(f"Not measured: {skipped}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--punches", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS-health.md"))
    args = parser.parse_args(argv)
    from tests.conftest import postgres_answers

    results, skipped = [], None
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/hub.sqlite")
        try:
            results.append(bench("SQLite", engine, args))
        finally:
            engine.dispose()
    if args.no_postgres or not postgres_answers():
        skipped = "PostgreSQL (not asked for)" if args.no_postgres else "PostgreSQL (did not answer)"
    else:
        name = f"hub_bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
            try:
                results.append(bench("PostgreSQL", engine, args))
            finally:
                engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    args.out.write_text(markdown(results, args, skipped), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
