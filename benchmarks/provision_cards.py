"""What ``provision batch --image`` costs for a whole batch, measured card by card, in disk-sized chunks.

Run ``python -m benchmarks.provision_cards --cards 200 --chunk 20 --workdir /work/...``
(``--root-mib``, ``--data-mib``, ``--wheelhouse-mib``; needs ~2 GiB free per
card of a chunk in ``--workdir``, plus the base). It writes
BENCHMARKS-provision.md (``--out``) and prints it.

The base is built like Raspberry Pi OS's (tests/raspios_image.py: MBR,
512 MiB FAT32 ``bootfs`` at sector 8192, ext4 root from ``mkfs.ext4 -d``)
with ``--data-mib`` of incompressible files in the root, so a card moves as
many bytes as the real image's used blocks; the wheelhouse is stand-in
files of the real one's size (~165 MB, provisioning/README.md), copied into
each card's boot partition as the real wheels are. The hub is the fake
(httpx MockTransport): registration is measured in tests, not here.

The batch runs as an IT person runs it on a laptop: the real ``provision
batch`` entry with ``--max-cards CHUNK``, then again with ``--flashed`` on
the chunk's card files (recorded as flashed and deleted) until every card
is made; then once more with nothing changed. Per card: the time from one
card file's completion to the next (its mtime; the first of a chunk from the
run's start, so it also holds the run's start-up and the check of earlier
rows). Also measured alone on one card: the former two-pass way (sparse
copy, mtools, SHA-256 of the card) against the single pass, with the two
cards compared byte for byte (their SHA-256). The load average is sampled
through the run, since the machine is shared.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from provisioning import image, tls
from provisioning.cardfile import copy_sparse, extract_sparse, sha256_file, splice_sparse
from provisioning.cards import CHECKSUMS, MANIFEST
from provisioning.cli import main
from provisioning.fatimage import FatImage
from provisioning.partitions import Partition
from tests.fake_hub_api import FakeHub
from tests.raspios_image import Layout, build_image

MIB = 1024 * 1024
GIB = 1024 * MIB
REPO = Path(__file__).resolve().parents[1]


def root_tree(folder: Path, data_mib: int) -> Path:
    """A root with ``data_mib`` of random files (64 MiB each), like an OS's used blocks."""
    (folder / "usr/lib").mkdir(parents=True)
    left = data_mib
    n = 0
    while left > 0:
        size = min(64, left)
        with open(folder / f"usr/lib/blob{n}.so", "wb") as f:
            f.writelines(os.urandom(MIB) for _ in range(size))
        left -= size
        n += 1
    return folder


def wheelhouse(folder: Path, total_mib: int) -> Path:
    folder.mkdir()
    (folder / "face_attendance-0.1.0-py3-none-any.whl").write_bytes(os.urandom(MIB))
    for n in range(max(1, total_mib // 8)):
        (folder / f"dep{n}-1.0-cp313-cp313-manylinux_2_28_aarch64.whl").write_bytes(os.urandom(8 * MIB))
    return folder


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


class LoadSampler(threading.Thread):
    """The 1-minute load average every ``every`` seconds, while the batch runs."""

    def __init__(self, every: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self.stop.wait(self.every)


def allocated(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (sparse files count only their data)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def run_cli(argv: list[str], hub: FakeHub) -> tuple[float, int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        seconds, rc = timed(main, argv, hub.transport())
    return seconds, rc, out.getvalue()


def two_ways(base: Path, bundle: Path, wh: Path, work: Path, expected: str) -> dict:
    """One card made the former way (copy, mtools, hash) and in one pass; both must match ``expected``."""
    part, _ = image.locate_boot_partition(base)
    stage = work / "stage"
    stage.mkdir()
    t_stage, _ = timed(image.stage_files, image.ImageRequest(base, bundle, wheelhouse=wh), FatImage(base, part), stage)
    staged = sorted(stage.iterdir())
    old, new, boot = work / "old.img", work / "new.img", work / "boot.part"
    t_copy, _ = timed(copy_sparse, base, old)
    t_fat, _ = timed(FatImage(old, part).copy_in, staged)
    t_sha, old_sha = timed(sha256_file, old)
    start = time.perf_counter()
    extract_sparse(base, part.offset, part.size, boot)
    FatImage(boot, Partition(part.number, part.kind, 0, part.sectors, True)).copy_in(staged)
    t_boot = time.perf_counter() - start
    t_splice, new_sha = timed(splice_sparse, base, boot, part.offset, new)
    assert old_sha == new_sha == expected, (old_sha, new_sha, expected)
    result = {"stage_s": t_stage, "copy_s": t_copy, "fat_s": t_fat, "sha_s": t_sha, "boot_s": t_boot,
              "splice_s": t_splice, "old_alloc": old.stat().st_blocks * 512, "new_alloc": new.stat().st_blocks * 512}
    for path in (old, new, boot):
        path.unlink()
    shutil.rmtree(stage)
    return result


def run(args: argparse.Namespace) -> dict:
    # mtools stamps the files it writes with the time (FAT: 2 s steps) unless SOURCE_DATE_EPOCH is set: fixed
    # here so the two ways' cards can be compared byte for byte with the batch's card of the same device.
    os.environ["SOURCE_DATE_EPOCH"] = "1764806400"
    work = Path(tempfile.mkdtemp(prefix="bench-cards-", dir=args.workdir))
    sampler = LoadSampler()
    try:
        layout = Layout(boot_mib=512, root_mib=args.root_mib)
        base = work / "raspios-lite.img"
        build_image(base, root_tree(work / "tree", args.data_mib), layout)
        shutil.rmtree(work / "tree")
        wh = wheelhouse(work / "wheelhouse", args.wheelhouse_mib)
        hub = FakeHub(sites=("S1",))
        (work / "token").write_text(hub.token)
        (work / "broker").mkdir()
        tls.ensure_ca(work / "broker")
        csv_path = work / "sites.csv"
        csv_path.write_text("device_id,site_id\n" + "".join(f"K-{n:04d},S1\n" for n in range(args.cards)))
        out = work / "cards"
        argv = ["batch", str(csv_path), "--image", str(base), "--out", str(out), "--wheelhouse", str(wh),
                "--hub", "https://hub.example.org", "--token-file", str(work / "token"), "--max-cards", str(args.chunk)]
        sampler.start()
        chunks: list[dict] = []
        gaps: list[float] = []
        parts = None
        disk_free_min = shutil.disk_usage(work).free
        started = time.perf_counter()
        made = 0
        while made < args.cards:
            flashed = sorted(str(p) for p in out.glob("*.img")) if out.exists() else []
            t0 = time.time_ns()
            seconds, rc, text = run_cli(argv + (["--flashed", *flashed] if flashed else []), hub)
            assert rc == 0, text
            cards = sorted(out.glob("*.img"), key=lambda p: p.stat().st_mtime_ns)
            times = [t0, *(p.stat().st_mtime_ns for p in cards)]
            gaps += [(b - a) / 1e9 for a, b in zip(times, times[1:])]
            made = len(json.loads((out / MANIFEST).read_text())["cards"])
            chunk_disk = allocated(out)
            disk_free_min = min(disk_free_min, shutil.disk_usage(work).free)
            chunks.append({"cards": len(cards), "seconds": seconds, "disk": chunk_disk,
                           "load": os.getloadavg()[0]})
            print(f"chunk {len(chunks)}: {len(cards)} cards in {seconds:.1f} s, {chunk_disk / GIB:.1f} GiB, "
                  f"load {os.getloadavg()[0]:.1f}; {made}/{args.cards} made", file=sys.stderr, flush=True)
            if not cards:
                raise AssertionError(f"a run made no card:\n{text}")
            if parts is None:
                sums = dict(line.split("  ")[::-1] for line in (out / CHECKSUMS).read_text().splitlines())
                parts = two_ways(base, out / "K-0000", wh, work, sums["K-0000.img"])
            if args.stop_at and time.time() > args.stop_at:
                print("stopping: --stop-at reached", file=sys.stderr)
                break
        if made < args.cards:  # stopped early: the last runs cover the rows made, not new ones
            csv_path.write_text("device_id,site_id\n" + "".join(f"K-{n:04d},S1\n" for n in range(made)))
        last = sorted(str(p) for p in out.glob("*.img"))
        t_last, rc, _ = run_cli(argv + ["--flashed", *last], hub)
        assert rc == 0 and not list(out.glob("*.img"))
        total = time.perf_counter() - started
        t_rerun, rc, text = run_cli(argv, hub)
        assert rc == 0 and f"cards: 0 written, {made} unchanged ({made} of them flashed earlier)" in text, text
        sampler.stop.set()
        gaps_sorted = sorted(gaps)
        return {
            "cards": made, "asked": args.cards, "chunk": args.chunk, "chunks": chunks, "total_s": total,
            "last_flashed_s": t_last, "rerun_s": t_rerun, "per_card_mean": statistics.mean(gaps),
            "per_card_median": statistics.median(gaps),
            "per_card_p95": gaps_sorted[min(len(gaps_sorted) - 1, int(0.95 * len(gaps_sorted)))],
            "per_card_max": gaps_sorted[-1], "disk_peak": max(c["disk"] for c in chunks),
            "disk_free_min": disk_free_min, "base_size": base.stat().st_size, "base_alloc": base.stat().st_blocks * 512,
            "wheelhouse_mib": sum(p.stat().st_size for p in wh.iterdir()) / MIB, "parts": parts,
            "load": sampler.samples, "nice": os.nice(0), "ncpu": os.cpu_count(),
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
    finally:
        sampler.stop.set()
        shutil.rmtree(work, ignore_errors=True)


DESIGN = """\
## Why whole card images, and how they fit a laptop's disk

One shared image flashed to every card plus a per-device first-boot folder
copied onto each card's boot partition afterwards would cost only the
staging and the boot-file write per device, and ~0.17 GiB of disk each, but
it adds a second, manual step per card, one that can be skipped or mixed up
(two cards with one bundle are two kiosks with one identity). The card
write itself is the same in both designs and dominates them: the whole OS
(1.8-2.7 GB) goes onto every card, at the card's write speed (not measured
here: no card reader on this machine). Hence whole per-device images.

A card file is sparse (only the base's data plus its boot files take disk),
yet 200 of them are far more than a laptop's free disk, so the batch is
made in chunks: `provision batch devices.csv --image IMG --out DIR
--max-cards 20` writes at most 20 card files and says how many are left;
after flashing them, the same command with `--flashed DIR/*.img` records
them as flashed in `cards.json`, deletes them, and makes the next 20. A
rerun does not remake a flashed card (its file is gone, its inputs are
unchanged), and does remake a changed row. `--card-reader /dev/sdX` writes
each card straight onto the SD card instead (every byte, as `dd`, read back
to compare checksums): no card file, no disk cost; its time is the card's
write and read speed, so it is not benchmarked here (a file standing in for
the card would measure this machine's disk).

Each card file is written in one pass: the boot partition is made apart
(the base's, with the device's files written in by mtools), then the base
before it, the new boot partition and the base after it are streamed into
the card, holes kept as holes, and hashed on the way (holes as zeros), so
`SHA256SUMS` stays a plain `sha256sum -c` list. The former way (sparse
copy, mtools on the card, then a second full read for SHA-256) is timed
above on the same card, and both give the same SHA-256.
"""


def report(r: dict, args: argparse.Namespace) -> str:
    load = r["load"] or [os.getloadavg()[0]]
    p = r["parts"]
    n = r["cards"]
    measured = (f"**{n} cards measured**" if n >= r["asked"] else
                f"**{n} of the {r['asked']} cards asked for measured** (stopped at the time limit; not extrapolated)")
    chunk_rows = "\n".join(
        f"| {i} | {c['cards']} | {c['seconds']:.0f} s | {c['seconds'] / max(c['cards'], 1):.1f} s | "
        f"{c['disk'] / GIB:.1f} GiB | {c['load']:.1f} |" for i, c in enumerate(r["chunks"], start=1))
    return f"""# Card images for a batch (`provision batch --image`)

- command: `nice -n {r['nice']} python -m benchmarks.provision_cards --cards {r['asked']} --chunk {r['chunk']} \
--workdir {args.workdir}` ({r['when']})
- machine: {platform.machine()}, Python {platform.python_version()}, {r['ncpu']} cores shared with other engineers' \
jobs; **load average during the run: min {min(load):.1f}, mean {statistics.mean(load):.1f}, max {max(load):.1f}** \
(1-minute, sampled every 10 s, {len(load)} samples) on {r['ncpu']} cores, so these times are above a quiet laptop's
- base image: built like Raspberry Pi OS Lite (MBR, 512 MiB FAT32 `bootfs` at sector 8192, ext4 root from \
`mkfs.ext4 -d`; tests/raspios_image.py), {r['base_size'] / MIB:,.0f} MiB in all, {r['base_alloc'] / MIB:,.0f} MiB \
of it data, the rest holes; the data share is an assumption about the real image (not checked against the download)
- wheelhouse: {r['wheelhouse_mib']:,.0f} MiB of stand-in files, the size of the real aarch64 wheelhouse, copied \
into every card's boot partition as the real wheels are; hub: the fake (MockTransport)

## {n} cards, made in chunks of {r['chunk']} through `provision batch --max-cards {r['chunk']} --flashed ...`

{measured}: **{r['total_s'] / 60:.1f} min wall time** for all of them (every chunk run, and the last run that \
records the last chunk as flashed: {r['last_flashed_s']:.1f} s).

| per card (card file to card file) | mean | median | p95 | max |
|---|---|---|---|---|
| seconds | {r['per_card_mean']:.1f} | {r['per_card_median']:.1f} | {r['per_card_p95']:.1f} | \
{r['per_card_max']:.1f} |

The first card of each chunk also carries that run's start-up and the check
of the rows made before (staging their files to compare fingerprints), so
it is the slow tail; later chunks check more rows.

- disk: peak **{r['disk_peak'] / GIB:.1f} GiB** in the output folder (one chunk's card files and all bundles), \
{r['disk_peak'] / GIB / max(c['cards'] for c in r['chunks']):.2f} GiB per card file, plus the base's \
{r['base_alloc'] / GIB:.1f} GiB; least free disk seen {r['disk_free_min'] / GIB:.0f} GiB. Without chunks the {n} \
card files would take ~{n * r['disk_peak'] / max(c['cards'] for c in r['chunks']) / GIB:,.0f} GiB at once.
- unchanged rerun of all {n} rows (every card flashed, no card file left): **{r['rerun_s']:.1f} s** \
({r['rerun_s'] / n:.2f} s per row); nothing remade

| chunk | cards | run | per card | output folder on disk | load at the end |
|---|---|---|---|---|---|
{chunk_rows}

## One card, the former two-pass way and the single pass (same card, same SHA-256)

| | time |
|---|---|
| first-boot files staged | {p['stage_s']:.2f} s |
| former: sparse copy of the base | {p['copy_s']:.1f} s |
| former: mtools writes the boot files into the card | {p['fat_s']:.1f} s |
| former: SHA-256 of the card (second full read) | {p['sha_s']:.1f} s |
| **former, total** | **{p['copy_s'] + p['fat_s'] + p['sha_s']:.1f} s** |
| single pass: boot partition made apart (extract + mtools) | {p['boot_s']:.1f} s |
| single pass: base + boot partition streamed into the card, hashed on the way | {p['splice_s']:.1f} s |
| **single pass, total** | **{p['boot_s'] + p['splice_s']:.1f} s** |

Disk per card file: former {p['old_alloc'] / MIB:,.0f} MiB, single pass {p['new_alloc'] / MIB:,.0f} MiB \
(of {r['base_size'] / MIB:,.0f} MiB); the batch's card, the former way's and the single pass's have one SHA-256 \
(mtools' file times fixed with `SOURCE_DATE_EPOCH`). Measured once, after the first chunk, on a loaded machine: the two columns \
saw the same load only roughly.

{DESIGN}"""


def main_cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=3, help="--max-cards of each run (card files on disk at once)")
    parser.add_argument("--root-mib", type=int, default=2200, help="ext4 root size (Pi OS Lite: ~2.2 GiB)")
    parser.add_argument("--data-mib", type=int, default=1700, help="random data in the root (its used blocks)")
    parser.add_argument("--wheelhouse-mib", type=int, default=165)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--stop-at", type=lambda s: datetime.fromisoformat(s).timestamp(), default=None,
                        help="ISO time (e.g. 2026-12-04T07:10+00:00): make no further chunk after it")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-provision.md")
    args = parser.parse_args()
    result = run(args)
    text = report(result, args)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
