"""Approved leave read from Frappe HRMS (``Leave Application``), for the month the hub reports on.

``GET /api/resource/Leave Application`` with ``fields`` and ``filters`` as
JSON lists (Frappe's list API), token auth as for checkins, paged with
``limit_start`` / ``limit_page_length``. Only submitted (``docstatus`` 1)
and ``Approved`` applications overlapping the period are returned. The hub
does not store them yet: how a leave day shows in the muster roll (its
leave code) belongs to the leave-code work (issue 14 part 2), which can
call ``approved_leave``.
"""

import json
import logging
from dataclasses import dataclass
from datetime import date

import httpx

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
