"""Copy a disk image the way a card image is made from it, and checksum the result.

A Raspberry Pi OS image is mostly one big root file system; when its
unused space is a hole (as in an image file written sparse, or unpacked
with ``xz -d --sparse`` / ``cp --sparse``), copying holes as holes keeps each
card file at the size of its data, not of the card. ``copy_file_range``
moves the data inside the kernel (and is a reflink on btrfs and XFS).
"""

import errno
import hashlib
import logging
import os
from pathlib import Path

from provisioning.errors import ImageError

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """(offset, length) of each data run of the file, holes left out; the whole file where holes are unknown."""
    extents: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < size:
            start = os.lseek(fd, offset, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, end - start))
            offset = end
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data after ``offset``: the rest is a hole
            return extents
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # a file system without SEEK_DATA
            return [(0, size)]
        raise
    return extents


def copy_sparse(source: Path, target: Path) -> int:
    """Copy ``source`` to ``target`` (replaced), holes kept as holes; returns the data bytes copied."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            size = os.fstat(src.fileno()).st_size
            copied = 0
            for start, length in data_extents(src.fileno(), size):
                copied += _copy_range(src.fileno(), dst.fileno(), start, length)
            dst.truncate(size)
    except OSError as exc:
        raise ImageError(f"copying {source} to {target} failed: {exc.strerror or exc}") from exc
    return copied


def _copy_range(src: int, dst: int, start: int, length: int) -> int:
    """Copy one data run at the same offset; falls back to read/write where copy_file_range is refused."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(src, dst, length - done, start + done, start + done)
            if n == 0:
                break
            done += n
        return done
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    while done < length:
        chunk = os.pread(src, min(CHUNK, length - done), start + done)
        if not chunk:
            break
        os.pwrite(dst, chunk, start + done)
        done += len(chunk)
    return done


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the whole file (holes read as zeros), as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()
