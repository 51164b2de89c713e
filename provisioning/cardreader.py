"""Write a card straight onto an SD card in a card reader, as ``dd`` would, and read it back.

No card file on the laptop's disk (a Lite card file is ~1.9 GiB; 200 are
more than a laptop holds): the card's bytes are streamed from the base
image, with the boot partition taken from a small staged copy that holds
the device's first-boot files. Every byte up to the base's size is written
(holes as zeros), so the card then reads back exactly as the card file
would have been, and that is checked: the SHA-256 of what was written is
compared with the SHA-256 of what the card returns.

The device is opened without truncation and never mounted; one that is
mounted (or has a mounted partition) is refused, so the laptop's own disk
cannot be overwritten by a wrong ``/dev/sdX``.
"""

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

from provisioning.cardfile import CHUNK, extract_sparse
from provisioning.errors import ImageError
from provisioning.fatimage import FatImage
from provisioning.partitions import Partition

log = logging.getLogger(__name__)
MIB = 1024 * 1024


def check_writable_target(device: Path, base: Path, mounts_file: Path = Path("/proc/mounts"),
                          needed_bytes: int = 0) -> None:
    """Refuse the base image itself, a mounted device, or one too small for the base (or ``needed_bytes``:
    the card with its kiosk-data partition, provisioning/datapart.py)."""
    if device.resolve() == base.resolve():
        raise ImageError(f"{device} is the base image itself")
    name = str(device.resolve())
    try:
        mounted = [line.split()[0] for line in mounts_file.read_text().splitlines() if line.strip()]
    except OSError:
        mounted = []
    if any(source == name or (source.startswith(name) and source[len(name):].lstrip("p").isdigit())
           for source in mounted):
        raise ImageError(f"{device} (or a partition of it) is mounted: unmount it first (and check it is the card)")
    size = _size(device)
    if size < base.stat().st_size:
        raise ImageError(f"the card in {device} has {size} bytes, the image needs {base.stat().st_size}")
    if size < needed_bytes:
        raise ImageError(f"the card in {device} has {size // MIB} MiB, the image with its kiosk-data partition "
                         f"needs {-(-needed_bytes // MIB)} MiB: a larger card, or a smaller --data-mb or "
                         "--root-room-mb")


def write_card(base: Path, partition: Partition, staged: list[Path], device: Path, scratch: Path) -> str:
    """Write ``base`` with ``staged`` in its boot partition onto ``device``; the verified SHA-256."""
    boot = scratch / "boot.part"
    extract_sparse(base, partition.offset, partition.size, boot)
    FatImage(boot, Partition(partition.number, partition.kind, 0, partition.sectors, True)).copy_in(staged)
    size = base.stat().st_size
    digest = hashlib.sha256()
    try:
        fd = os.open(device, os.O_WRONLY)  # no O_TRUNC, no O_CREAT: a device, or a file standing in for one
        with open(base, "rb") as src, open(boot, "rb") as part, os.fdopen(fd, "wb") as dst:
            for source, start, length in ((src, 0, partition.offset), (part, 0, partition.size),
                                          (src, partition.offset + partition.size, size - partition.offset
                                           - partition.size)):
                source.seek(start)
                _stream(source, dst, length, digest)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        raise ImageError(f"writing the card in {device} failed: {exc.strerror or exc} "
                         "(to write a card reader without root, be in its group, e.g. disk)") from exc
    written = digest.hexdigest()
    read_back = sha256_prefix(device, size)
    if read_back != written:
        raise ImageError(f"the card in {device} reads back differently from what was written (a bad card?)")
    return written


def _stream(src: BinaryIO, dst: BinaryIO, length: int, digest: Any) -> None:
    """Copy ``length`` bytes from ``src`` to ``dst``, hashing them into ``digest`` (a hashlib object)."""
    left = length
    while left > 0:
        chunk = src.read(min(CHUNK, left))
        if not chunk:
            chunk = bytes(min(CHUNK, left))  # past the end of a short source: zeros, as a hole reads
        dst.write(chunk)
        digest.update(chunk)
        left -= len(chunk)


def sha256_prefix(device: Path, size: int) -> str:
    """The SHA-256 of the first ``size`` bytes the card returns."""
    digest = hashlib.sha256()
    try:
        with open(device, "rb") as f:
            left = size
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    raise ImageError(f"the card in {device} ended before {size} bytes")
                digest.update(chunk)
                left -= len(chunk)
    except OSError as exc:
        raise ImageError(f"reading the card in {device} back failed: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _size(device: Path) -> int:
    try:
        with open(device, "rb") as f:
            return f.seek(0, os.SEEK_END)
    except OSError as exc:
        raise ImageError(f"cannot open the card reader {device}: {exc.strerror or exc}") from exc
