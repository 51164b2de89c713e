"""Approved leave read from Frappe HRMS (``Leave Application``), for the month the hub reports on.

``GET /api/resource/Leave Application`` with ``fields`` and ``filters`` as
JSON lists (Frappe's list API), token auth as for checkins, paged with
``limit_start`` / ``limit_page_length``. Only submitted (``docstatus`` 1)
and ``Approved`` applications overlapping the period are returned.

``store_approved_leave`` keeps them as leave entries (source ``hrms``, the
application's name as reference), with the leave code that
``attendance.hrms_leave_types`` maps its leave type to. A pull is the HRMS's
word for the period: an application pulled before and no longer approved
(cancelled) is deleted, one pulled again is replaced. An application the
hub cannot store (unknown leave type or employee, overlapping leave entered
at the hub) is reported and skipped, never half-stored.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx
from sqlalchemy import delete
from sqlalchemy.orm import Session

from hub.attendance import store
from hub.attendance.daycode import CodeBook
from hub.attendance.fields import LeaveIn
from hub.attendance.models import LeaveEntry
from hub.errors import HubError
from hub.hrms import TargetRefused
from hub.hrms.config import FrappeTarget
from hub.hrms.frappe import FrappeClient
from hub.hrms.http import classify, transport_error

log = logging.getLogger(__name__)

LEAVE_PATH = "/api/resource/Leave Application"
FIELDS = ["name", "employee", "leave_type", "from_date", "to_date", "half_day", "half_day_date"]


@dataclass(frozen=True)
class ApprovedLeave:
    name: str  # the Frappe document, e.g. HR-LAP-2026-00012
    employee_id: str
    leave_type: str
    first: date
    last: date
    half_day_on: date | None  # the half day, when the application is for a half day


def _leave(doc: dict) -> ApprovedLeave:
    try:
        half = doc.get("half_day_date") if doc.get("half_day") else None
        return ApprovedLeave(doc["name"], doc["employee"], doc["leave_type"], date.fromisoformat(doc["from_date"]),
                             date.fromisoformat(doc["to_date"]), date.fromisoformat(half) if half else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetRefused(f"Frappe sent a Leave Application the hub cannot read: {doc!r:.300}") from exc


def approved_leave(target: FrappeTarget, first: date, last: date, *, http: httpx.Client | None = None,
                   page: int = 500) -> list[ApprovedLeave]:
    """Every approved, submitted leave application overlapping ``first``..``last``, in Frappe's order."""
    client = FrappeClient(target, http)
    url = str(target.url).rstrip("/") + LEAVE_PATH
    filters = [["status", "=", "Approved"], ["docstatus", "=", 1],
               ["from_date", "<=", last.isoformat()], ["to_date", ">=", first.isoformat()]]
    out: list[ApprovedLeave] = []
    try:
        while True:
            params = {"fields": json.dumps(FIELDS), "filters": json.dumps(filters), "order_by": "from_date asc",
                      "limit_start": str(len(out)), "limit_page_length": str(page)}
            try:
                response = client.http.get(url, params=params, headers=client.auth_headers())
            except httpx.HTTPError as exc:
                raise transport_error(target.name, exc) from exc
            classify(target.name, response)
            batch = response.json()["data"]
            out += [_leave(doc) for doc in batch]
            if len(batch) < page:
                break
    finally:
        if http is None:
            client.close()
    log.info("%s: %d approved leave applications between %s and %s", target.name, len(out), first, last)
    return out


@dataclass
class StoredLeave:
    """What a pull did: entries stored, entries of cancelled applications deleted, applications skipped."""

    stored: int = 0
    deleted: int = 0
    skipped: list[str] = field(default_factory=list)  # "HR-LAP-...: why"


def _parts(leave: ApprovedLeave, code: str) -> list[LeaveIn]:
    """The application as entries: its days, with the half day (if any) as an entry of its own."""
    half = leave.half_day_on if leave.half_day_on and leave.first <= leave.half_day_on <= leave.last else None
    if half is None:
        return [LeaveIn(employee_id=leave.employee_id, code=code, first=leave.first, last=leave.last)]
    parts = [LeaveIn(employee_id=leave.employee_id, code=code, first=half, last=half, half_day=True)]
    if leave.first < half:
        parts.append(LeaveIn(employee_id=leave.employee_id, code=code, first=leave.first,
                             last=half - timedelta(days=1)))
    if half < leave.last:
        parts.append(LeaveIn(employee_id=leave.employee_id, code=code, first=half + timedelta(days=1),
                             last=leave.last))
    return parts


def store_approved_leave(session: Session, leaves: list[ApprovedLeave], *, first: date, last: date,
                         leave_types: dict[str, str], book: CodeBook) -> StoredLeave:
    """Keep ``leaves`` (the approved applications overlapping first..last) as the hub's HRMS leave."""
    result = StoredLeave()
    names = {leave.name for leave in leaves}
    result.deleted = store.replace_source(session, source="hrms", first=first, last=last, keep=names)
    for leave in leaves:
        session.execute(delete(LeaveEntry).where(LeaveEntry.source == "hrms", LeaveEntry.source_ref == leave.name))
        code = leave_types.get(leave.leave_type)
        if code is None:
            result.skipped.append(f"{leave.name}: leave type {leave.leave_type!r} has no code in "
                                  "attendance.hrms_leave_types")
            continue
        try:
            with session.begin_nested():  # an application is stored whole or not at all
                for part in _parts(leave, code):
                    store.add_leave(session, part, book, source="hrms", by="hrms", source_ref=leave.name)
            result.stored += 1
        except (HubError, ValueError) as exc:
            result.skipped.append(f"{leave.name}: {exc}")
    if result.skipped:
        log.warning("HRMS leave not stored: %s", "; ".join(result.skipped))
    return result
