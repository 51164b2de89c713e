"""What ``provision batch --image`` costs per card, on an image the size of Raspberry Pi OS Lite.

Run ``python -m benchmarks.provision_cards`` (a few minutes; ``--cards``,
``--root-mib``, ``--data-mib``, ``--wheelhouse-mib``; needs ~3 GB free per
card in ``--workdir``). Results go to stdout as Markdown for
BENCHMARKS-provision.md.

The base is built like Raspberry Pi OS's (tests/raspios_image.py: MBR,
512 MiB FAT32 ``bootfs`` at sector 8192, ext4 root from ``mkfs.ext4 -d``)
with ``--data-mib`` of incompressible files in the root, so the copy moves
as many bytes as the real image's used blocks; the wheelhouse is stand-in
files of the real one's size (~165 MB, provisioning/README.md), copied into
each card's boot partition as the real wheels are. The hub is the fake
(httpx MockTransport): registration is measured in tests, not here.

Reported per card: the whole ``provision batch`` row, and its parts measured
alone on the same files (sparse copy of the base, SHA-256 of a card, the
first-boot files staged and written with mtools); an unchanged rerun; the
disk each card file takes; and the per-device cost of the other design
(one shared image + a per-device folder copied onto each flashed card).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from provisioning import image, tls
from provisioning.cardfile import copy_sparse, sha256_file
from provisioning.cli import main
from provisioning.fatimage import FatImage
from tests.fake_hub_api import FakeHub
from tests.raspios_image import Layout, build_image

MIB = 1024 * 1024


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


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-cards-", dir=args.workdir))
    try:
        layout = Layout(boot_mib=512, root_mib=args.root_mib)
        base = work / "raspios-lite.img"
        t_build, _ = timed(build_image, base, root_tree(work / "tree", args.data_mib), layout)
        shutil.rmtree(work / "tree")
        wh = wheelhouse(work / "wheelhouse", args.wheelhouse_mib)
        hub = FakeHub(sites=("S1",))
        (work / "token").write_text(hub.token)
        (work / "broker").mkdir()
        tls.ensure_ca(work / "broker")
        csv_path = work / "sites.csv"
        csv_path.write_text("device_id,site_id\n" + "".join(f"K-{n:04d},S1\n" for n in range(args.cards)))
        argv = ["batch", str(csv_path), "--image", str(base), "--out", str(work / "cards"), "--wheelhouse", str(wh),
                "--hub", "https://hub.example.org", "--token-file", str(work / "token")]
        t_batch, rc = timed(main, argv, hub.transport())
        assert rc == 0
        t_rerun, rc = timed(main, argv, hub.transport())
        assert rc == 0
        card = work / "cards/K-0000.img"
        t_copy, copied = timed(copy_sparse, base, work / "copy.img")
        t_sha, _ = timed(sha256_file, card)
        request = image.ImageRequest(work / "copy.img", work / "cards/K-0000", wheelhouse=wh)
        part, _ = image.locate_boot_partition(base)
        stage = work / "stage"
        stage.mkdir()
        t_stage, _ = timed(image.stage_files, request, FatImage(base, part), stage)
        t_fat, _ = timed(FatImage(work / "copy.img", part).copy_in, sorted(stage.iterdir()))
        st = card.stat()
        return {"cards": args.cards, "image_mib": base.stat().st_size / MIB, "data_mib": copied / MIB,
                "build_s": t_build, "batch_s": t_batch, "rerun_s": t_rerun, "copy_s": t_copy, "sha_s": t_sha,
                "stage_s": t_stage, "fat_s": t_fat, "card_alloc_mib": st.st_blocks * 512 / MIB,
                "wheelhouse_mib": sum(p.stat().st_size for p in wh.iterdir()) / MIB, "load": os.getloadavg()[0]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(r: dict) -> str:
    per = r["batch_s"] / r["cards"]
    return "\n".join([
        f"- base: {r['image_mib']:,.0f} MiB image (512 MiB FAT32 boot, ext4 root), {r['data_mib']:,.0f} MiB of it "
        f"data (the rest holes); wheelhouse {r['wheelhouse_mib']:,.0f} MiB; {r['cards']} cards; "
        f"load average {r['load']:.1f} at the end on 2 cores",
        f"- `provision batch --image`: {r['batch_s']:.1f} s for {r['cards']} cards = **{per:.1f} s per card**; "
        f"rerun with nothing changed {r['rerun_s']:.1f} s ({r['rerun_s'] / r['cards']:.2f} s per card)",
        f"- parts, one card: sparse copy of the base {r['copy_s']:.1f} s, SHA-256 of the card {r['sha_s']:.1f} s, "
        f"first-boot files staged {r['stage_s']:.2f} s and written with mtools {r['fat_s']:.1f} s",
        f"- disk per card file: {r['card_alloc_mib']:,.0f} MiB allocated of {r['image_mib']:,.0f} MiB",
        f"- 200 cards, extrapolated linearly: {200 * per / 60:.0f} min and "
        f"{200 * r['card_alloc_mib'] / 1024:,.0f} GiB of disk; the shared-image alternative would cost "
        f"{r['stage_s'] + r['fat_s']:.1f} s per device here, but adds a second, manual write to every card",
    ])


def main_cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=3)
    parser.add_argument("--root-mib", type=int, default=2200, help="ext4 root size (Pi OS Lite: ~2.2 GiB)")
    parser.add_argument("--data-mib", type=int, default=1700, help="random data in the root (its used blocks)")
    parser.add_argument("--wheelhouse-mib", type=int, default=165)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    result = run(args)
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
