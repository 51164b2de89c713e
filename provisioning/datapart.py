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
partition changes nothing. The same code adds it to an SD card in a card
reader (``grow=False``: a card cannot grow, so it must be big enough).

With signed updates (the bundle has ``update.release_key``) the kiosk's
software slots live on this partition too, in ``software/``: an update the
kiosk installs under ``/opt/kiosk`` on the overlay root would be gone at the
next reboot. Why a second, bind mount of that folder at ``/opt/kiosk`` and
not the slots under ``/var/lib/kiosk`` directly:

- the state stays ``noexec``: the outbox, the gallery from the hub and the
  log spill are never run, and a file dropped there cannot be either;
- a virtualenv must be executable (its ``bin/python``, its ``.so`` files:
  ``noexec`` refuses both exec and executable mmap), and its scripts name
  its absolute path (``#!/opt/kiosk/versions/X/bin/python``), so it must be
  made and run at the one path, ``/opt/kiosk``, on an ``exec`` mount;
- every path stays as on a card without the overlay: kiosk.service's
  ``ExecStart=/opt/kiosk/current/bin/kiosk``, its guard
  ``/opt/kiosk/slots.py``, kiosk.yaml ``update.root``. So the kiosk may
  write and run code in exactly the one place it may on any other card.

The bind mount keeps ``nodev,nosuid`` and clears ``noexec`` (util-linux
applies ``exec`` to a bind mount with a remount: ``mount -o bind,exec``),
and waits for the partition (``x-systemd.requires-mounts-for``).
"""

import math

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
SLOTS_MOUNT = "/opt/kiosk"         # the software slots (kiosk/slots.py; kiosk.yaml update.root)
SLOTS_SUBDIR = "software"          # the slots' folder on the partition, bind-mounted at SLOTS_MOUNT
ALIGN_SECTORS = 8192               # 4 MiB, as pi-gen aligns its partitions
MIB = 1024 * 1024
EXT4_SUPERBLOCK = 1024             # bytes into the file system
EXT4_MAGIC = b"\x53\xef"           # at superblock + 56
EXT4_LABEL = slice(120, 136)       # volume name within the superblock


# Sizes behind the default --data-mb (provisioning/README.md, "A read-only root"):
STATE_MB = 512           # outbox, gallery cache, log spill: the default without updates
# One installed kiosk slot: `du -sm` of a virtualenv with face-attendance[kiosk] installed from PyPI
# (x86_64, CPython 3.11, 2026-12-04): 496 MiB, 5,799 files (face_recognition_models 126, OpenCV 162,
# numpy 73, fontTools 30). The Pi's aarch64 install was not measured; its wheelhouse is ~165 MB too.
SLOT_MB = 500
DOWNLOAD_MB = 170        # a release being fetched (state_dir/updates): the ~165 MB kiosk wheelhouse
EXT4_SHARE = 0.93        # what the kiosk user may fill: ext4 reserves 5% for root, and ~2% is metadata
ROUND_MB = 64


@dataclass(frozen=True)
class DataPartition:
    partition: Partition
    added: bool                    # False: the image had it already


def _align(sector: int) -> int:
    return -(-sector // ALIGN_SECTORS) * ALIGN_SECTORS


def _round_up(mb: float) -> int:
    return math.ceil(mb / ROUND_MB) * ROUND_MB


def software_mb(slots: int) -> int:
    """What the software slots need on the partition: ``slots`` installed versions and a download (0: none)."""
    return _round_up((slots * SLOT_MB + DOWNLOAD_MB) / EXT4_SHARE) if slots else 0


def default_data_mb(slots: int) -> int:
    """The partition's default size: the state alone, or, with ``slots`` (signed updates), the slots too."""
    if not slots:
        return STATE_MB
    return _round_up((slots * SLOT_MB + DOWNLOAD_MB + STATE_MB) / EXT4_SHARE)


def min_data_mb(slots: int) -> int:
    """The smallest ``--data-mb`` that can work: 16 MiB of state, and the slots beside it."""
    return 16 + software_mb(slots)


def check_data_mb(size_mb: int, slots: int) -> None:
    """ImageError naming the size needed when ``size_mb`` is too small for the state and ``slots`` slots."""
    needed = min_data_mb(slots)
    if size_mb >= needed:
        return
    if slots:
        raise ImageError(
            f"--data-mb {size_mb} is too small for signed updates with --read-only-root: the kiosk-data partition "
            f"holds the software slots too ({slots} installed versions of ~{SLOT_MB} MiB and a ~{DOWNLOAD_MB} MiB "
            f"download: {software_mb(slots)} MiB with the file system's share), so it needs at least {needed} MiB; "
            f"leave --data-mb out for the default, {default_data_mb(slots)} MiB")
    raise ImageError(f"--data-mb {size_mb}: the data partition needs at least {needed} MiB (outbox, gallery, logs)")


def plan_start(partitions: list[Partition], root_room_mb: int) -> int:
    """The data partition's first sector: after the last partition and ``root_room_mb``, aligned."""
    last_end = max(p.start_lba + p.sectors for p in partitions)
    return _align(last_end + root_room_mb * MIB // SECTOR)


def needed_bytes(image: Path, size_mb: int, root_room_mb: int) -> int:
    """How large the card must be to take the data partition (0 when the image has it already)."""
    partitions = read_mbr_partitions(image)
    if any(ext4_label(image, p) == DATA_LABEL for p in partitions):
        return 0
    return (plan_start(partitions, root_room_mb) + size_mb * MIB // SECTOR) * SECTOR


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


def ensure_data_partition(image: Path, size_mb: int, root_room_mb: int, *, slots: int = 0,
                          grow: bool = True) -> DataPartition:
    """Append the ``kiosk-data`` partition (ext4) unless the image has it; ImageError says why it cannot.

    ``image`` is a card file (``grow``: it is extended, sparsely) or an SD card
    in a card reader (or a file standing in for one), which must already be
    large enough. ``slots``: how many software slots it holds too (signed updates; 0: none).
    """
    check_data_mb(size_mb, slots)
    if root_room_mb < 0:
        raise ImageError(f"--root-room-mb {root_room_mb} must not be negative")
    for tool, package in (("sfdisk", "fdisk"), ("mkfs.ext4", "e2fsprogs")):
        if shutil.which(tool) is None:
            raise ImageError(f"--read-only-root needs {tool} (Debian package {package})")
    partitions = read_mbr_partitions(image)
    for partition in partitions:
        if ext4_label(image, partition) == DATA_LABEL:
            log.info("%s already has the %s partition (%s)", image, DATA_LABEL, partition.number)
            if partition.size < min_data_mb(slots) * MIB:
                raise ImageError(f"{image} already has a {DATA_LABEL} partition of {partition.size // MIB} MiB, too "
                                 f"small for it (at least {min_data_mb(slots)} MiB): start from an image without it")
            return DataPartition(partition, added=False)
    if len(partitions) >= 4:
        raise ImageError(f"{image} has {len(partitions)} primary partitions already: no room for {DATA_LABEL}")
    start = plan_start(partitions, root_room_mb)
    sectors = size_mb * MIB // SECTOR
    with image.open("r+b") as f:               # sparse: the new space costs nothing until written
        size = f.seek(0, 2)                    # (a block device's stat size is 0)
        if size < (start + sectors) * SECTOR:
            if not grow:
                raise ImageError(f"the card {image} has {size // MIB} MiB; with the {DATA_LABEL} partition "
                                 f"({size_mb} MiB after {root_room_mb} MiB of room for the root) it needs "
                                 f"{-(-(start + sectors) * SECTOR // MIB)} MiB: a larger card, or a smaller "
                                 "--data-mb or --root-room-mb")
            f.truncate((start + sectors) * SECTOR)
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


def readonly_conf(size_mb: int, root_room_mb: int, slots: bool) -> str:
    """The bundle's flag file: its presence makes install.sh mount the data partition and turn the overlay on;
    ``slots=data``: the software slots are on it too (signed updates). The sizes are written too, so that a
    card made with other sizes has another fingerprint (provisioning/cards.py) and is made again."""
    return ("# Written by `provision image --read-only-root` (provisioning/datapart.py). install.sh then mounts\n"
            f"# the partition labelled {DATA_LABEL} at {DATA_MOUNT} and turns on Raspberry Pi OS's overlay root;\n"
            f"# with slots=data it also bind-mounts {DATA_MOUNT}/{SLOTS_SUBDIR} at {SLOTS_MOUNT} (the software).\n"
            f"label={DATA_LABEL}\nmount={DATA_MOUNT}\nsize_mb={size_mb}\nroot_room_mb={root_room_mb}\n"
            f"slots={'data' if slots else 'root'}\n")


def fstab_line() -> str:
    """The line first boot adds to /etc/fstab: noatime (no write per read), nothing to execute from it."""
    return f"LABEL={DATA_LABEL} {DATA_MOUNT} ext4 defaults,noatime,nodev,nosuid,noexec 0 2\n"


def slots_fstab_line() -> str:
    """With signed updates: the slots' folder on the partition at /opt/kiosk, executable (module docstring)."""
    return (f"{DATA_MOUNT}/{SLOTS_SUBDIR} {SLOTS_MOUNT} none "
            f"bind,exec,nodev,nosuid,x-systemd.requires-mounts-for={DATA_MOUNT} 0 0\n")
