"""Erasure of one employee's biometric data (admin): photos and templates at the hub, and on kiosks
through the next gallery delta (hub/enrolment/erasure.py). Attendance records stay."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import AdminDep, SessionDep
from hub.enrolment.erasure import MAX_REASON, erase_employee
from hub.enrolment.photos import store_for

router = APIRouter(prefix="/employees", tags=["employees"])


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why (e.g. the request's reference)")


class ErasureOut(BaseModel):
    employee_id: str
    templates_deleted: int
    photos_deleted: int
    gallery_versions: dict[str, int]


@router.post("/{employee_id}/erase")
def erase(employee_id: str, body: EraseIn, request: Request, session: SessionDep, admin: AdminDep) -> ErasureOut:
    """Idempotent: erasing again deletes nothing more and is logged again."""
    report = erase_employee(session, store_for(request.app.state.config), employee_id, actor=admin,
                            reason=body.reason)
    session.commit()
    return ErasureOut(employee_id=report.employee_id, templates_deleted=report.templates_deleted,
                      photos_deleted=report.photos_deleted, gallery_versions=report.gallery_versions)
