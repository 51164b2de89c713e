"""Attachments of regularisation requests (a duty order, a screenshot): checked and kept on disk.

The type is judged by the file's first bytes, never by its name or the
browser's content type, and only the configured types pass. Each file is
stored under a random name in a folder only the hub's user may enter (0700),
created owner-only (0600) with O_EXCL, so an upload can neither choose nor
replace a path. The database row keeps the stored name; officers download it
through the API, which checks their scope first.
"""

import logging
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from hub.attendance.config import RegularisationConfig
from hub.attendance.regularisation import RegularisationRefused
from hub.db import PRIVATE_FILE_MODE
from hub.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
MAGIC: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}


def sniff(data: bytes, config: RegularisationConfig) -> str:
    """The media type of ``data`` if it is one of the accepted types; refused otherwise (empty, too large)."""
    if len(data) > config.max_attachment_bytes:
        raise RegularisationRefused("reg_attachment_too_large", f"the attachment is larger than "
                                    f"{config.max_attachment_bytes} bytes", max_kb=config.max_attachment_bytes // 1024)
    for media_type in config.attachment_types:
        if data and data.startswith(MAGIC[media_type][0]):
            return media_type
    raise RegularisationRefused("reg_attachment_type", "the attachment is not a PDF, JPEG or PNG file",
                                types=", ".join(t.split("/")[1].upper() for t in config.attachment_types))


def attachment_dir(config: RegularisationConfig, database_url: str) -> Path:
    """``regularisation.attachment_dir``, or 'regularisation' beside a SQLite database file."""
    if config.attachment_dir is not None:
        return config.attachment_dir
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent / "regularisation"
    raise InvalidInput("regularisation.attachment_dir is not set (needed when the database is not a SQLite file)")


class AttachmentStore:
    """Owner-only files under ``root``, named by the store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, data: bytes, media_type: str) -> str:
        """Write ``data`` to a new owner-only file; returns its stored name."""
        self.root.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.root, PRIVATE_DIR_MODE)
        name = secrets.token_hex(16) + MAGIC[media_type][1]
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.delete(name)
            raise
        log.info("kept a regularisation attachment %s (%d bytes)", name, len(data))
        return name

    def path(self, name: str) -> Path:
        """The file of a stored name (names come from the database, still checked: no path may leave root)."""
        if not name or Path(name).name != name or name.startswith("."):
            raise InvalidInput(f"not a stored attachment name: {name!r}")
        path = self.root / name
        if not path.is_file():
            raise NotFound(f"attachment {name} is missing from {self.root}")
        return path

    def delete(self, name: str) -> None:
        try:
            (self.root / Path(name).name).unlink()
        except FileNotFoundError:
            pass
