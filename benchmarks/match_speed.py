"""1:N match time per query for galleries of 1k, 10k and 100k people.

Run ``python -m benchmarks.match_speed`` (about a minute on two shared cores;
``--queries`` trades time for steadier tails).

Times ``biometrics.matcher.match`` (distances to every gallery row, best
and second best, the open-set decision) on one probe at a time, as the kiosk
calls it. The shipped gallery scores a person by the mean of their
templates, so it holds one row per person whatever the templates per person.
The galleries are synthetic random unit-norm 128-d vectors: they cost
exactly what real templates cost to scan, but they are not faces and say
nothing about accuracy (that is benchmarks.accuracy).

Also measured, for the record: closest-template scoring (one row per
template and a per-person minimum: the scoring before issue 6's change),
the matcher as it was before this benchmark (row-major matrix, square root
over every template before the per-person minimum), and each case with BLAS
held to one thread when threadpoolctl is installed (a kiosk may keep its
other cores for detection).
"""

import argparse
import os
import platform
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np

from biometrics.matcher import Gallery, MatchThresholds, match

TARGET_MS = 5.0  # for 100k people (issue 6)


def blas_lines() -> list[str]:
    """Which BLAS numpy uses and with how many threads (threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return [f"- BLAS: {config.get('name')} {config.get('version')} (threads: default; "
                f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
                "install threadpoolctl for details)"]
    return [
        f"- BLAS: {i.get('internal_api')} {i.get('version')} ({i.get('architecture')}), "
        f"{i.get('num_threads')} threads by default"
        for i in threadpool_info() if i.get("user_api") == "blas"
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(module: str) -> list[str]:
    """The command and the machine, for BENCHMARKS-hardware.md."""
    args = " ".join(sys.argv[1:])
    return [
        f"- command: `python -m {module}{' ' + args if args else ''}`",
        f"- machine: {cpu_model()}, `nproc` = {len(os.sched_getaffinity(0))} (shared with other work while measured); "
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        *blas_lines(),
    ]


def random_people(n_people: int, per_person: int, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Unit-norm random vectors: timing stand-ins only, not faces."""
    t = rng.standard_normal((n_people * per_person, 128)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return {f"E{i:06d}": list(t[i * per_person:(i + 1) * per_person]) for i in range(n_people)}


def legacy_match(gallery: Gallery) -> Callable[[np.ndarray], object]:
    """The matcher before this benchmark: row-major rows, sqrt of every template distance.

    ``gallery`` must use closest scoring (one row per template).
    """
    matrix = np.ascontiguousarray(gallery.matrix)
    sq_norms = np.einsum("ij,ij->i", matrix, matrix)
    starts = gallery._starts  # benchmark only: the same person grouping as the gallery

    def run(probe: np.ndarray) -> object:
        p = np.asarray(probe, dtype=np.float32).reshape(128)
        sq = sq_norms - 2.0 * (matrix @ p) + float(p @ p)
        dists = np.minimum.reduceat(np.sqrt(np.maximum(sq, 0.0)), starts)
        two = np.argpartition(dists, 1)[:2]
        return dists[two]

    return run


def time_queries(run: Callable[[np.ndarray], object], probes: np.ndarray, warmup: int = 5) -> np.ndarray:
    """Milliseconds per call, one probe at a time."""
    for p in probes[:warmup]:
        run(p)
    times = np.empty(len(probes))
    for i, p in enumerate(probes):
        t0 = time.perf_counter_ns()
        run(p)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return times


def thread_settings() -> list[tuple[str, Callable[[], ContextManager]]]:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return [("default", nullcontext)]
    default = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=1)
    settings = [(str(default), nullcontext)]
    if default > 1:
        settings.append(("1", lambda: threadpool_limits(limits=1, user_api="blas")))
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="people per gallery")
    parser.add_argument("--templates", type=int, nargs="+", default=[1, 3], help="templates per person")
    parser.add_argument("--queries", type=int, default=300, help="probes timed per case")
    parser.add_argument("--no-legacy", action="store_true", help="skip timing the previous matcher")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(6)
    thresholds = MatchThresholds()

    print("## 1:N match speed\n")
    print("\n".join(machine_lines("benchmarks.match_speed")))
    print(f"- {args.queries} probes per case, one at a time; galleries are random unit vectors (timing only, not faces)")
    print(f"- shipped scoring: {Gallery({}).scoring} (one row per person); 'closest' is the scoring before "
          "(one row per template, then a per-person minimum)")
    print(f"- target: under {TARGET_MS:.0f} ms per query for 100k people\n")
    header = "| people | templates/person | rows (shipped) | BLAS threads | median ms | p99 ms | build s | closest scoring median ms |"
    if not args.no_legacy:
        header += " previous matcher median ms |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for per_person in args.templates:
        for n in args.sizes:
            people = random_people(n, per_person, rng)
            t0 = time.perf_counter()
            gallery = Gallery(people)
            build_s = time.perf_counter() - t0
            closest = Gallery(people, scoring="closest")
            del people
            probes = rng.standard_normal((args.queries, 128)).astype(np.float32)
            probes /= np.linalg.norm(probes, axis=1, keepdims=True)
            legacy = None if args.no_legacy else legacy_match(closest)
            for threads, limit in thread_settings():
                with limit():
                    ms = time_queries(lambda p, g=gallery: match(g, p, thresholds), probes)
                    ms_closest = time_queries(lambda p, g=closest: match(g, p, thresholds), probes)
                    row = [f"{n:,}", per_person, f"{gallery.row_count:,}", threads,
                           f"{np.median(ms):.2f}", f"{np.percentile(ms, 99):.2f}", f"{build_s:.2f}",
                           f"{np.median(ms_closest):.2f}"]
                    if legacy is not None:
                        row.append(f"{np.median(time_queries(legacy, probes)):.2f}")
                print("| " + " | ".join(str(c) for c in row) + " |", flush=True)
            del gallery, closest, legacy
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
