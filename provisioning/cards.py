"""Card images for a batch: one ready-to-flash image per device, made from one shared OS image.

Why whole card images and not one shared image plus a per-device folder to
copy onto each flashed card: writing the card dominates either way (the
whole OS goes onto every card), while the second step is one a technician
can skip or mix up, and two cards with one bundle are two kiosks with one
identity. Each card file here is the base image (copied sparse:
``cardfile.copy_sparse``) with the device's first-boot files written into
its FAT boot partition (``image.stage_files``), so flashing it is the only
step; the checksum lets the flasher be verified. A card file costs the
laptop ~1.9 GiB of disk (BENCHMARKS-provision.md), so with a card reader
the same bytes go straight onto the SD card instead (``cardreader``).

Reruns are cheap and safe: ``cards.json`` in the output folder records, per
device, a fingerprint of the base image and of every file staged for its
card, and the card's checksum, size and modification time. A card whose
inputs and file are unchanged is not rebuilt.
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
from provisioning.cardfile import copy_sparse, sha256_file
from provisioning.errors import ImageError
from provisioning.fatimage import FatImage

log = logging.getLogger(__name__)

MANIFEST = "cards.json"
CHECKSUMS = "SHA256SUMS"
CARD_SUFFIX = ".img"


@dataclass(frozen=True)
class Card:
    """One device's card image; ``written`` False means the last run's was still right."""

    device_id: str
    path: Path
    sha256: str
    written: bool


class CardSkipped(ImageError):
    """The operator skipped this device's card at the card reader; a rerun asks again."""


class CardMaker:
    """Makes ``out/<device_id>.img`` from ``template.image`` (the base) for each bundle.

    ``template`` is an ``image.ImageRequest`` whose ``image`` is the shared
    base and whose ``bundle`` and ``hostname`` are replaced per device; the
    base itself is only read. With ``reader`` each card is written straight
    onto the SD card in that card reader instead (``cardreader``), once
    ``ready(device_id)`` says it is in (False: skip it).
    """

    def __init__(self, template: image.ImageRequest, out: Path, reader: Path | None = None,
                 ready: Callable[[str], bool] | None = None) -> None:
        self.template = template
        self.base = Path(template.image)
        self.out = Path(out)
        self.reader = reader
        self.ready = ready or (lambda _device_id: True)
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
        """The card of the bundle in ``bundle_dir``: rebuilt only when its inputs or its file changed."""
        device_id = bundles.read_meta(bundle_dir)["device_id"]
        card = self.card_path(device_id)
        request = replace(self.template, bundle=bundle_dir, hostname=None)
        with tempfile.TemporaryDirectory(prefix="provision-card-") as tmp:
            stage = Path(tmp)
            image.stage_files(request, FatImage(self.base, self.partition), stage)
            fingerprint = self._fingerprint(stage)
            known = self.manifest.setdefault("cards", {}).get(device_id)
            if self.reader is not None:
                return self._flash(request, device_id, stage, fingerprint, known)
            if known and known["fingerprint"] == fingerprint and _stat_matches(card, known):
                return Card(device_id, card, known["sha256"], written=False)
            digest = self._write(request, card, stage)
        st = card.stat()
        self.manifest["cards"][device_id] = {
            "fingerprint": fingerprint, "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        self._save()
        return Card(device_id, card, digest, written=True)

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
            digest.update(f"\0{name}\0{sha256_file(stage / name)}".encode())
        return digest.hexdigest()

    def _write(self, request: image.ImageRequest, card: Path, stage: Path) -> str:
        """Base copy + first-boot files into a temporary file, renamed into place once complete."""
        tmp = card.with_name(f".{card.name}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the card holds the device's key
            os.close(fd)
            copied = copy_sparse(self.base, tmp)
            os.chmod(tmp, 0o600)
            image.add_data_partition(request, tmp)
            FatImage(tmp, self.partition).copy_in(sorted(stage.iterdir()))
            digest = sha256_file(tmp)
            os.replace(tmp, card)
        except ImageError:
            tmp.unlink(missing_ok=True)
            raise
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ImageError(f"writing the card {card} failed: {exc.strerror or exc}") from exc
        log.info("wrote %s (%s data bytes copied from the base)", card, copied)
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
