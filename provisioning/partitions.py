"""Find the FAT boot partition of a disk image by reading its partition table.

Pure parsing of MBR and GPT (and of a FAT boot sector, to make sure the
partition really holds a FAT file system that fits inside it). No root, no
loop devices, no mounting: the image writer then hands mtools the byte
offset of this one partition and never touches any other.
"""

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from provisioning.errors import ImageError

SECTOR = 512
MBR_FAT_TYPES = {
    0x01: "FAT12",
    0x04: "FAT16 <32M",
    0x06: "FAT16",
    0x0B: "FAT32 (CHS)",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
}
MBR_GPT_PROTECTIVE = 0xEE
GPT_FAT_TYPES = {
    uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"): "EFI system",
    uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"): "basic data",
}
COMPRESSED_MAGIC = {
    b"\xfd7zXZ\x00": "xz (decompress with: xz -dk IMAGE.img.xz)",
    b"\x1f\x8b": "gzip (decompress with: gunzip -k IMAGE.img.gz)",
    b"PK\x03\x04": "zip (unzip it first)",
    b"\x28\xb5\x2f\xfd": "zstd (decompress with: zstd -d IMAGE.img.zst)",
}


@dataclass(frozen=True)
class Partition:
    number: int  # 1-based, as sfdisk and the kernel count
    kind: str  # "0x0c" for MBR, the type GUID for GPT
    start_lba: int
    sectors: int
    is_fat_type: bool

    @property
    def offset(self) -> int:
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR


def parse_mbr(sector0: bytes) -> list[Partition] | None:
    """The four primary MBR entries that are in use; None for a GPT protective MBR."""
    if len(sector0) < SECTOR or sector0[510:512] != b"\x55\xaa":
        for magic, what in COMPRESSED_MAGIC.items():
            if sector0.startswith(magic):
                raise ImageError(f"the image is compressed with {what}")
        raise ImageError("no partition table: the first sector has no MBR signature (is this a disk image?)")
    parts = []
    for i in range(4):
        entry = sector0[446 + 16 * i : 446 + 16 * (i + 1)]
        ptype = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if ptype == MBR_GPT_PROTECTIVE:
            return None
        if ptype and count:
            parts.append(Partition(i + 1, f"0x{ptype:02x}", start, count, ptype in MBR_FAT_TYPES))
    return parts


def parse_gpt_header(header: bytes) -> tuple[int, int, int]:
    """(entries LBA, number of entries, entry size) from the GPT header at LBA 1."""
    if header[:8] != b"EFI PART":
        raise ImageError("protective MBR but no GPT header at LBA 1")
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    if size < 128 or count > 1024:
        raise ImageError(f"implausible GPT header (entries {count} x {size} bytes)")
    return entries_lba, count, size


def parse_gpt_entries(entries: bytes, count: int, size: int) -> list[Partition]:
    parts = []
    for i in range(count):
        entry = entries[i * size : (i + 1) * size]
        if len(entry) < 48 or entry[:16] == bytes(16):
            continue
        type_guid = uuid.UUID(bytes_le=entry[:16])
        first, last = struct.unpack_from("<QQ", entry, 32)
        parts.append(Partition(i + 1, str(type_guid).upper(), first, last - first + 1, type_guid in GPT_FAT_TYPES))
    return parts


def check_fat_boot_sector(boot: bytes, partition: Partition) -> str:
    """The FAT variant in ``boot`` (the partition's first sector); ImageError if not FAT or too big.

    The size check matters: mtools trusts the boot sector, so a file system
    claiming more sectors than its partition could spill into the next one.
    """
    where = f"partition {partition.number}"
    if len(boot) < SECTOR or boot[510:512] != b"\x55\xaa":
        raise ImageError(f"{where} has a FAT partition type but no FAT boot sector")
    bytes_per_sector, per_cluster, reserved, fats = struct.unpack_from("<HBHB", boot, 11)
    total16 = struct.unpack_from("<H", boot, 19)[0]
    total32 = struct.unpack_from("<I", boot, 32)[0]
    label = boot[82:90] if boot[82:85] == b"FAT" else boot[54:62]
    if (
        bytes_per_sector not in (512, 1024, 2048, 4096)
        or per_cluster == 0
        or per_cluster & (per_cluster - 1)
        or reserved == 0
        or fats not in (1, 2)
        or not label.startswith(b"FAT")
    ):
        raise ImageError(f"{where} has a FAT partition type but does not hold a FAT file system")
    fs_bytes = (total16 or total32) * bytes_per_sector
    if fs_bytes > partition.size:
        raise ImageError(
            f"{where}: its FAT file system claims {fs_bytes} bytes but the partition has {partition.size}; refusing"
        )
    return label.decode("ascii").strip()


def read_partitions(read_at: Callable[[int, int], bytes]) -> list[Partition]:
    """Every partition of an image; ``read_at(offset, length)`` reads its bytes."""
    parts = parse_mbr(read_at(0, SECTOR))
    if parts is not None:
        return parts
    entries_lba, count, size = parse_gpt_header(read_at(SECTOR, SECTOR))
    return parse_gpt_entries(read_at(entries_lba * SECTOR, count * size), count, size)


def find_boot_partition(read_at: Callable[[int, int], bytes], image_size: int) -> tuple[Partition, str]:
    """The first partition that has a FAT type and holds a FAT file system, with its variant."""
    parts = read_partitions(read_at)
    if not parts:
        raise ImageError("the partition table is empty")
    for part in parts:
        if part.offset + part.size > image_size:
            raise ImageError(f"partition {part.number} extends past the end of the image (truncated download?)")
    candidates = [p for p in parts if p.is_fat_type]
    if not candidates:
        listing = ", ".join(f"{p.number}: type {p.kind}" for p in parts)
        raise ImageError(f"no FAT boot partition in the image (partitions {listing})")
    boot = candidates[0]
    return boot, check_fat_boot_sector(read_at(boot.offset, SECTOR), boot)
