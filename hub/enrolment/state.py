"""A person's enrolment as the console's person page shows it: each template's photo, and the
photos refused lately with their reasons.

Accepted photos become templates (``face_templates``), with the photo kept at
the hub until the retention period ends. Refused photos are never stored (a
bad photo is not biometric data worth keeping), so their verdicts come from
the audit log, where every enrolment records what it refused and why.
"""

import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.db import FaceTemplate
from hub.errors import NotFound

THUMBNAIL_PX = 160


@dataclass(frozen=True)
class TemplatePhoto:
    template_id: int
    source: str
    created_at: datetime
    photo_kept: bool


@dataclass(frozen=True)
class RefusedPhoto:
    file: str
    reason: str
    at: datetime


def templates_of(session: Session, employee_id: str) -> list[TemplatePhoto]:
    rows = session.scalars(select(FaceTemplate).where(FaceTemplate.employee_id == employee_id)
                           .order_by(FaceTemplate.id))
    return [TemplatePhoto(t.id, t.source, t.created_at, t.photo_file is not None) for t in rows]


def recent_refusals(session: Session, employee_id: str, *, enrolments: int = 5) -> list[RefusedPhoto]:
    """The photos refused by the last ``enrolments`` enrolments of the person, newest first."""
    out = []
    for entry in audit.list_entries(session, limit=enrolments, action="employee.enrol", target=f"employee:{employee_id}"):
        refused = json.loads(entry.after or "{}").get("refused") or {}
        out += [RefusedPhoto(file, reason, entry.at) for file, reason in sorted(refused.items())]
    return out


def kept_photo(session: Session, employee_id: str, template_id: int) -> str:
    """The kept photo's path relative to the photo folder; NotFound when there is none (any more)."""
    template = session.get(FaceTemplate, template_id)
    if template is None or template.employee_id != employee_id:
        raise NotFound(f"employee {employee_id!r} has no template {template_id}")
    if template.photo_file is None:
        raise NotFound(f"the photo of template {template_id} is no longer kept (retention period)")
    return template.photo_file


def thumbnail(path: Path, max_px: int = THUMBNAIL_PX) -> bytes:
    """A small JPEG of the photo at ``path`` (upright per its EXIF), at most ``max_px`` on a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # Pillow is the encoder's image reader too

    try:
        with Image.open(path) as img:
            small = ImageOps.exif_transpose(img).convert("RGB")
    except FileNotFoundError as exc:
        raise NotFound(f"the kept photo {path.name} is missing from the photo folder") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise NotFound(f"the kept photo {path.name} cannot be read: {exc}") from exc
    small.thumbnail((max_px, max_px))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return out.getvalue()
