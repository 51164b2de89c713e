"""The kiosk's log spill: warnings and errors kept on disk, bounded, and trimmed first when the disk runs low.

The journal lives in RAM (provisioning: ``Storage=volatile``, 32 MB), so an
SD card is not worn by logging, and a reboot forgets it. What is worth
keeping across a reboot (warnings and errors, a few a day on a healthy
kiosk) spills into ``state_dir/logs``: one file rotated at ``spill_mb / 2``
with one older file beside it, so the spill never holds more than
``spill_mb``. It sits on the writable partition next to the outbox (a
read-only root keeps nothing), and it is the first thing given back when
the disk runs low (kiosk/selfheal.py): the outbox is never trimmed.
"""

import logging
import logging.handlers
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

SPILL_DIR = "logs"
SPILL_FILE = "kiosk.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogsConfig(BaseModel):
    """The on-disk log spill (``logs:`` in kiosk.yaml); kiosk/logspill.py."""

    model_config = ConfigDict(extra="forbid")

    spill_mb: float = Field(1.0, ge=0, le=64,
                            description="at most this much of warnings and errors kept in state_dir/logs (0: none)")
    spill_level: str = Field("WARNING", pattern="^(DEBUG|INFO|WARNING|ERROR)$",
                             description="the least severe level written to the spill")


class _SpillHandler(logging.handlers.RotatingFileHandler):
    """A rotating file whose failed writes (a full disk) are counted, not printed as tracebacks."""

    dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1


class LogSpill:
    """A size-bounded rotating file of the kiosk's warnings, attached to the root logger by ``open()``."""

    def __init__(self, state_dir: Path, config: LogsConfig) -> None:
        self.dir = Path(state_dir) / SPILL_DIR
        self.path = self.dir / SPILL_FILE
        self.config = config
        self._handler: _SpillHandler | None = None

    def open(self) -> None:
        """Start spilling; a disk that refuses costs a log line, never the kiosk."""
        if self.config.spill_mb <= 0 or self._handler is not None:
            return
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
            handler = _SpillHandler(
                self.path, maxBytes=int(self.config.spill_mb * 2**20 / 2), backupCount=1, delay=True)
        except OSError as exc:
            log.error("no log spill in %s: %s", self.dir, exc)
            return
        handler.setLevel(self.config.spill_level)
        handler.setFormatter(logging.Formatter(FORMAT))
        logging.getLogger().addHandler(handler)
        self._handler = handler

    def close(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def trim(self) -> int:
        """Give the spill's space back: drop the older file, empty the current one; returns bytes freed."""
        freed = 0
        handler = self._handler
        if handler is not None:
            handler.acquire()
        try:
            for path in self._files():
                try:
                    size = path.stat().st_size
                    if path == self.path:
                        with open(path, "r+b") as f:
                            f.truncate(0)
                    else:
                        path.unlink()
                    freed += size
                except OSError as exc:
                    log.error("log spill %s could not be trimmed: %s", path, exc)
            if handler is not None and handler.stream is not None:
                handler.stream.seek(0)     # the handler appends: go on at the start of the emptied file
        finally:
            if handler is not None:
                handler.release()
        return freed

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.dir.iterdir() if p.name.startswith(SPILL_FILE) and p.is_file())
        except OSError:
            return []
