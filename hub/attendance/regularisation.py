"""Regularisation: an employee asks to correct a day, a reporting officer approves or rejects it,
and the muster roll shows an approved day as regularised (code R, counted as present).

Two parts, kept apart so the muster roll needs one call and a table test
needs no database:

- pure rules: ``check_request`` (is this a day that may be corrected, with a
  known reason and some words?) and ``regularised_statuses`` (the muster
  roll's statuses with approved days overridden);
- model access: ``submit``, ``decide``, the lists, and ``approved_days`` (one
  query for all the employees of a report).

Only a day that is not already a full present day can be regularised:
absent, half day, late (an officer on duty elsewhere came in late to the
kiosk), or not decided yet (today, on duty away). A later punch that makes
the day present wins over the approval, since the day then needs no
correction. Refusals carry a stable ``code`` (the phone page's reasons in
``hub.phone.reasons``) and the details its message needs.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.attendance import rules
from hub.attendance.config import RegularisationConfig
from hub.attendance.models import APPROVED, PENDING, REJECTED, RegularisationRequest
from hub.db import Employee
from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound

CORRECTABLE = frozenset({rules.ABSENT, rules.HALF_DAY, rules.LATE, rules.NOT_YET})


class RegularisationRefused(HubError, ValueError):
    """A request turned down before anything is written; ``code`` names why, ``details`` fill its message."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


# ---- pure rules ------------------------------------------------------------------------------

def check_request(*, day: date, today: date, status: str, kind: str, reason: str,
                  config: RegularisationConfig) -> None:
    """Refuse a request that no officer should have to read: unknown reason, no words, a future or too old
    day, a day that is not a working day or is already present (``status`` is the day's muster status)."""
    if config.reason(kind) is None:
        raise RegularisationRefused("reg_kind_unknown", f"unknown reason {kind!r}",
                                    known=", ".join(r.code for r in config.reasons))
    if not reason.strip():
        raise RegularisationRefused("reg_reason_missing", "say in a few words what happened")
    if len(reason) > config.max_reason_chars:
        raise RegularisationRefused("reg_reason_too_long", f"the reason is longer than {config.max_reason_chars}",
                                    max=config.max_reason_chars)
    if day > today:
        raise RegularisationRefused("reg_future_day", f"{day} has not come yet", day=day.isoformat())
    if (today - day).days > config.max_days_back:
        raise RegularisationRefused("reg_too_old", f"{day} is more than {config.max_days_back} days ago",
                                    day=day.isoformat(), days=config.max_days_back)
    if status == rules.NON_WORKING:
        raise RegularisationRefused("reg_not_working_day", f"{day} is not a working day", day=day.isoformat())
    if status not in CORRECTABLE:
        raise RegularisationRefused("reg_day_present", f"{day} is already present", day=day.isoformat())


def regularised_statuses(days: Sequence[date], statuses: Sequence[str], approved: Collection[date]) -> list[str]:
    """``statuses`` (one per day of ``days``) with each approved day that still needs it made REGULARISED."""
    if not approved:
        return list(statuses)
    return [rules.REGULARISED if d in approved and s in CORRECTABLE else s for d, s in zip(days, statuses)]


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


# ---- model access ------------------------------------------------------------------------------

def open_request(session: Session, employee_id: str, day: date) -> RegularisationRequest | None:
    """The pending or approved request for that day, if any (a rejected one may be asked again)."""
    return session.scalars(select(RegularisationRequest).where(
        RegularisationRequest.employee_id == employee_id, RegularisationRequest.day == day,
        RegularisationRequest.state.in_((PENDING, APPROVED)))).first()


def count_in_month(session: Session, employee_id: str, day: date) -> int:
    first, last = month_of(day)
    return session.scalar(select(func.count()).select_from(RegularisationRequest).where(
        RegularisationRequest.employee_id == employee_id, RegularisationRequest.day.between(first, last))) or 0


def check_stored(session: Session, employee_id: str, day: date, config: RegularisationConfig) -> None:
    """Refuse a second open request for the day, or one past the month's limit."""
    existing = open_request(session, employee_id, day)
    if existing is not None:
        raise RegularisationRefused("reg_already_requested", f"{day} already has a request ({existing.state})",
                                    day=day.isoformat(), state=existing.state)
    used = count_in_month(session, employee_id, day)
    if used >= config.max_per_month:
        raise RegularisationRefused("reg_month_limit", f"{used} requests for {day:%Y-%m} already (limit "
                                    f"{config.max_per_month})", limit=config.max_per_month, month=f"{day:%Y-%m}")


def submit(session: Session, actor: Principal, *, employee_id: str, day: date, kind: str, reason: str,
           attachment: tuple[str, str, int] | None, now: datetime) -> RegularisationRequest:
    """Store a checked request (``attachment``: stored name, type, size) and audit it; the caller commits."""
    request = RegularisationRequest(employee_id=employee_id, day=day, kind=kind, reason=reason.strip(),
                                    state=PENDING, requested_at=now)
    if attachment is not None:
        request.attachment_file, request.attachment_type, request.attachment_bytes = attachment
    session.add(request)
    session.flush()
    audit.record(session, actor, "regularisation.request", f"employee:{employee_id}", None, audit.snapshot(request))
    return request


def requests_of(session: Session, employee_id: str, limit: int = 50) -> list[RegularisationRequest]:
    """An employee's own requests, newest day first."""
    return list(session.scalars(select(RegularisationRequest).where(RegularisationRequest.employee_id == employee_id)
                                .order_by(RegularisationRequest.day.desc(), RegularisationRequest.id.desc())
                                .limit(limit)))


def officer_list(session: Session, *, visible: set[str] | None, state: str | None, limit: int = 500
                 ) -> list[tuple[RegularisationRequest, Employee]]:
    """Requests of employees in ``visible`` units (None: all), oldest day first; ``state`` None: every state."""
    query = (select(RegularisationRequest, Employee)
             .join(Employee, Employee.employee_id == RegularisationRequest.employee_id)
             .order_by(RegularisationRequest.day, RegularisationRequest.id).limit(limit))
    if visible is not None:
        query = query.where(Employee.unit_id.in_(sorted(visible)))
    if state is not None:
        query = query.where(RegularisationRequest.state == state)
    return [(r, e) for r, e in session.execute(query)]


def visible_request(session: Session, request_id: int, visible: set[str] | None) -> RegularisationRequest:
    """The request, if its employee is in ``visible`` units; Forbidden otherwise (existence not revealed)."""
    found = session.execute(select(RegularisationRequest, Employee.unit_id)
                            .join(Employee, Employee.employee_id == RegularisationRequest.employee_id)
                            .where(RegularisationRequest.id == request_id)).first()
    if visible is not None and (found is None or found[1] not in visible):
        raise Forbidden(f"request {request_id} is not of an employee in your units")
    if found is None:
        raise NotFound(f"no regularisation request {request_id}")
    return found[0]


def decide(session: Session, actor: Principal, request: RegularisationRequest, *, approve: bool,
           remark: str | None, now: datetime) -> RegularisationRequest:
    """Approve or reject a pending request, once, and audit it; a rejection needs a remark. The caller commits."""
    remark = (remark or "").strip() or None
    if request.state != PENDING:
        raise Conflict(f"request {request.id} was already {request.state} by {request.decided_by}")
    if not approve and remark is None:
        raise InvalidInput("say in the remark why the request is rejected")
    if actor.employee_id is not None and actor.employee_id == request.employee_id:
        raise Forbidden("nobody decides their own request")
    before = audit.snapshot(request)
    request.state = APPROVED if approve else REJECTED
    request.decided_at, request.decided_by, request.remark = now, actor.username[:100], remark
    session.flush()
    audit.record(session, actor, f"regularisation.{'approve' if approve else 'reject'}",
                 f"employee:{request.employee_id}", before, audit.snapshot(request))
    return request


def approved_days(session: Session, where: Sequence[ColumnElement[bool]], first: date, last: date
                  ) -> dict[str, set[date]]:
    """Approved days from ``first`` to ``last`` of the employees matching ``where`` (conditions on Employee)."""
    query = (select(RegularisationRequest.employee_id, RegularisationRequest.day)
             .join(Employee, Employee.employee_id == RegularisationRequest.employee_id)
             .where(*where, RegularisationRequest.state == APPROVED, RegularisationRequest.day.between(first, last)))
    out: dict[str, set[date]] = defaultdict(set)
    for employee_id, day in session.execute(query):
        out[employee_id].add(day)
    return out
