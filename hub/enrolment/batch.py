"""Enrol the people of a ZIP one photo at a time, reporting each verdict as it is made.

Each photo goes through ``enrol.add_photo`` (the kiosk's quality rules, then
the encoder), so a ZIP and a one-person upload judge alike. Each person is
stored in a short transaction of their own once their photos are encoded:
a person whose photos were all refused gets only the audit entry that keeps
the reasons (the person page shows them), one not in the master data changes
nothing, and a failure half-way keeps the people already enrolled.
"""

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from biometrics.encoder import FaceEncoder
from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.config import EnrolmentConfig
from hub.db import Employee
from hub.enrolment import consent
from hub.enrolment.enrol import PersonPhotos, PhotoResult, add_photo, apply_enrolment
from hub.enrolment.photo_zip import ZipContents
from hub.enrolment.photos import PhotoStore

log = logging.getLogger(__name__)

Report = Callable[[dict[str, Any]], None]       # one photo's verdict
Progress = Callable[[str, int, int], None]      # (stage, done, total)


def enrol_contents(
    contents: ZipContents, *, session_factory: Callable[[], Session], encoder: FaceEncoder,
    limits: EnrolmentConfig, store: PhotoStore | None, actor: Principal, report: Report, progress: Progress,
) -> dict[str, Any]:
    """Judge, encode and store every photo of ``contents``; returns the totals and new gallery versions."""
    total = contents.photo_count
    for entry, reason in contents.refused:
        report({"employee_id": entry.split("/", 1)[0] if "/" in entry else None, "file": entry,
                "verdict": "refused", "note": reason})
    done, accepted, refused, enrolled, versions = 0, 0, len(contents.refused), [], {}
    for employee_id, photos in contents.people.items():
        with session_factory() as session:
            known = session.get(Employee, employee_id) is not None
            consented = known and consent.active(session, employee_id) is not None
        person = PersonPhotos(employee_id, employee_id)
        for photo in photos:
            progress("photos", done, total)
            accepted_before = len(person.accepted)
            if not known:
                person.refused.append(_unknown(photo.file))
            elif not consented:  # said per photo before any is judged: none of theirs would be stored
                person.refused.append(PhotoResult(photo.file, consent.NO_CONSENT))
            else:
                add_photo(person, encoder, photo.file, photo.data, limits)
            ok = len(person.accepted) > accepted_before
            note = (person.accepted[-1] if ok else person.refused[-1]).note
            report({"employee_id": employee_id, "file": f"{employee_id}/{photo.file}",
                    "verdict": "accepted" if ok else "refused", "note": note})
            done += 1
        accepted, refused = accepted + len(person.accepted), refused + len(person.refused)
        if known:  # also when every photo was refused: the audit log keeps the reasons (the person page)
            versions.update(_store(session_factory, person, store, actor))
        if person.templates:
            enrolled.append(employee_id)
    progress("photos", done, total)
    log.info("ZIP enrolment: %d people enrolled, %d photos accepted, %d refused", len(enrolled), accepted, refused)
    return {"people": len(contents.people), "enrolled": enrolled, "accepted": accepted, "refused": refused,
            "gallery_versions": versions}


def _unknown(file: str) -> PhotoResult:
    return PhotoResult(file, "not in the master data: import or create the employee first")


def _store(session_factory: Callable[[], Session], person: PersonPhotos, store: PhotoStore | None,
           actor: Principal) -> dict[str, int]:
    """One person's templates, audited like a one-person upload, in one transaction."""
    with session_factory() as session:
        result = apply_enrolment(session, None, [person], name_from_folder=False, store=store)
        audit.record(session, actor, "employee.enrol", f"employee:{person.employee_id}", None, {
            "accepted": [p.file for p in person.accepted], "refused": {p.file: p.note for p in person.refused},
            "gallery_versions": result.versions, "via": "zip"})
        session.commit()
        return result.versions
