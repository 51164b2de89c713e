"""Copy a disk image the way a card image is made from it, and checksum the result.

A Raspberry Pi OS image is mostly one big root file system; when its
unused space is a hole (as in an image file written sparse, or unpacked
with ``xz -d --sparse`` / ``cp --sparse``), copying holes as holes keeps each
card file at the size of its data, not of the card. ``copy_file_range``
moves the data inside the kernel (and is a reflink on btrfs and XFS).

A batch's card differs from its base only in the boot partition, so
``splice_sparse`` writes a card in one pass: the base before and after
that region, the new boot partition (``extract_sparse`` + mtools) in it,
holes kept as holes, and the SHA-256 taken on the way (holes hashed as the
zeros they read as), instead of a copy and then a second full read.
"""

import errno
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

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


def extract_sparse(source: Path, offset: int, length: int, target: Path) -> None:
    """Bytes [offset, offset + length) of ``source`` as their own file, runs of zeros left as holes."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            src.seek(offset)
            left = length
            while left > 0:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    break
                if chunk.count(0) == len(chunk):
                    dst.seek(len(chunk), os.SEEK_CUR)
                else:
                    dst.write(chunk)
                left -= len(chunk)
            dst.truncate(length)
    except OSError as exc:
        raise ImageError(f"copying {length} bytes at {offset} of {source} failed: {exc.strerror or exc}") from exc


def splice_sparse(base: Path, patch: Path, offset: int, target: Path) -> str:
    """Write ``base`` with ``patch`` in place of its bytes at ``offset`` to ``target``; the SHA-256 of the result.

    One pass: each data run is read once, hashed and written at its offset;
    each hole (in the base or the patch) stays a hole in ``target`` and is
    hashed as zeros, so the digest is what ``sha256sum target`` prints.
    ``target`` is created 0600 (a card holds its device's private key).
    """
    digest = hashlib.sha256()
    try:
        with open(base, "rb") as b, open(patch, "rb") as p:
            size = os.fstat(b.fileno()).st_size
            patch_size = os.fstat(p.fileno()).st_size
            if offset < 0 or offset + patch_size > size:
                raise ImageError(f"{patch} ({patch_size} bytes at {offset}) does not fit inside {base} ({size} bytes)")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # also when ``target`` was there before (a half-written card of a killed run)
                buffer = bytearray(CHUNK)
                rest = offset + patch_size
                for src, start, length, at in ((b.fileno(), 0, offset, 0), (p.fileno(), 0, patch_size, offset),
                                               (b.fileno(), rest, size - rest, rest)):
                    _splice_range(src, start, length, fd, at, digest, buffer)
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
    except OSError as exc:
        raise ImageError(f"writing {target} from {base} and {patch} failed: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _splice_range(src: int, start: int, length: int, dst: int, at: int, digest: Any, buffer: bytearray) -> None:
    """Bytes [start, start + length) of ``src`` to ``dst`` at ``at``: data written and hashed, holes hashed only."""
    view = memoryview(buffer)
    end = start + length
    pos = start
    for run_start, run_length in data_extents(src, os.fstat(src).st_size):
        lo, hi = max(run_start, pos), min(run_start + run_length, end)
        if hi <= lo:
            if run_start >= end:
                break
            continue
        _hash_zeros(digest, lo - pos, buffer)
        while lo < hi:
            n = os.preadv(src, [view[:min(CHUNK, hi - lo)]], lo)
            if n == 0:
                raise OSError(f"{src}: file ended at {lo}")
            digest.update(view[:n])
            os.pwrite(dst, view[:n], at + lo - start)
            lo += n
        pos = hi
    _hash_zeros(digest, end - pos, buffer)


def _hash_zeros(digest: Any, count: int, buffer: bytearray) -> None:
    """Hash ``count`` zero bytes (a hole) without reading them; ``buffer`` is overwritten."""
    if count <= 0:
        return
    zeros = memoryview(buffer)[:min(CHUNK, count)]
    zeros[:] = bytes(len(zeros))
    while count > 0:
        n = min(len(zeros), count)
        digest.update(zeros[:n])
        count -= n


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
