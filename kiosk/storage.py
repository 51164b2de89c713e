"""The kiosk's state directory as a place that can fail: errors with context, free space, the seq mark.

Worn SD cards and full file systems are ordinary on a wall-mounted Pi, so
every write to the state directory is expected to fail sometimes. Failures
become ``StorageError``, which names the operation, the cause and the free
space, so a health alarm says at once whether the disk is full or broken.

The space reserve (``reserve.bin``) is a pre-allocated file given back when
the disk is full: a kiosk started on a full disk could otherwise not even
open its outbox (SQLite needs room for the WAL index) and would only
restart, over and over, without a word to the hub.

The seq mark (``outbox.seq``) is a tiny file holding the highest punch
``seq`` this device has used or the hub has confirmed. It survives the
loss of the outbox database, so a kiosk whose outbox was damaged continues
its counter instead of starting again at 1 (DESIGN.md: the hub spots gaps
by ``seq``; a reused one would hide a loss).
"""

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


class StorageError(OSError):
    """A read or write in the state directory failed; ``str()`` says what, why and how much space is left."""

    def __init__(self, operation: str, cause: BaseException | str, directory: Path) -> None:
        self.operation = operation
        self.cause = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        self.free_mb = free_mb(directory)
        free = "unknown" if self.free_mb is None else f"{self.free_mb:.1f} MB"
        super().__init__(f"{operation} failed: {self.cause} (free space in {directory}: {free})")


def free_mb(directory: Path) -> float | None:
    """Free space for an unprivileged writer, in MB; None when the directory cannot be asked."""
    try:
        return shutil.disk_usage(directory).free / (1024 * 1024)
    except OSError:
        return None


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a power cut leaves the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class SpaceReserve:
    """A pre-allocated file in the state directory, deleted to give its space back when the disk is full."""

    def __init__(self, path: Path, size_mb: float) -> None:
        self.path = Path(path)
        self.size_bytes = int(size_mb * 1024 * 1024)

    def release(self) -> bool:
        """Delete the reserve; True when there was one to give back."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("the space reserve %s cannot be deleted: %s", self.path, exc)
            return False
        log.warning("disk full: released the %.1f MB space reserve %s", self.size_bytes / 2**20, self.path)
        return True

    def ensure(self, keep_free_mb: float) -> None:
        """Make the reserve when it is missing and ``keep_free_mb`` would still be free after it."""
        if self.size_bytes == 0 or self.path.exists():
            return
        free = free_mb(self.path.parent)
        if free is None or free - self.size_bytes / 2**20 < keep_free_mb:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size_bytes)
            finally:
                os.close(fd)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            log.warning("the space reserve %s could not be made: %s", self.path, exc)


class SeqMark:
    """The highest ``seq`` used or confirmed, in a file next to the outbox; only ever goes up."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._value = self._read()

    @property
    def value(self) -> int:
        return self._value

    def raise_to(self, seq: int) -> None:
        """Record ``seq`` when it is above the mark; raises StorageError when the file cannot be written."""
        if seq <= self._value:
            return
        try:
            write_atomically(self.path, f"{seq}\n".encode())
        except OSError as exc:
            raise StorageError(f"writing the seq mark {self.path.name} ({seq})", exc, self.path.parent) from exc
        self._value = seq

    def _read(self) -> int:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.error("seq mark %s cannot be read (%s); relying on the outbox and the hub", self.path, exc)
            return 0
        if not text.isdigit():
            log.error("seq mark %s holds %r, not a number; relying on the outbox and the hub", self.path, text[:40])
            return 0
        return int(text)
