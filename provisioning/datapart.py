"""The writable data partition for a read-only root (``provision image --read-only-root``).

Raspberry Pi OS can run its root file system read-only, as an overlay whose
writes live in RAM (``raspi-config nonint enable_overlayfs``): the SD card
is then hardly written at all, and a power cut cannot damage the system.
But everything written under ``/`` is lost at a reboot, and the outbox must
not be (DESIGN.md: no punch is lost). So the card gets a third partition,
ext4 labelled ``kiosk-data``, which first boot mounts at ``/var/lib/kiosk``
(the kiosk's ``state_dir``: the outbox, the gallery cache, the log spill)
before it turns the overlay on (provisioning/firstboot.py, install.sh).

The partition is appended to the image file after ``root_room_mb`` of free
space, so the root can still grow into that room at first boot (cloud-init's
growpart stops at the next partition). Done with the tools the real images
are built with, on the image file, as a normal user: ``sfdisk --append`` and
``mkfs.ext4 -E offset=``. Re-running on an image that already has the
partition changes nothing.
"""

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import ImageError
from provisioning.partitions import SECTOR, Partition, parse_mbr

log = logging.getLogger(__name__)

DATA_LABEL = "kiosk-data"
DATA_MOUNT = "/var/lib/kiosk"      # the kiosk's state_dir (kiosk.service StateDirectory=kiosk)
ALIGN_SECTORS = 8192               # 4 MiB, as pi-gen aligns its partitions
MIB = 1024 * 1024
EXT4_SUPERBLOCK = 1024             # bytes into the file system
EXT4_MAGIC = b"\x53\xef"           # at superblock + 56
EXT4_LABEL = slice(120, 136)       # volume name within the superblock


@dataclass(frozen=True)
class DataPartition:
    partition: Partition
    added: bool                    # False: the image had it already


def _align(sector: int) -> int:
    return -(-sector // ALIGN_SECTORS) * ALIGN_SECTORS


def ext4_label(image: Path, partition: Partition) -> str | None:
    """The ext4 volume label of ``partition``; None when it holds no ext file system."""
    with image.open("rb") as f:
        f.seek(partition.offset + EXT4_SUPERBLOCK)
        block = f.read(256)
    if block[56:58] != EXT4_MAGIC:
        return None
    return block[EXT4_LABEL].rstrip(b"\0").decode("utf-8", errors="replace")


def read_mbr_partitions(image: Path) -> list[Partition]:
    with image.open("rb") as f:
        sector0 = f.read(SECTOR)
    partitions = parse_mbr(sector0)
    if partitions is None:
        raise ImageError(f"{image} has a GPT partition table; --read-only-root supports Raspberry Pi OS's MBR images")
    return partitions


def ensure_data_partition(image: Path, size_mb: int, root_room_mb: int) -> DataPartition:
    """Append the ``kiosk-data`` partition (ext4) unless the image has it; ImageError says why it cannot."""
    if size_mb < 16:
        raise ImageError(f"--data-mb {size_mb}: the data partition needs at least 16 MiB (outbox, gallery, logs)")
    if root_room_mb < 0:
        raise ImageError(f"--root-room-mb {root_room_mb} must not be negative")
    for tool, package in (("sfdisk", "fdisk"), ("mkfs.ext4", "e2fsprogs")):
        if shutil.which(tool) is None:
            raise ImageError(f"--read-only-root needs {tool} (Debian package {package})")
    partitions = read_mbr_partitions(image)
    for partition in partitions:
        if ext4_label(image, partition) == DATA_LABEL:
            log.info("%s already has the %s partition (%s)", image, DATA_LABEL, partition.number)
            return DataPartition(partition, added=False)
    if len(partitions) >= 4:
        raise ImageError(f"{image} has {len(partitions)} primary partitions already: no room for {DATA_LABEL}")
    last_end = max(p.start_lba + p.sectors for p in partitions)
    start = _align(last_end + root_room_mb * MIB // SECTOR)
    sectors = size_mb * MIB // SECTOR
    with image.open("r+b") as f:               # sparse: the new space costs nothing until written
        f.truncate(max(image.stat().st_size, (start + sectors) * SECTOR))
    _run("sfdisk", "--append", "--no-reread", "--no-tell-kernel", "-q", str(image),
         stdin=f"start={start}, size={sectors}, type=83\n")
    _run("mkfs.ext4", "-q", "-F", "-L", DATA_LABEL, "-E", f"offset={start * SECTOR}", str(image), f"{size_mb}M")
    added = next(p for p in read_mbr_partitions(image) if p.start_lba == start)
    log.info("added the %s partition %s (%d MiB at sector %d) to %s", DATA_LABEL, added.number, size_mb, start, image)
    return DataPartition(added, added=True)


def _run(*args: str, stdin: str | None = None) -> None:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"{args[0]} failed on the image ({proc.returncode}): {proc.stderr.strip()[:300]}")


def readonly_conf() -> str:
    """The bundle's flag file: its presence makes install.sh mount the data partition and turn the overlay on."""
    return ("# Written by `provision image --read-only-root` (provisioning/datapart.py). install.sh then mounts\n"
            f"# the partition labelled {DATA_LABEL} at {DATA_MOUNT} and turns on Raspberry Pi OS's overlay root.\n"
            f"label={DATA_LABEL}\nmount={DATA_MOUNT}\n")


def fstab_line() -> str:
    """The line first boot adds to /etc/fstab: noatime (no write per read), nothing to execute from it."""
    return f"LABEL={DATA_LABEL} {DATA_MOUNT} ext4 defaults,noatime,nodev,nosuid,noexec 0 2\n"
