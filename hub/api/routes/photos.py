"""Enrolment photos of one employee (admin): checked, encoded, kept at the hub, galleries bumped;
and what the person page shows of them (each template with a thumbnail of its kept photo, the photos
refused lately with their reasons).

Refused (409) until the person's consent is on record (hub/enrolment/consent.py).

The photos are encoded before the database is written, outside any write
transaction; kiosks receive templates through the gallery deltas, never photos.
"""

import threading
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep
from hub.enrolment import consent
from hub.enrolment.enrol import apply_enrolment, read_uploads
from hub.enrolment import state
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


class TemplateOut(BaseModel):
    template_id: int
    source: str
    created_at: datetime
    photo_kept: bool


class RefusedOut(BaseModel):
    file: str
    reason: str
    at: datetime


class EnrolmentStateOut(BaseModel):
    employee_id: str
    templates: list[TemplateOut]
    refused: list[RefusedOut]


@router.get("/{employee_id}/photos")
def enrolment_state(employee_id: str, session: SessionDep, _admin: AdminDep) -> EnrolmentStateOut:
    """Accepted photos (templates; ``photo_kept`` while the retention period lasts) and, from the audit
    log, the photos refused by the person's last five enrolments with the reason given."""
    get_employee(session, employee_id)
    return EnrolmentStateOut(
        employee_id=employee_id,
        templates=[TemplateOut(**vars(t)) for t in state.templates_of(session, employee_id)],
        refused=[RefusedOut(**vars(r)) for r in state.recent_refusals(session, employee_id)])


@router.get("/{employee_id}/photos/{template_id}/thumbnail",
            responses={200: {"content": {"image/jpeg": {}}, "description": "a JPEG at most 160 px on a side"}})
def template_thumbnail(employee_id: str, template_id: Annotated[int, Path(ge=1, le=2**62)], request: Request,
                       session: SessionDep, admin: AdminDep) -> Response:
    """A small JPEG of the kept photo a template came from (admins only; each view is audited)."""
    relative = state.kept_photo(session, employee_id, template_id)
    image = state.thumbnail(store_for(request.app.state.config).path(relative))
    audit.record(session, admin, "employee.photo_view", f"employee:{employee_id}", None, {"template_id": template_id})
    session.commit()
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
