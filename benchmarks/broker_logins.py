"""Fleet logins: how long thousands of kiosks take to log in to one Mosquitto at once.

Run ``python -m benchmarks.broker_logins`` (about 2 minutes; ``--kiosks``,
``--iterations``). Results go to stdout as Markdown for BENCHMARKS-ingest.md.

This is what happens after a broker restart or a site's network coming
back: every kiosk connects within seconds. Each login makes the
single-threaded broker hash the password (PBKDF2-SHA512 with the hash's own
iteration count), so the count chosen by ``provision broker`` decides how
long the broker is busy. For each setting a fresh broker gets the fleet's
logins and roles (``benchmarks.ingest.fleet_logins``, provisioning's
own functions) and the simulated kiosks of benchmarks/loadgen.py connect
all at once from one process. Reported: time until every kiosk has its
CONNACK, the broker's CPU for it, and the kernel's listen-queue overflows
(a dropped connection attempt is retried by TCP after 1 s, 3 s, 7 s...).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ingest import bench_broker, fleet_logins, make_sites, thread_cpu_s
from benchmarks.loadgen import Shard, plan_kiosks

SITES = 112


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:]))["ListenOverflows"])
    return 0


def measure(kiosks: int, iterations: int | None, workdir: Path) -> dict:
    """Connect ``kiosks`` at once to a fresh broker; ``iterations`` None means no logins at all."""
    specs = plan_kiosks(make_sites(SITES, kiosks * 10), kiosks, prefix="login")
    extra = "max_connections -1\n"
    if iterations is not None:
        extra += fleet_logins(workdir / f"fleet-{iterations}", specs, iterations).broker_config
    broker = bench_broker(workdir / f"mosquitto-{iterations}", extra)
    shard = Shard(specs, "127.0.0.1", broker.port)
    try:
        cpu0, drops0 = thread_cpu_s(broker._proc.pid), listen_overflows()  # noqa: SLF001
        started = time.monotonic()
        connected = shard.connect_all(timeout_s=300)
        took = time.monotonic() - started
        return {"iterations": iterations, "kiosks": kiosks, "connected": connected, "seconds": took,
                "broker_cpu_s": thread_cpu_s(broker._proc.pid) - cpu0,  # noqa: SLF001
                "overflows": listen_overflows() - drops0}
    finally:
        shard.close()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", default="2000,9000", help="fleet sizes, comma-separated")
    parser.add_argument("--iterations", default="none,101,1000",
                        help="PBKDF2 iterations of the password hashes; 'none' = anonymous broker")
    args = parser.parse_args(argv)
    from benchmarks.common import markdown_table

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-logins-") as tmp:
        for kiosks in (int(k) for k in args.kiosks.split(",")):
            for it in args.iterations.split(","):
                row = measure(kiosks, None if it == "none" else int(it), Path(tmp))
                print(row, file=sys.stderr, flush=True)
                rows.append(row)
    print(f"- command: `python -m benchmarks.broker_logins {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print(f"- {os.cpu_count()} CPUs shared; load average at end {os.getloadavg()[0]:.2f}")
    print()
    print(markdown_table(
        ["kiosks", "password hashes", "connected", "all logged in after s", "broker CPU s", "broker CPU per login ms",
         "listen-queue overflows"],
        [[f"{r['kiosks']:,}", "none (anonymous)" if r["iterations"] is None else f"PBKDF2-SHA512 x {r['iterations']}",
          f"{r['connected']:,}", f"{r['seconds']:.1f}", f"{r['broker_cpu_s']:.2f}",
          f"{r['broker_cpu_s'] / max(1, r['connected']) * 1e3:.2f}", r["overflows"]] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
