"""Enrolment photos of one employee (admin): checked, encoded, kept at the hub, galleries bumped.

Refused (409) until the person's consent is on record (hub/enrolment/consent.py).

The photos are encoded before the database is written, outside any write
transaction; kiosks receive templates through the gallery deltas, never photos.
"""

import threading
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel

from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep
from hub.enrolment import consent
from hub.enrolment.enrol import apply_enrolment, read_uploads
from hub.enrolment.photos import store_for
from hub.errors import InvalidInput
from hub.masterdata.employees import get_employee

router = APIRouter(prefix="/employees", tags=["enrolment"])
MAX_FILES = 20
_encoder_lock = threading.Lock()


class PhotoOut(BaseModel):
    file: str
    note: str


class EnrolmentOut(BaseModel):
    employee_id: str
    accepted: list[PhotoOut]
    refused: list[PhotoOut]
    changed: bool
    gallery_versions: dict[str, int]


def encoder_of(request: Request):
    """The app's face encoder, built on first use (loading dlib's models takes a moment)."""
    with _encoder_lock:
        if getattr(request.app.state, "encoder", None) is None:
            request.app.state.encoder = request.app.state.encoder_factory()
        return request.app.state.encoder


@router.post("/{employee_id}/photos")
def enrol_photos(
    employee_id: str,
    files: Annotated[list[UploadFile], File(description="one or more .jpg/.jpeg/.png photos")],
    request: Request,
    session: SessionDep,
    admin: AdminDep,
) -> EnrolmentOut:
    config = request.app.state.config.enrolment
    get_employee(session, employee_id)
    consent.require(session, employee_id)  # 409 with what to do; nothing read or written
    session.rollback()  # no transaction stays open while the photos are encoded
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} photos per upload")
    uploads = [(f.filename or "photo", f.file.read(config.max_photo_bytes + 1)) for f in files]
    person = read_uploads(encoder_of(request), employee_id, uploads, config)
    report = apply_enrolment(session, None, [person], name_from_folder=False, store=store_for(request.app.state.config))
    audit.record(session, admin, "employee.enrol", f"employee:{employee_id}", None, {
        "accepted": [p.file for p in person.accepted], "refused": {p.file: p.note for p in person.refused},
        "gallery_versions": report.versions})
    session.commit()
    return EnrolmentOut(
        employee_id=employee_id, accepted=[PhotoOut(file=p.file, note=p.note) for p in person.accepted],
        refused=[PhotoOut(file=p.file, note=p.note) for p in person.refused],
        changed=employee_id in report.changed, gallery_versions=report.versions,
    )
