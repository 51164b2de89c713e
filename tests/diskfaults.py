"""Real storage faults for kiosk tests: a small file system that fills up, and an outbox file harmed on disk.

A full disk is a real tmpfs mounted for the test (root only: the test skips
otherwise), not a patched ``write``. The harms are what worn SD cards and
power cuts do to a SQLite file while the kiosk is off.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PAGE = 4096  # SQLite's default page size, which the outbox uses


@contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. "1m") at ``where`` for the block; skip the test when mounting is refused."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for a full disk (needs root): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(fs: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 512):           # then the last few blocks, in small pieces
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


def zero_length(path: Path) -> None:
    path.write_bytes(b"")


def damaged_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"\xff" * 100)


def damaged_page(path: Path) -> None:
    """A pattern over most of the last page, where the newest rows live."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size - PAGE + 8)
        f.write(b"\xa5" * 3000)


def cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def cut_tail(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 2 * PAGE)
