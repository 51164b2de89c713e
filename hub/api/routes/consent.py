"""A person's notice-and-consent records (DPDP Act 2023): read (anyone who may see the person), record and
withdraw (admin). Withdrawal erases the person's photos and templates everywhere (hub/enrolment/consent.py)."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from hub.accounts import audit
from hub.api.audited import AuditedReads
from hub.api.deps import AdminDep, CurrentUser, SessionDep, check_employee_visible
from hub.enrolment import consent
from hub.enrolment.erasure import MAX_REASON
from hub.enrolment.models import ConsentRecord
from hub.enrolment.photos import store_for
from hub.masterdata.employees import get_employee

router = APIRouter(prefix="/employees", tags=["consent"], dependencies=[AuditedReads("consent")])


class ConsentOut(BaseModel):
    id: int
    notice_version: str
    language: str
    channel: str
    recorded_by: str
    given_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class ConsentState(BaseModel):
    employee_id: str
    current_notice_version: str
    photo_retention_days: int  # what the notice says about photos (enrolment.photo_retention_days)
    active: ConsentOut | None
    history: list[ConsentOut]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "hi"] = Field(description="the language the notice was shown in")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON, description="e.g. the request's reference")


def _out(row: ConsentRecord) -> ConsentOut:
    return ConsentOut(id=row.id, notice_version=row.notice_version, language=row.language, channel=row.channel,
                      recorded_by=row.recorded_by, given_at=row.given_at, withdrawn_at=row.withdrawn_at,
                      withdrawn_by=row.withdrawn_by)


def _state(session, request: Request, employee_id: str) -> ConsentState:
    rows = consent.history(session, employee_id)
    active = next((r for r in rows if r.withdrawn_at is None), None)
    return ConsentState(employee_id=employee_id, current_notice_version=consent.NOTICE_VERSION,
                        photo_retention_days=request.app.state.config.enrolment.photo_retention_days,
                        active=_out(active) if active else None, history=[_out(r) for r in rows])


@router.get("/{employee_id}/consent")
def get_consent(employee_id: str, request: Request, session: SessionDep, user: CurrentUser) -> ConsentState:
    """Admins: anyone; unit officers: their units' staff; employees: themselves."""
    check_employee_visible(user, session, employee_id)
    return _state(session, request, employee_id)


@router.post("/{employee_id}/consent", status_code=status.HTTP_201_CREATED)
def record_consent(employee_id: str, body: ConsentIn, request: Request, session: SessionDep,
                   admin: AdminDep) -> ConsentState:
    """The admin showed the person the notice on the dashboard (in ``language``) and the person agreed."""
    get_employee(session, employee_id)
    if consent.active(session, employee_id) is None:  # an active consent stays as it is, unlogged
        row = consent.record(session, employee_id, language=body.language, channel="dashboard",
                             recorded_by=admin.username)
        audit.record(session, admin, "consent.record", f"employee:{employee_id}", None, audit.snapshot(row))
        session.commit()
    return _state(session, request, employee_id)


@router.post("/{employee_id}/consent/withdraw")
def withdraw_consent(employee_id: str, body: WithdrawIn, request: Request, session: SessionDep,
                     admin: AdminDep) -> ConsentState:
    """Ends the consent and erases the person's photos and templates at the hub and on every kiosk."""
    get_employee(session, employee_id)
    consent.withdraw(session, store_for(request.app.state.config), employee_id, actor=admin, reason=body.reason)
    session.commit()
    return _state(session, request, employee_id)
