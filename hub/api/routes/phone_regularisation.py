"""Regularisation on the phone page (/phone/api/regularisations): an employee asks to correct a day
and follows the state of their requests.

The same login as the punch (phone session + bound device) and the same
refusals (``{"ok": false, "reason", "message": {"en", "hi"}}``, kept in the
phone refusal log). Every check runs before anything is written: the
request row, its attachment file and its audit entry are written together,
and the file is removed again when the commit fails.
"""

import logging
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.accounts.principal import EMPLOYEE, Principal
from hub.api.deps import public
from hub.api.routes.phone import IdentityDep, PhoneDep, PhoneRoute, _address, require_secure
from hub.api.routes.regularisation import RequestOut, store_of
from hub.attendance import regularisation
from hub.attendance.attachments import sniff
from hub.attendance.config import RegularisationConfig
from hub.attendance.regularisation import RegularisationRefused
from hub.db import Employee, Site
from hub.phone.reasons import Refused
from hub.reports import queries as reports

PREFIX = ""
log = logging.getLogger(__name__)
router = APIRouter(prefix="/phone/api/regularisations", tags=["phone"], route_class=PhoneRoute,
                   dependencies=[Depends(public), Depends(require_secure)])


class ReasonOut(BaseModel):
    code: str
    en: str
    hi: str


class MyRequests(BaseModel):
    today: date  # at the home site: the latest day that may be corrected
    earliest: date  # the oldest day that may still be corrected
    max_per_month: int
    max_attachment_bytes: int
    attachment_types: list[str]
    reasons: list[ReasonOut]
    items: list[RequestOut]


def _config(request: Request) -> RegularisationConfig:
    return request.app.state.config.regularisation


def _today(request: Request, session: Session, employee_id: str) -> date:
    """Today at the employee's home site (its days are the muster roll's days)."""
    employee = session.get(Employee, employee_id)
    site = session.get(Site, employee.home_site_id)
    return request.app.state.clock().astimezone(ZoneInfo(site.timezone)).date()


def _day_status(request: Request, session: Session, employee_id: str, day: date) -> str:
    """The day's status as the muster roll judges it from the punches alone."""
    settings = request.app.state.config.attendance
    ctx = reports.ReportContext(settings.calendar(), settings.flag_policy(), request.app.state.clock())
    return reports.employee_history(session, ctx, employee_id=employee_id, first=day, last=day,
                                    regularised=False)[0].status


def _parse_day(text: str | None) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise Refused("reg_day_invalid") from None


@router.get("", response_model=MyRequests)
def mine(identity: IdentityDep, request: Request) -> MyRequests:
    """The reasons to choose from, the limits, and the employee's own requests with their state."""
    config = _config(request)
    with request.app.state.session_factory() as session:
        today = _today(request, session, identity.employee_id)
        items = [RequestOut.of(r, request) for r in regularisation.requests_of(session, identity.employee_id)]
    return MyRequests(today=today, earliest=date.fromordinal(today.toordinal() - config.max_days_back),
                      max_per_month=config.max_per_month, max_attachment_bytes=config.max_attachment_bytes,
                      attachment_types=list(config.attachment_types),
                      reasons=[ReasonOut(code=r.code, en=r.en, hi=r.hi) for r in config.reasons], items=items)


@router.post("", response_model=RequestOut)
def ask(
    identity: IdentityDep, request: Request, phone: PhoneDep,
    day: Annotated[str | None, Form(description="the day to correct, YYYY-MM-DD")] = None,
    kind: Annotated[str | None, Form(description="a reason code offered by GET")] = None,
    reason: Annotated[str | None, Form(description="what happened, in the employee's words")] = None,
    attachment: Annotated[UploadFile | None, File(description="optional PDF, JPEG or PNG")] = None,
) -> RequestOut:
    """Ask to correct a day; refused, with nothing written, when a rule says no."""
    config = _config(request)
    address = _address(request)
    with phone.audited("regularise", address, identity.employee_id):
        try:
            return _ask(request, identity.employee_id, address, config, _parse_day(day), kind or "", reason or "",
                        attachment)
        except RegularisationRefused as exc:
            raise Refused(exc.code, **exc.details) from exc


def _ask(request: Request, employee_id: str, address: str | None, config: RegularisationConfig, day: date,
         kind: str, reason: str, upload: UploadFile | None) -> RequestOut:
    data = upload.file.read(config.max_attachment_bytes + 1) if upload is not None and upload.filename else b""
    media_type = sniff(data, config) if data else None
    with request.app.state.session_factory() as session:
        today = _today(request, session, employee_id)
        in_range = 0 <= (today - day).days <= config.max_days_back  # else check_request refuses it by date
        status = _day_status(request, session, employee_id, day) if in_range else ""
        regularisation.check_request(day=day, today=today, status=status, kind=kind, reason=reason, config=config)
        regularisation.check_stored(session, employee_id, day, config)
        store = store_of(request)
        stored = store.save(data, media_type) if media_type is not None else None
        try:
            actor = Principal(username=employee_id, role=EMPLOYEE, employee_id=employee_id, source=address)
            made = regularisation.submit(session, actor, employee_id=employee_id, day=day, kind=kind, reason=reason,
                                         attachment=(stored, media_type, len(data)) if stored else None,
                                         now=request.app.state.clock())
            session.commit()
        except BaseException:
            if stored is not None:
                store.delete(stored)
            raise
        log.info("regularisation request %d by %s for %s", made.id, employee_id, day)
        return RequestOut.of(made, request)
