"""Regularisation for reporting officers (/api/v1/regularisations): the requests of their units'
employees, each one's attachment, and the decision (approve or reject, with a remark).

Admins see every unit, unit officers their units and the units below them
(``hub.accounts.scope``); a request of anyone else answers 403, whether or
not it exists. Employees ask through the phone page (routes/phone_regularisation.py).
"""

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.api.audited import AuditedReads
from hub.api.deps import MAX_ROW_ID, OfficerDep, SessionDep, now, visible_unit_ids
from hub.attendance import regularisation
from hub.attendance.attachments import AttachmentStore, attachment_dir
from hub.attendance.models import RegularisationRequest
from hub.db import Employee
from hub.errors import NotFound

router = APIRouter(prefix="/regularisations", tags=["regularisation"], dependencies=[AuditedReads("regularisation")])

RequestId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class RequestOut(BaseModel):
    """One request as both the phone page and the dashboard show it."""

    id: int
    employee_id: str
    day: date
    kind: str
    kind_label: dict[str, str]  # {"en", "hi"}; the code itself when no longer configured
    reason: str
    state: Literal["pending", "approved", "rejected"]
    requested_at: datetime
    attachment_type: str | None
    attachment_bytes: int | None
    decided_at: datetime | None
    decided_by: str | None
    remark: str | None

    @classmethod
    def of(cls, r: RegularisationRequest, request: Request) -> "RequestOut":
        label = request.app.state.config.regularisation.reason(r.kind)
        return cls(id=r.id, employee_id=r.employee_id, day=r.day, kind=r.kind,
                   kind_label={"en": label.en, "hi": label.hi} if label else {"en": r.kind, "hi": r.kind},
                   reason=r.reason, state=r.state, requested_at=r.requested_at, attachment_type=r.attachment_type,
                   attachment_bytes=r.attachment_bytes, decided_at=r.decided_at, decided_by=r.decided_by,
                   remark=r.remark)


class OfficerRequestOut(RequestOut):
    name: str
    unit_id: str | None


class RequestList(BaseModel):
    items: list[OfficerRequestOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"]
    remark: str | None = Field(None, max_length=500, description="why; required to reject")


def store_of(request: Request) -> AttachmentStore:
    config = request.app.state.config
    return AttachmentStore(attachment_dir(config.regularisation, config.database_url))


def _officer_out(r: RegularisationRequest, e: Employee, request: Request) -> OfficerRequestOut:
    return OfficerRequestOut(**RequestOut.of(r, request).model_dump(), name=e.name, unit_id=e.unit_id)


@router.get("", response_model=RequestList)
def list_requests(request: Request, session: SessionDep, user: OfficerDep,
                  state: Annotated[Literal["pending", "approved", "rejected", "all"], Query(
                      description="which requests (default: pending, the officer's to-do list)")] = "pending"
                  ) -> RequestList:
    """Requests of employees in the caller's units, oldest day first."""
    rows = regularisation.officer_list(session, visible=visible_unit_ids(user, session),
                                       state=None if state == "all" else state)
    return RequestList(items=[_officer_out(r, e, request) for r, e in rows])


@router.get("/{request_id}/attachment", response_class=FileResponse,
            responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}})
def attachment(request: Request, session: SessionDep, user: OfficerDep, request_id: RequestId) -> FileResponse:
    """The file the employee attached, as a download (never shown inline)."""
    found = regularisation.visible_request(session, request_id, visible_unit_ids(user, session))
    if found.attachment_file is None or found.attachment_type is None:
        raise NotFound(f"request {request_id} has no attachment")
    return FileResponse(store_of(request).path(found.attachment_file), media_type=found.attachment_type,
                        filename=f"regularisation-{request_id}{found.attachment_file[-4:]}",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@router.post("/{request_id}/decision", response_model=OfficerRequestOut)
def decide(request: Request, session: SessionDep, user: OfficerDep, request_id: RequestId,
           body: DecisionIn) -> OfficerRequestOut:
    """Approve or reject a pending request (once); a rejection needs a remark. Audited with before and after."""
    found = regularisation.visible_request(session, request_id, visible_unit_ids(user, session))
    regularisation.decide(session, user, found, approve=body.decision == "approve", remark=body.remark,
                          now=now(request))
    session.commit()
    return _officer_out(found, session.get(Employee, found.employee_id), request)
