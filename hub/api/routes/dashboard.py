"""The admin dashboard (/dashboard/, plain HTML/JS/CSS from hub/static/dashboard) and the two
small JSON answers only it needs (/api/v1/dashboard/...): the hub's clock and today's attendance
per unit.

The pages themselves are public files; every piece of data they show comes from the API, which
checks the caller's role and units (a unit officer's page gets the API's 403 and says so). The
dashboard logs in with the session cookie set by /api/v1/auth/login (HttpOnly, SameSite=Lax), so
the page's script never holds the token.
"""

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.api.audited import AuditedReads
from hub.api.deps import (
    CurrentUser,
    OfficerDep,
    SessionDep,
    now,
    public,
    visible_unit_ids,
)
from hub.attendance import rules
from hub.db import OrgUnit, Site
from hub.reports import queries as reports
from hub.reports.config import AttendanceConfig

PREFIX = ""  # the page lives at /dashboard, its JSON under /api/v1/dashboard
STATIC = Path(__file__).resolve().parents[2] / "static" / "dashboard"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def dashboard_assets(root: Path = STATIC) -> dict[str, str]:
    """{relative path: media type} of every servable file under ``root`` (app.js, lib/*.js, pages/*.js, ...).

    Listed once at start-up: a request is answered only when its path is a key of this dict, so no
    path the client makes up (``..``, encoded slashes, absolute paths, symlinks added later) can reach
    any other file.
    """
    return {path.relative_to(root).as_posix(): MEDIA_TYPES[path.suffix]
            for path in sorted(root.rglob("*")) if path.is_file() and path.suffix in MEDIA_TYPES}


ASSETS = dashboard_assets()
PAGE_HEADERS = {
    # no inline script or style anywhere: data reaches the page only as text nodes
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
NO_UNIT = ""  # employees without an org unit are counted under this id
STATUSES = (rules.PRESENT, rules.REGULARISED, rules.LATE, rules.HALF_DAY, rules.ABSENT, rules.NOT_YET,
            rules.NON_WORKING, rules.ON_LEAVE, rules.NOT_EMPLOYED)

page_router = APIRouter(prefix="/dashboard", tags=["dashboard"], dependencies=[Depends(public)],
                        include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])


# --- the page -----------------------------------------------------------------------

root_router = APIRouter(dependencies=[Depends(public)], include_in_schema=False)


@root_router.get("/")
def root_redirect() -> RedirectResponse:
    """The hub's bare address leads people to the dashboard (its login page)."""
    return RedirectResponse("/dashboard/")


@page_router.get("")
def page_redirect() -> RedirectResponse:
    return RedirectResponse("/dashboard/")


@page_router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@page_router.get("/{asset:path}")
def page_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=PAGE_HEADERS)


# --- the hub's clock ------------------------------------------------------------------

class ClockOut(BaseModel):
    now: datetime  # in ``timezone``
    date: date  # today there: what the pages offer as the default day
    timezone: str


def hub_timezone(session: Session) -> ZoneInfo:
    """The time zone most sites keep (UTC with no sites): whose "today" the dashboard opens on."""
    counts = Counter(session.scalars(select(Site.timezone)))
    for name, _ in counts.most_common():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


@api_router.get("/clock")
def clock(request: Request, session: SessionDep, _user: CurrentUser) -> ClockOut:
    """The hub's now, so that "today" on the page is the hub's day, not the browser's."""
    tz = hub_timezone(session)
    local = now(request).astimezone(tz)
    return ClockOut(now=local, date=local.date(), timezone=str(tz))


# --- today's attendance per unit -----------------------------------------------------

class UnitDay(BaseModel):
    unit_id: str  # "" for employees with no unit
    name: str
    employees: int
    statuses: dict[str, int]  # every status of ``hub.attendance.rules`` (present, late, ...), zeros included
    exceptions: dict[str, int]  # late, missing, off_site, flagged


class TodayOut(BaseModel):
    date: date
    units: list[UnitDay]
    totals: UnitDay


def _unit_day(unit_id: str, name: str, days: list[rules.DayResult]) -> UnitDay:
    statuses = Counter(d.status for d in days)
    exceptions = Counter(kind for d in days for kind in d.exceptions)
    return UnitDay(unit_id=unit_id, name=name, employees=len(days),
                   statuses={s: statuses[s] for s in STATUSES},
                   exceptions={k: exceptions[k] for k in rules.EXCEPTION_KINDS})


@api_router.get("/today", dependencies=[AuditedReads("attendance")])
def today(request: Request, session: SessionDep, user: OfficerDep,
          day: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD; default: the hub's today")] = None,
          ) -> TodayOut:
    """Each unit's employees by status on one day (the units the caller may see, each counted
    under the unit they belong to directly), with the day's exceptions; the chart's data."""
    day = day or now(request).astimezone(hub_timezone(session)).date()
    settings = getattr(request.app.state.config, "attendance", None) or AttendanceConfig()
    visible = visible_unit_ids(user, session)
    ctx = reports.ReportContext(settings.calendar(), settings.flag_policy(), now(request), visible,
                                settings.code_book())
    judged = reports.judge_days(session, reports.unit_scope(session, None, visible), day, day, ctx)
    by_unit: dict[str, list[rules.DayResult]] = {}
    for person_days in judged:
        by_unit.setdefault(person_days.person.unit_id or NO_UNIT, []).append(person_days.days[0])
    names = dict(session.execute(select(OrgUnit.unit_id, OrgUnit.name)).all())
    units = sorted((_unit_day(unit_id, names.get(unit_id, "(no unit)"), days) for unit_id, days in by_unit.items()),
                   key=lambda u: (u.name.lower(), u.unit_id))
    everyone = [d for days in by_unit.values() for d in days]
    return TodayOut(date=day, units=units, totals=_unit_day("*", "All units", everyone))


router = APIRouter()
router.include_router(root_router)
router.include_router(page_router)
router.include_router(api_router)
