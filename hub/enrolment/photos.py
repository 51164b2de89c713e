"""Enrolment photos kept at the hub (only there: kiosks get templates), and their retention.

A kept photo lets an admin re-check a doubtful enrolment or re-encode with
a newer model; after ``enrolment.photo_retention_days`` ``purge`` deletes
it and the template stays. Files are named by content hash under
``<photo_dir>/<employee_id>/``, written atomically and readable by the hub
user only.
"""

import hashlib
import logging
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.db import FaceTemplate
from hub.errors import InvalidInput

log = logging.getLogger(__name__)


class PhotoStore:
    """The photo folder; nothing touches the disk before ``keep``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def keep(self, employee_id: str, data: bytes, suffix: str) -> str:
        """Store ``data``; returns its path relative to the root (the same bytes give the same path)."""
        suffix = suffix.lower() if suffix.lower() in (".jpg", ".jpeg", ".png") else ".img"
        folder = self._folder(employee_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = hashlib.sha256(data).hexdigest()[:32] + suffix
        target = folder / name
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return str(target.relative_to(self.root))

    def path(self, relative: str) -> Path:
        return self.root / relative

    def delete(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)

    def folder_of(self, employee_id: str) -> Path:
        """Where ``employee_id``'s photos are kept (erasure removes the whole folder)."""
        return self._folder(employee_id)

    def _folder(self, employee_id: str) -> Path:
        """A staff number may hold '/' or be '..': quoted, so a path never leaves the root."""
        if not employee_id:
            raise InvalidInput("an empty employee id cannot name a photo folder")
        return self.root / quote(employee_id, safe="-_").replace(".", "%2E")


def photo_dir(config: HubConfig) -> Path:
    """``enrolment.photo_dir``, or ``photos`` beside a SQLite database file."""
    if config.enrolment.photo_dir is not None:
        return config.enrolment.photo_dir
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent / "photos"
    raise InvalidInput("enrolment.photo_dir is not set (needed when the database is not a SQLite file)")


def store_for(config: HubConfig) -> PhotoStore:
    return PhotoStore(photo_dir(config))


def purge(session: Session, store: PhotoStore, *, retention_days: int, now: datetime) -> int:
    """Delete kept photos stored before ``now - retention_days``; returns how many. No commit.

    The file is deleted before the row forgets it: a crash in between leaves
    a row naming a missing file (harmless, purged again), never an
    untracked photo.
    """
    cutoff = now - timedelta(days=retention_days)
    rows = session.scalars(select(FaceTemplate).where(
        FaceTemplate.photo_file.is_not(None), FaceTemplate.photo_stored_at < cutoff))
    count = 0
    for template in rows:
        still_used = session.scalar(select(FaceTemplate.id).where(
            FaceTemplate.photo_file == template.photo_file, FaceTemplate.id != template.id,
            FaceTemplate.photo_stored_at >= cutoff).limit(1))
        if still_used is None:
            store.delete(template.photo_file)
        template.photo_file, template.photo_stored_at = None, None
        count += 1
    session.flush()
    log.info("purged %d enrolment photos older than %d days", count, retention_days)
    return count
