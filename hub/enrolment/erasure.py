"""Erasure of one person's biometric data: enrolment photos and face templates, at the hub and on kiosks.

``erase_employee`` deletes the person's kept photos (their whole photo
folder) and template rows, then lets ``hub.enrolment.gallery.sync_members`` take
them out of every site gallery that held them: each such site's version
moves once and the member row is marked removed, so the next delta every
kiosk of those sites receives lists them in ``removed`` (kiosk/gallery.py
then rewrites its encrypted cache without them).

The SHA-256 of the frames of their phone punches (``phone_frame_hashes``,
kept so the same bytes are never accepted twice) go too: no photo can be
rebuilt from them, but they are tied to the staff number.

What stays: the employee's master-data row and their attendance (punches are
not biometric and payroll needs them). The audit log names who erased whom,
when, why and how much; never a template or a photo. Erasing again finds
nothing to delete, changes no gallery and is logged again.
"""

import logging
import shutil
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.db import Employee, FaceTemplate, GalleryMember
from hub.enrolment.gallery import sync_members
from hub.enrolment.photos import PhotoStore
from hub.errors import InvalidInput, NotFound
from hub.phone.models import PhoneFrameHash

log = logging.getLogger(__name__)

MAX_REASON = 500


@dataclass(frozen=True)
class ErasureReport:
    employee_id: str
    templates_deleted: int
    photos_deleted: int
    gallery_versions: dict[str, int]   # {site_id: new version} of the galleries they left


def erase_employee(session: Session, store: PhotoStore, employee_id: str, *, actor: Principal,
                   reason: str) -> ErasureReport:
    """Delete every photo and template of ``employee_id`` and remove them from all galleries; the caller commits.

    Files go before the rows (as ``hub.enrolment.photos.purge`` does): a crash in
    between leaves rows naming missing files, which a repeated erasure
    clears, never a photo the database no longer knows of.
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput("an erasure needs a reason (e.g. the request's reference)")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    if session.get(Employee, employee_id) is None:
        raise NotFound(f"unknown employee {employee_id!r}")
    sites_before = sorted(session.scalars(select(GalleryMember.site_id).where(
        GalleryMember.employee_id == employee_id, GalleryMember.removed.is_(False))))
    photos = _delete_photos(session, store, employee_id)
    deleted = session.execute(delete(FaceTemplate).where(FaceTemplate.employee_id == employee_id)).rowcount or 0
    hashes = session.execute(delete(PhoneFrameHash).where(PhoneFrameHash.employee_id == employee_id)).rowcount or 0
    session.flush()
    versions = sync_members(session, [employee_id])
    audit.record(session, actor, "employee.erase", f"employee:{employee_id}",
                 {"templates": deleted, "photos": photos, "phone_frame_hashes": hashes, "gallery_sites": sites_before},
                 {"templates": 0, "photos": 0, "phone_frame_hashes": 0, "gallery_sites": [], "reason": reason,
                  "gallery_versions": versions})
    log.info("erased the biometric data of employee %s: %d templates, %d photos; galleries now %s",
             employee_id, deleted, photos, versions)
    return ErasureReport(employee_id, deleted, photos, versions)


def _delete_photos(session: Session, store: PhotoStore, employee_id: str) -> int:
    """Delete the photos the rows name and the person's photo folder (anything left in it too)."""
    named = set(session.scalars(select(FaceTemplate.photo_file).where(
        FaceTemplate.employee_id == employee_id, FaceTemplate.photo_file.is_not(None))))
    count = 0
    for relative in sorted(named):
        if store.path(relative).exists():
            count += 1
        store.delete(relative)
    folder = store.folder_of(employee_id)
    if folder.is_dir():
        count += sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
    return count
