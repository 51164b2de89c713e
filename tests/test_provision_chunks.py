"""Card files in one pass, and a batch made in chunks that fit the disk (issue 18).

The single-pass card (``cardfile.splice_sparse``) must be the very bytes
the former two-pass way made (sparse copy of the base, mtools into the
copy, SHA-256 read back), with holes kept and its SHA-256 what
``sha256sum`` prints. ``--max-cards``/``--flashed`` must keep a batch
idempotent although flashed card files are deleted: a flashed card is not
remade, a changed row is. The hub is the fake (registration against the
real hub is tests/test_provision_batch.py's).
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from provisioning import image
from provisioning.cardfile import copy_sparse, extract_sparse, sha256_file, splice_sparse
from provisioning.cards import CHECKSUMS, MANIFEST
from provisioning.cli import main
from provisioning.fatimage import FatImage
from provisioning.partitions import Partition
from tests.fake_hub_api import FakeHub
from tests.raspios_image import Layout, needs_image_tools, read_boot
from tests.test_provision_batch import card_batch_env

pytestmark = needs_image_tools

MIB = 1024 * 1024


def test_splice_keeps_holes_and_hashes_them_as_zeros(tmp_path):
    base, patch, card = tmp_path / "base.img", tmp_path / "patch", tmp_path / "card.img"
    with base.open("wb") as f:  # data, hole across the patch's start, data inside and after the patch, hole at end
        f.write(os.urandom(MIB))
        f.seek(3 * MIB)
        f.write(os.urandom(2 * MIB))
        f.seek(9 * MIB)
        f.write(os.urandom(MIB))
        f.truncate(16 * MIB)
    with patch.open("wb") as f:  # a hole at its start, data in the middle, a hole at its end
        f.seek(MIB // 2)
        f.write(os.urandom(MIB))
        f.truncate(4 * MIB)
    card.write_bytes(b"an old card" * 1_000_000)  # replaced, not merged
    offset = 2 * MIB
    digest = splice_sparse(base, patch, offset, card)

    expected = bytearray(base.read_bytes())
    expected[offset:offset + 4 * MIB] = patch.read_bytes()
    assert card.read_bytes() == bytes(expected)
    assert digest == hashlib.sha256(expected).hexdigest() == sha256_file(card)
    assert card.stat().st_blocks * 512 <= 4 * MIB  # 1 + 1 (base outside the patch) + 1 (patch) MiB of data
    assert oct(card.stat().st_mode & 0o777) == oct(0o600)  # a card holds its device's key


def test_a_patch_that_does_not_fit_is_refused(tmp_path):
    from provisioning.errors import ImageError

    base, patch = tmp_path / "base.img", tmp_path / "patch"
    base.write_bytes(bytes(4096))
    patch.write_bytes(bytes(1024))
    with pytest.raises(ImageError, match="does not fit"):
        splice_sparse(base, patch, 3584, tmp_path / "card.img")


def _batch_env(tmp_path: Path) -> tuple[FakeHub, Path, Layout, list[str]]:
    hub, base, layout, hub_args = card_batch_env(tmp_path)
    return hub, base, layout, ["--image", str(base), "--out", str(tmp_path / "cards"), *hub_args]


def _csv(path: Path, rows: int, hostnames: dict[str, str] | None = None) -> Path:
    hostnames = hostnames or {}
    path.write_text("device_id,site_id,hostname\n" + "".join(
        f"K-{n},S1,{hostnames.get(f'K-{n}', '')}\n" for n in range(1, rows + 1)))
    return path


def test_the_batch_card_is_the_two_pass_card_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764806400")  # mtools stamps files with this, not the clock
    hub, base, layout, argv = _batch_env(tmp_path)
    assert main(["batch", str(_csv(tmp_path / "a.csv", 1)), *argv], transport=hub.transport()) == 0
    cards = tmp_path / "cards"
    card = cards / "K-1.img"

    part, _ = image.locate_boot_partition(base)  # the former way: copy, mtools into the copy, read it all back
    stage = tmp_path / "stage"
    stage.mkdir()
    image.stage_files(image.ImageRequest(base, cards / "K-1"), FatImage(base, part), stage)
    two_pass = tmp_path / "two-pass.img"
    copy_sparse(base, two_pass)
    FatImage(two_pass, part).copy_in(sorted(stage.iterdir()))
    assert card.read_bytes() == two_pass.read_bytes()
    sums = (cards / CHECKSUMS).read_text()
    assert sums == f"{sha256_file(two_pass)}  K-1.img\n"
    check = subprocess.run(["sha256sum", "-c", CHECKSUMS], cwd=cards, capture_output=True, text=True, check=False)
    assert (check.returncode, check.stdout.strip()) == (0, "K-1.img: OK")
    assert card.stat().st_blocks * 512 < card.stat().st_size / 2  # holes stay holes
    assert read_boot(card, layout, "kiosk/credentials/device.key") == (cards / "K-1/credentials/device.key"
                                                                        ).read_bytes()

    boot = tmp_path / "boot.part"  # and the pieces alone: the boot partition made apart, then spliced in
    extract_sparse(base, part.offset, part.size, boot)
    FatImage(boot, Partition(part.number, part.kind, 0, part.sectors, True)).copy_in(sorted(stage.iterdir()))
    assert splice_sparse(base, boot, part.offset, tmp_path / "one-pass.img") == sha256_file(two_pass)


def test_chunks_fit_the_disk_and_reruns_keep_flashed_cards(tmp_path, capsys):
    hub, base, _layout, argv = _batch_env(tmp_path)
    cards = tmp_path / "cards"
    run = lambda csv, *extra: main(["batch", str(csv), *argv, *extra], transport=hub.transport())  # noqa: E731
    csv = _csv(tmp_path / "a.csv", 5)

    assert run(csv, "--max-cards", "2") == 0  # deferred cards are not failures
    out = capsys.readouterr().out
    assert "cards: 2 written, 0 unchanged, 3 left to make (--max-cards)" in out
    assert "K-3): created, card K-3.img left for the next run (--max-cards)" in out
    assert f"3 cards left to make: flash the card files in {cards}" in out
    assert sorted(p.name for p in cards.glob("*.img")) == ["K-1.img", "K-2.img"]
    first = {d: json.loads((cards / MANIFEST).read_text())["cards"][d]["sha256"] for d in ("K-1", "K-2")}
    assert len(hub.devices) == 5  # every row registered and bundled; only the card files wait

    flashed = [str(p) for p in sorted(cards.glob("*.img"))]
    assert run(csv, "--max-cards", "2", "--flashed", *flashed) == 0
    out = capsys.readouterr().out
    assert "recorded as flashed, files deleted: 2 cards" in out
    assert "cards: 2 written, 2 unchanged (2 of them flashed earlier), 1 left to make" in out
    assert "K-1): already registered, card K-1.img unchanged, flashed earlier" in out
    assert sorted(p.name for p in cards.glob("*.img")) == ["K-3.img", "K-4.img"]
    manifest = json.loads((cards / MANIFEST).read_text())["cards"]
    assert {d: (e.get("flashed"), e["sha256"]) for d, e in manifest.items() if d in first} == {
        d: (True, sha) for d, sha in first.items()}
    assert sorted(line.split("  ")[1] for line in (cards / CHECKSUMS).read_text().splitlines()) == [
        "K-3.img", "K-4.img"]  # sha256sum -c over the files that are there

    assert run(csv) == 0  # no limit: the last card; flashed ones stay made, the unflashed files are kept
    assert "cards: 1 written, 4 unchanged (2 of them flashed earlier)" in capsys.readouterr().out
    before = {p.name: p.stat().st_mtime_ns for p in cards.glob("*.img")}
    assert sorted(before) == ["K-3.img", "K-4.img", "K-5.img"]

    (cards / "K-4.img").unlink()  # deleted without --flashed: not recorded as on a card, so made again
    changed = _csv(tmp_path / "b.csv", 5, {"K-2": "gate-2"})  # and a flashed row changed: its card is remade
    assert run(changed, "--max-cards", "1") == 0
    out = capsys.readouterr().out
    assert "cards: 1 written, 3 unchanged (1 of them flashed earlier), 1 left to make" in out
    assert "K-2): already registered, card K-2.img written" in out
    assert "K-4): already registered, card K-4.img left for the next run" in out
    assert not json.loads((cards / MANIFEST).read_text())["cards"]["K-2"].get("flashed")
    assert run(changed) == 0
    assert "cards: 1 written, 4 unchanged (1 of them flashed earlier)" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in cards.glob("*.img") if p.name in ("K-3.img", "K-5.img")} == {
        n: before[n] for n in ("K-3.img", "K-5.img")}


def test_flashed_refuses_a_file_the_batch_did_not_make_and_changes_nothing(tmp_path, capsys):
    hub, _base, _layout, argv = _batch_env(tmp_path)
    cards = tmp_path / "cards"
    csv = _csv(tmp_path / "a.csv", 2)
    assert main(["batch", str(csv), *argv], transport=hub.transport()) == 0
    os.truncate(cards / "K-2.img", 4096)  # damaged (or half-copied) since it was made: it is not what was flashed
    capsys.readouterr()
    assert main(["batch", str(csv), *argv, "--flashed", str(cards / "K-1.img"), str(cards / "K-2.img")],
                transport=hub.transport()) == 1
    assert "K-2.img is not a card file this batch made" in capsys.readouterr().err
    assert (cards / "K-1.img").exists()  # nothing marked, nothing deleted
    assert not any(e.get("flashed") for e in json.loads((cards / MANIFEST).read_text())["cards"].values())
    assert main(["batch", str(csv), *argv, "--max-cards", "0"], transport=hub.transport()) == 1
    assert "--max-cards 0" in capsys.readouterr().err
