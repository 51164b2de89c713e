"""Card images for a batch: one ready-to-flash image per device, made from one shared OS image.

Why whole card images and not one shared image plus a per-device folder to
copy onto each flashed card: writing the card dominates either way (the
whole OS goes onto every card), while the second step is one a technician
can skip or mix up, and two cards with one bundle are two kiosks with one
identity. Each card file here is the base image (streamed sparse in one pass:
``cardfile.splice_sparse``) with the device's first-boot files written into
its FAT boot partition (``image.stage_files``), so flashing it is the only
step; the checksum lets the flasher be verified. A card file costs the
laptop ~1.9 GiB of disk (BENCHMARKS-provision.md), so with a card reader
the same bytes go straight onto the SD card instead (``cardreader``).

Reruns are cheap and safe: ``cards.json`` in the output folder records, per
device, a fingerprint of the base image and of every file staged for its
card, and the card's checksum, size and modification time. A card whose
inputs and file are unchanged is not rebuilt.

200 card files do not fit on a laptop, so a batch can be made in chunks:
``max_cards`` caps the card files one run writes (the rest are left for
the next run), and ``mark_flashed`` records cards that were flashed, then
deletes their files. A flashed card counts as made while its inputs stay
the same; a changed row gets a new card file.
"""

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioning import bundle as bundles
from provisioning import cardreader, datapart, image
from provisioning.cardfile import extract_sparse, sha256_file, splice_sparse
from provisioning.errors import ImageError
from provisioning.fatimage import FatImage
from provisioning.partitions import Partition

log = logging.getLogger(__name__)

MANIFEST = "cards.json"
CHECKSUMS = "SHA256SUMS"
CARD_SUFFIX = ".img"


@dataclass(frozen=True)
class Card:
    """One device's card image; ``written`` False means the last run's was still right.

    ``flashed``: made and flashed in an earlier run (its file deleted since);
    ``deferred``: not made in this run (``max_cards`` reached), ``sha256`` empty.
    """

    device_id: str
    path: Path
    sha256: str
    written: bool
    flashed: bool = False
    deferred: bool = False


class CardSkipped(ImageError):
    """The operator skipped this device's card at the card reader; a rerun asks again."""


class CardMaker:
    """Makes ``out/<device_id>.img`` from ``template.image`` (the base) for each bundle.

    ``template`` is an ``image.ImageRequest`` whose ``image`` is the shared
    base and whose ``bundle`` and ``hostname`` are replaced per device; the
    base itself is only read. With ``reader`` each card is written straight
    onto the SD card in that card reader instead (``cardreader``), once
    ``ready(device_id)`` says it is in (False: skip it). ``max_cards``
    caps the card files written by this maker; cards beyond it are deferred.
    """

    def __init__(self, template: image.ImageRequest, out: Path, reader: Path | None = None,
                 ready: Callable[[str], bool] | None = None, max_cards: int | None = None) -> None:
        if max_cards is not None and max_cards < 1:
            raise ImageError(f"--max-cards {max_cards}: make at least one card per run")
        self.template = template
        self.base = Path(template.image)
        self.out = Path(out)
        self.reader = reader
        self.ready = ready or (lambda _device_id: True)
        self.max_cards = max_cards
        self.written = 0
        self._digests: dict[tuple[int, int, int, int], str] = {}
        self.manifest: dict[str, Any] = {}

    def open(self) -> "CardMaker":
        """Check the base image (it must have a FAT boot partition) and load the last run's manifest."""
        self.partition, _variant = image.locate_boot_partition(self.base)
        self.out.mkdir(parents=True, exist_ok=True)
        self.manifest = _load_manifest(self.out / MANIFEST)
        self.base_sha256 = self._base_digest()
        return self

    def _base_digest(self) -> str:
        """The base's SHA-256, reused from the manifest while its path, size and mtime are the same."""
        st = self.base.stat()
        key = [str(self.base.resolve()), st.st_size, st.st_mtime_ns]
        known = self.manifest.get("base", {})
        if known.get("key") == key:
            return known["sha256"]
        log.info("checksumming the base image %s", self.base)
        digest = sha256_file(self.base)
        self.manifest["base"] = {"key": key, "sha256": digest}
        return digest

    def card_path(self, device_id: str) -> Path:
        return self.out / f"{device_id}{CARD_SUFFIX}"

    def make(self, bundle_dir: Path) -> Card:
        """The card of the bundle in ``bundle_dir``: rebuilt only when its inputs or its file changed.

        A card flashed earlier (``mark_flashed``) with the same inputs is
        not rebuilt although its file is gone; once ``max_cards`` card files
        are written, a card that needs writing is deferred instead.
        """
        device_id = bundles.read_meta(bundle_dir)["device_id"]
        card = self.card_path(device_id)
        known = self.manifest.setdefault("cards", {}).get(device_id)
        if self.reader is None and known is None and self._full():  # no need to stage: it is new
            return Card(device_id, card, "", written=False, deferred=True)
        request = replace(self.template, bundle=bundle_dir, hostname=None)
        with tempfile.TemporaryDirectory(prefix="provision-card-") as tmp:
            stage = Path(tmp) / "stage"
            stage.mkdir()
            image.stage_files(request, FatImage(self.base, self.partition), stage)
            fingerprint = self._fingerprint(stage)
            if self.reader is not None:
                return self._flash(request, device_id, stage, fingerprint, known)
            if known and known["fingerprint"] == fingerprint and (known.get("flashed") or _stat_matches(card, known)):
                return Card(device_id, card, known["sha256"], written=False, flashed=bool(known.get("flashed")))
            if self._full():
                return Card(device_id, card, "", written=False, deferred=True)
            digest = self._write(request, card, stage, Path(tmp) / "boot.part")
        st = card.stat()
        self.manifest["cards"][device_id] = {
            "fingerprint": fingerprint, "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        self._save()
        self.written += 1
        return Card(device_id, card, digest, written=True)

    def _full(self) -> bool:
        return self.max_cards is not None and self.written >= self.max_cards

    def mark_flashed(self, cards: list[Path]) -> list[str]:
        """Record these card files as flashed, then delete them; the device ids, or ImageError before any change.

        Only a file this batch made and that is unchanged since (size and
        mtime as in ``cards.json``) is accepted, so the record says what the
        SD card holds; a name whose card is already recorded as flashed is
        accepted again (a rerun of the same command).
        """
        entries = self.manifest.get("cards", {})
        marked: list[str] = []
        for path in cards:
            device_id = Path(path).name.removesuffix(CARD_SUFFIX)
            entry = entries.get(device_id)
            if entry is not None and entry.get("flashed"):
                continue
            if entry is None or not _stat_matches(self.card_path(device_id), entry):
                raise ImageError(f"{path} is not a card file this batch made in {self.out}, or it changed since "
                                 "it was made: nothing marked flashed (rerun without it to remake it)")
            marked.append(device_id)
        for device_id in marked:
            entries[device_id] = {"fingerprint": entries[device_id]["fingerprint"],
                                  "sha256": entries[device_id]["sha256"], "flashed": True}
        self._save()  # recorded before the files go: an interrupted run leaves files, never unrecorded gaps
        for device_id in marked:
            self.card_path(device_id).unlink(missing_ok=True)
            log.info("card %s recorded as flashed; its file is deleted", device_id)
        return marked

    def _flash(self, request: image.ImageRequest, device_id: str, stage: Path, fingerprint: str,
               known: dict[str, Any] | None) -> Card:
        """The card written onto the SD card in the reader; not again if that card had these very inputs.

        With ``--read-only-root`` the kiosk-data partition is then added on
        the card itself, by the code that adds it to a card file (a card
        cannot grow: it is checked to be large enough before anything is
        written); the checksum then covers the card up to that partition's end.
        """
        assert self.reader is not None
        if known and known.get("flashed") and known["fingerprint"] == fingerprint:
            return Card(device_id, self.reader, known["sha256"], written=False)
        if not self.ready(device_id):
            raise CardSkipped(f"no card written: skipped at the card reader {self.reader}")
        plan = image.data_plan(request)
        needed = datapart.needed_bytes(self.base, plan.size_mb, request.root_room_mb) if plan else 0
        cardreader.check_writable_target(self.reader, self.base, needed_bytes=needed)
        with tempfile.TemporaryDirectory(prefix="provision-flash-") as scratch:
            digest = cardreader.write_card(self.base, self.partition, sorted(stage.iterdir()), self.reader,
                                           Path(scratch))
        if plan is not None:
            image.add_data_partition(request, self.reader, grow=False)
            digest = cardreader.sha256_prefix(self.reader, max(needed, self.base.stat().st_size))
        self.manifest["cards"][device_id] = {"fingerprint": fingerprint, "sha256": digest, "flashed": True}
        self._save()
        return Card(device_id, self.reader, digest, written=True)

    def _fingerprint(self, stage: Path) -> str:
        digest = hashlib.sha256(self.base_sha256.encode())
        for name in image.staged_paths(stage):
            digest.update(f"\0{name}\0{self._file_digest(stage / name)}".encode())
        return digest.hexdigest()

    def _file_digest(self, path: Path) -> str:
        """SHA-256 of a staged file, reused for the same inode (the wheelhouse is linked, not copied, per card).

        Only for a file with another link (its source in the wheelhouse
        holds the inode): a staged copy's inode number is freed with the
        stage and may come back for a different file.
        """
        st = path.stat()
        if st.st_nlink < 2:
            return sha256_file(path)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = sha256_file(path)
        return self._digests[key]

    def _write(self, request: image.ImageRequest, card: Path, stage: Path, boot: Path) -> str:
        """The card in one pass into a temporary file, renamed into place once complete.

        The boot partition is made apart first (``boot``: the base's, with
        the first-boot files written in by mtools), then base and boot
        partition are streamed into the card and hashed on the way
        (``splice_sparse``). Only ``--read-only-root`` changes bytes outside
        the boot partition (the data partition); its card is hashed again.
        """
        tmp = card.with_name(f".{card.name}.tmp")
        part = self.partition
        try:
            extract_sparse(self.base, part.offset, part.size, boot)
            FatImage(boot, Partition(part.number, part.kind, 0, part.sectors, True)).copy_in(sorted(stage.iterdir()))
            digest = splice_sparse(self.base, boot, part.offset, tmp)
            if request.read_only_root:
                image.add_data_partition(request, tmp)
                digest = sha256_file(tmp)
            os.replace(tmp, card)
        except ImageError:
            tmp.unlink(missing_ok=True)
            raise
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ImageError(f"writing the card {card} failed: {exc.strerror or exc}") from exc
        log.info("wrote %s", card)
        return digest

    def forget(self, device_id: str) -> None:
        """Drop a device's card from the manifest and the checksums (its file is left for the operator)."""
        if self.manifest.get("cards", {}).pop(device_id, None) is not None:
            self._save()

    def _save(self) -> None:
        bundles.write_private_text(self.out / MANIFEST, json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")
        sums = "".join(f"{entry['sha256']}  {device_id}{CARD_SUFFIX}\n"
                       for device_id, entry in sorted(self.manifest.get("cards", {}).items())
                       if not entry.get("flashed"))  # a flashed card has no file here
        bundles.write_private_text(self.out / CHECKSUMS, sums, mode=0o644)


def _stat_matches(card: Path, known: dict[str, Any]) -> bool:
    try:
        st = card.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (known.get("size"), known.get("mtime_ns"))


def _load_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path} is damaged ({exc}); delete it and every card is rebuilt") from exc
    return manifest if isinstance(manifest, dict) else {}
