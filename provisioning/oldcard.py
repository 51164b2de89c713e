"""Read a dead kiosk's unacked punches off its SD card: no mount, no root.

The outbox lives on the card's ext4 root (``/var/lib/kiosk/outbox.sqlite``,
WAL beside it), or, on a card made with ``--read-only-root``, at the top of
its kiosk-data partition, which the kiosk mounts at ``/var/lib/kiosk``
(provisioning/datapart.py): the root of such a card holds no punch. ``debugfs -c`` (e2fsprogs; catastrophic mode: read-only,
bitmaps not trusted, so a card pulled mid-write still reads) copies it
out of an image file or a card reader's block device the user may read
(``image?offset=N`` addresses the root partition inside the whole card).
The copies are then read by the kiosk's own salvage code
(``kiosk.outbox_recovery.salvage``), which copes with the damage a worn
card or a power cut leaves and checks each payload is its row's punch.
"""

import logging
import shutil
import struct
import subprocess
from pathlib import Path

from kiosk.outbox_keeper import OUTBOX_FILE
from kiosk.outbox_recovery import Row, salvage
from kiosk.storage import SeqMark, StorageError
from provisioning import datapart
from provisioning.errors import ImageError
from provisioning.partitions import Partition, read_partitions

log = logging.getLogger(__name__)

LINUX_TYPES = {"0x83", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}  # MBR Linux, GPT Linux file system
EXT_MAGIC_OFFSET = 1024 + 56  # superblock at 1024, s_magic at 56 in it
EXT_MAGIC = 0xEF53


def require_debugfs() -> None:
    if shutil.which("debugfs") is None:
        raise ImageError("debugfs not found; install e2fsprogs (sudo apt-get install e2fsprogs)")


def find_root_partition(card: Path) -> Partition:
    """The first Linux partition of the card holding an ext2/3/4 file system."""
    try:
        with card.open("rb") as f:

            def read_at(offset: int, length: int) -> bytes:
                f.seek(offset)
                return f.read(length)

            for part in read_partitions(read_at):
                magic = read_at(part.offset + EXT_MAGIC_OFFSET, 2)
                if part.kind in LINUX_TYPES and len(magic) == 2 and struct.unpack("<H", magic)[0] == EXT_MAGIC:
                    return part
    except OSError as exc:
        raise ImageError(f"cannot read the old card {card}: {exc.strerror or exc}") from exc
    raise ImageError(f"{card} has no ext4 root partition (is it the kiosk's card, or a boot-only image?)")


def locate_state(card: Path, state_dir: Path) -> tuple[Partition, Path]:
    """The partition holding ``state_dir`` and its path inside that partition: the kiosk-data partition of a
    read-only-root card when ``state_dir`` is where it is mounted (or below), else the ext4 root."""
    mount = Path(datapart.DATA_MOUNT)
    if state_dir == mount or mount in state_dir.parents:
        try:
            partitions = datapart.read_mbr_partitions(card)
        except (ImageError, OSError):
            partitions = []          # a GPT card has no kiosk-data partition: its state is on the root
        for part in partitions:
            if datapart.ext4_label(card, part) == datapart.DATA_LABEL:
                return part, Path("/") / state_dir.relative_to(mount)
    return find_root_partition(card), state_dir


def read_unacked(card: Path, state_dir: Path, scratch: Path) -> tuple[list[Row], str]:
    """The unacked punches (seq, id, payload, created_at) of the card's outbox, and a note on what was found.

    ``state_dir`` is the kiosk's ``state_dir`` as configured (``/var/lib/kiosk``).
    """
    require_debugfs()
    part, folder = locate_state(card, state_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    source = f"{card}?offset={part.offset}"
    names = (OUTBOX_FILE, f"{OUTBOX_FILE}-wal", Path(OUTBOX_FILE).with_suffix(".seq").name)
    for name in names:
        _dump(source, folder / name, scratch / name)
    outbox = scratch / OUTBOX_FILE
    if not outbox.exists():
        where = "the card" if folder == state_dir else f"the card's {datapart.DATA_LABEL} partition"
        return [], f"no outbox at {folder / OUTBOX_FILE} on {where} (nothing was waiting, or another card)"
    mark = SeqMark(outbox.with_suffix(".seq")).value
    try:
        found = salvage(outbox, scratch / "salvage", mark)
    except StorageError as exc:
        raise ImageError(f"reading the outbox copied off {card}: {exc}") from exc
    note = f"{len(found.rows)} unacked punches read, {found.unreadable} unreadable"
    return found.rows, note + (f" ({found.note})" if found.note else "")


def _dump(source: str, path: Path, target: Path) -> None:
    """Copy ``path`` off the ext4 file system at ``source``; a missing file leaves no ``target``."""
    proc = subprocess.run(["debugfs", "-c", "-R", f"dump {path} {target}", source],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"debugfs could not read {source}: {proc.stderr.decode(errors='replace').strip()}")
    if target.exists() and target.stat().st_size == 0 and b"not found" in proc.stderr:
        target.unlink()
