"""Gallery build with face templates encrypted at rest: 10,000 templates, plain vs AES-GCM.

Run ``python -m benchmarks.template_crypto`` (about a minute); it writes
BENCHMARKS-template-crypto.md, then ``python -m benchmarks.collect`` folds it in.

What is timed: ``hub.enrolment.gallery.build_delta(site, 0)``, the full
gallery a kiosk receives (every template read, opened and base64-encoded),
on a fresh SQLite file and, when it answers, a throwaway PostgreSQL
database; median and worst of N after one warm-up, the two modes timed
in turn. "plain" registers a
pass-through cipher for the engine, so the rows are stored and read as
before encryption (the same code path otherwise); "AES-GCM" is the shipped
``hub.enrolment.template_cipher``. Also timed: writing the 10,000 rows.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import Session

from hub.db import Employee, FaceTemplate, GalleryMember, Site, init_db, make_engine, utcnow
from hub.enrolment import template_cipher
from hub.enrolment.gallery import build_delta

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
SITE = "S1"


class PassThrough:
    """The storage before encryption: templates written and read as they are."""

    def seal(self, plain: bytes) -> bytes:
        return plain

    def open(self, sealed: bytes) -> bytes:
        return bytes(sealed)


def load(engine: Engine, templates: int, per_person: int) -> float:
    """``templates`` random templates, ``per_person`` each, all in SITE's gallery; seconds to write them."""
    init_db(engine)
    people = templates // per_person
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((templates, 128)).astype("<f4")
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"site_id": SITE, "name": "Site 1", "gallery_version": 1}])
        conn.execute(insert(Employee), [{"employee_id": f"E{i:06d}", "name": f"Person {i}", "home_site_id": SITE}
                                        for i in range(people)])
        conn.execute(insert(GalleryMember), [{"site_id": SITE, "employee_id": f"E{i:06d}", "version": 1,
                                              "removed": False} for i in range(people)])
    now = utcnow()
    rows = [{"employee_id": f"E{i // per_person:06d}", "encoding": vectors[i].tobytes(), "source": f"{i}.jpg",
             "created_at": now} for i in range(templates)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(FaceTemplate), rows)
    return time.perf_counter() - started


def cipher_only(workdir: Path, n: int, repeats: int) -> tuple[float, float]:
    """(median ms to seal n templates, median ms to open them) with the shipped cipher, no database."""
    cipher = template_cipher.TemplateCipher(workdir / "cipher-only.secret")
    plain = [np.random.default_rng(i).standard_normal(128).astype("<f4").tobytes() for i in range(n)]
    sealed = [cipher.seal(p) for p in plain]  # also makes the key
    seal_ms, open_ms = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for p in plain:
            cipher.seal(p)
        seal_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for blob in sealed:
            cipher.open(blob)
        open_ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(seal_ms), statistics.median(open_ms)


def build_ms(engine: Engine) -> tuple[float, int]:
    """(ms, templates sent) of one full gallery build."""
    with Session(engine) as session:
        started = time.perf_counter()
        delta = build_delta(session, SITE, 0)
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, sum(len(p.encodings) for p in delta.upserts)


def run(make, label: str, args, results: list) -> None:
    """Both modes loaded side by side, then timed in turn (plain, AES-GCM, plain, ...), so a burst of
    load from the other users of the machine hits both alike."""
    engines, cleanups, info = {}, [], {}
    try:
        for mode in ("plain", "AES-GCM"):
            engine, cleanup = make()
            cleanups.append(cleanup)
            if mode == "plain":
                template_cipher.register(engine.dialect, PassThrough())
            write_s = load(engine, args.templates, args.per_person)
            with engine.connect() as conn:
                size = len(conn.execute(text("SELECT encoding FROM face_templates LIMIT 1")).scalar())
            build_ms(engine)  # warm
            engines[mode], info[mode] = engine, (size, write_s * 1000)
        times: dict[str, list[float]] = {mode: [] for mode in engines}
        counts = {}
        for _ in range(args.repeats):
            for mode, engine in engines.items():
                elapsed, counts[mode] = build_ms(engine)
                times[mode].append(elapsed)
        for mode in engines:
            size, write_ms = info[mode]
            results.append((label, mode, size, counts[mode], write_ms, statistics.median(times[mode]),
                            max(times[mode])))
    finally:
        for cleanup in cleanups:
            cleanup()


def sqlite_maker(workdir: Path):
    def make():
        path = workdir / f"{uuid.uuid4().hex}.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        return engine, engine.dispose
    return make


def postgres_maker(workdir: Path):
    def make():
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"bench_tpl_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                             template_key_file=workdir / "pg-template-key.secret")

        def drop() -> None:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return engine, drop
    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--per-person", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-template-crypto.md")
    args = parser.parse_args(argv)
    results: list = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seal_ms, open_ms = cipher_only(workdir, args.templates, args.repeats)
        run(sqlite_maker(workdir), "SQLite", args, results)
        try:
            create_engine(PG_ADMIN_URL).connect().close()
        except Exception as exc:  # noqa: BLE001  (no PostgreSQL here: SQLite only)
            print(f"PostgreSQL not measured: {exc.__class__.__name__}", file=sys.stderr)
        else:
            run(postgres_maker(workdir), "PostgreSQL", args, results)
    lines = ["# Templates encrypted at rest (gallery build)", "",
             f"A full gallery of {args.templates:,} templates ({args.per_person} per person) built by "
             f"`hub.enrolment.gallery.build_delta` (what a new kiosk receives: every row read, opened, base64), "
             f"median and worst of {args.repeats} after one warm-up, the two modes timed in turn; 'write' is one INSERT "
             "of all rows. "
             "'plain' stores templates as before encryption (a pass-through cipher on the same code path). "
             f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores shared with other work "
             f"(load average {os.getloadavg()[0]:.1f} at the end). Rerun: `python -m benchmarks.template_crypto`.", "",
             "| database | templates stored | bytes/row | templates sent | write ms | build median ms | build max ms |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {db} | {mode} | {size} | {count:,} | {write:.0f} | {median:.0f} | {worst:.0f} |"
              for db, mode, size, count, write, median, worst in results]
    lines += ["", f"The cipher alone (no database), median of {args.repeats}: sealing {args.templates:,} templates "
              f"{seal_ms:.0f} ms, opening them {open_ms:.0f} ms ({1000 * open_ms / args.templates:.1f} µs each). "
              "Differences between the build rows smaller than the worst-to-median spread are noise of the "
              "shared machine."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
