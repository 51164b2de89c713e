"""Attendance reports: daily register, exceptions, muster roll, payroll days, an employee's history.

Each answers JSON, or CSV with ``?format=csv`` (a download named after the
report); the muster roll and payroll days also Excel (``xlsx``) and a
printable PDF (``pdf``), streamed from a temporary file. Admins see every unit, unit officers their units and the units
below them; an employee may read only their own history.
"""

import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.accounts.principal import Principal
from hub.api.audited import AuditedReads
from hub.api.deps import (
    CurrentUser,
    OfficerDep,
    SessionDep,
    check_employee_visible,
    now,
    visible_unit_ids,
)
from hub.attendance.daycode import COUNT_LEGEND, MonthTotals
from hub.attendance.rules import DayResult
from hub.reports import export
from hub.reports import queries as reports
from hub.reports.config import AttendanceConfig, ExportConfig
from hub.reports.files import RenderedFile, render_month
from hub.reports.heading import ddo_heading, unit_heading

router = APIRouter(prefix="/reports", tags=["reports"], dependencies=[AuditedReads("report")])

Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json (default) or csv")]
MonthFormat = Annotated[Literal["json", "csv", "xlsx", "pdf"], Query(
    alias="format", description="json (default), csv, xlsx (Excel) or pdf (A4 landscape, for signing)")]
Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
Day = Annotated[date, Query(alias="date", description="YYYY-MM-DD")]
From = Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")]
To = Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (inclusive)")]


class EmployeeOut(BaseModel):
    employee_id: str
    name: str
    unit_id: str | None
    category: str
    home_site_id: str

    @classmethod
    def of(cls, p: reports.Person) -> "EmployeeOut":
        return cls(employee_id=p.employee_id, name=p.name, unit_id=p.unit_id, category=p.category,
                   home_site_id=p.home_site_id)


class OffSiteOut(BaseModel):
    site_id: str
    at: datetime
    reason: str | None


class FlaggedOut(BaseModel):
    site_id: str
    at: datetime
    flags: list[str]


class DayOut(BaseModel):
    date: date
    status: str
    code: str
    in_at: datetime | None  # local time of the home site, with its offset
    out_at: datetime | None
    worked_min: int | None
    late: bool
    missing: bool
    exceptions: list[str]
    sites: list[str]
    off_site: list[OffSiteOut]
    flagged: list[FlaggedOut]

    @classmethod
    def of(cls, r: DayResult) -> "DayOut":
        tz = r.in_at.tzinfo if r.in_at is not None else None
        return cls(date=r.day, status=r.status, code=r.code, in_at=r.in_at, out_at=r.out_at, worked_min=r.worked_min,
                   late=r.late, missing=r.missing, exceptions=list(r.exceptions), sites=list(r.sites),
                   off_site=[OffSiteOut(site_id=p.site_id, at=p.ts.astimezone(tz), reason=p.reason)
                             for p in r.off_site],
                   flagged=[FlaggedOut(site_id=p.site_id, at=p.ts.astimezone(tz), flags=list(p.flags))
                            for p in r.flagged])


class RegisterRow(BaseModel):
    employee: EmployeeOut
    day: DayOut


class DailyRegister(BaseModel):
    date: date
    unit_id: str
    items: list[RegisterRow]


class ExceptionOut(BaseModel):
    date: date
    employee: EmployeeOut
    kind: str
    detail: str


class ExceptionList(BaseModel):
    first: date
    last: date
    unit_id: str | None
    items: list[ExceptionOut]


class TotalsOut(BaseModel):
    present: float
    late: float
    half_day: float
    absent: float
    regularised: float  # approved corrections (code R), also counted in present
    working_days: float
    present_days: float  # half days count 0.5; on-duty codes (OD, TR) count as present
    by_code: dict[str, float]  # days per code (a half day of leave adds 0.5), and the counts late,
    # missed_cutoff and early_leaving

    @classmethod
    def of(cls, t: MonthTotals) -> "TotalsOut":
        return cls(present=t.present, late=t.late, half_day=t.half_day, absent=t.absent, regularised=t.regularised,
                   working_days=t.working_days, present_days=t.present_days, by_code=dict(t.counts))


class LegendOut(BaseModel):
    code: str
    en: str
    hi: str


class MusterRowOut(BaseModel):
    employee: EmployeeOut
    codes: list[str]  # per day, one code (see the legend); "" outside employment or not decided yet
    totals: TotalsOut

    @classmethod
    def of(cls, row: reports.MusterRow) -> "MusterRowOut":
        return cls(employee=EmployeeOut.of(row.person), codes=row.codes, totals=TotalsOut.of(row.totals))


class MusterRoll(BaseModel):
    month: str
    unit_id: str
    days: list[date]
    items: list[MusterRowOut]
    legend: list[LegendOut]  # every day code, then the counts (late, missed_cutoff, early_leaving)

    @staticmethod
    def legend_of(roll: reports.Muster) -> list[LegendOut]:
        return [LegendOut(code=c, en=en, hi=hi) for c, en, hi in (*roll.codes.legend(), *COUNT_LEGEND)]


class PayrollRow(BaseModel):
    employee: EmployeeOut
    totals: TotalsOut


class PayrollDays(BaseModel):
    ddo_id: str
    month: str
    items: list[PayrollRow]


class History(BaseModel):
    employee_id: str
    first: date
    last: date
    items: list[DayOut]


def _context(request: Request, session: Session, user: Principal) -> reports.ReportContext:
    """The calendar and thresholds (``HubConfig.attendance`` once the config has it), now, the caller's units."""
    settings = getattr(request.app.state.config, "attendance", None) or AttendanceConfig()
    return reports.ReportContext(settings.calendar(), settings.flag_policy(), now(request),
                                 visible_unit_ids(user, session), settings.code_book())


def _csv(content: bytes, *name_parts: str) -> Response:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(name_parts)) + ".csv"
    return Response(content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _file(rendered: RenderedFile, *name_parts: str) -> StreamingResponse:
    """A download streamed from the rendered temporary file (never held whole in memory)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(name_parts)) + "." + rendered.extension
    return StreamingResponse(rendered.chunks(), media_type=rendered.media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(rendered.size)})


def _exports(request: Request) -> ExportConfig:
    return getattr(request.app.state.config, "exports", None) or ExportConfig()


@router.get("/daily", response_model=DailyRegister)
def daily(request: Request, session: SessionDep, user: OfficerDep, unit_id: str, day: Day,
          fmt: Format = "json") -> DailyRegister | Response:
    """Each employee of the unit (and the units below it) on one day: in, out, status, sites, flags."""
    rows = reports.daily_register(session, _context(request, session, user), unit_id=unit_id, day=day)
    if fmt == "csv":
        return _csv(export.daily_csv(day, rows), "daily", unit_id, day.isoformat())
    return DailyRegister(date=day, unit_id=unit_id, items=[
        RegisterRow(employee=EmployeeOut.of(pd.person), day=DayOut.of(pd.days[0])) for pd in rows])


@router.get("/exceptions", response_model=ExceptionList)
def exceptions(request: Request, session: SessionDep, user: OfficerDep, first: From, last: To,
               unit_id: str | None = None, fmt: Format = "json") -> ExceptionList | Response:
    """Late, missing, off-site and flagged days in the range, in the unit or all the caller's units."""
    rows = reports.exceptions_report(session, _context(request, session, user), first=first, last=last,
                                     unit_id=unit_id)
    if fmt == "csv":
        return _csv(export.exceptions_csv(rows), "exceptions", unit_id or "all", first.isoformat(), last.isoformat())
    return ExceptionList(first=first, last=last, unit_id=unit_id, items=[
        ExceptionOut(date=e.day, employee=EmployeeOut.of(e.person), kind=e.kind, detail=export.exception_detail(e))
        for e in rows])


@router.get("/muster", response_model=MusterRoll)
def muster(request: Request, session: SessionDep, user: OfficerDep, unit_id: str, month: Month,
           fmt: MonthFormat = "json") -> MusterRoll | Response:
    """Employee x day of the month, one code a day (P, L, HD, A, R regularised and counted as present, H, WO, leave codes; see the legend), with
    totals per code."""
    roll = reports.muster_roll(session, _context(request, session, user), unit_id=unit_id, month=month)
    if fmt == "csv":
        return _csv(export.muster_csv(roll), "muster", unit_id, month)
    if fmt in ("xlsx", "pdf"):
        heading = unit_heading(session, title="Muster roll", unit_id=unit_id, month=month)
        return _file(render_month(fmt, heading, roll, _exports(request)), "muster", unit_id, month)
    return MusterRoll(month=month, unit_id=unit_id, days=roll.days, items=[MusterRowOut.of(r) for r in roll.rows],
                      legend=MusterRoll.legend_of(roll))


@router.get("/payroll", response_model=PayrollDays)
def payroll(request: Request, session: SessionDep, user: OfficerDep, ddo_id: str, month: Month,
            fmt: MonthFormat = "json") -> PayrollDays | Response:
    """Present days of the month (half days 0.5) of each employee under the DDO whom the caller may see;
    xlsx and pdf show the days behind them too (the DDO's muster roll)."""
    roll = reports.payroll_days(session, _context(request, session, user), ddo_id=ddo_id, month=month)
    if fmt == "csv":
        return _csv(export.payroll_csv(ddo_id, month, roll), "payroll", ddo_id, month)
    if fmt in ("xlsx", "pdf"):
        heading = ddo_heading(session, title="Payroll days", ddo_id=ddo_id, month=month)
        return _file(render_month(fmt, heading, roll, _exports(request)), "payroll", ddo_id, month)
    return PayrollDays(ddo_id=ddo_id, month=month, items=[
        PayrollRow(employee=EmployeeOut.of(r.person), totals=TotalsOut.of(r.totals)) for r in roll.rows])


@router.get("/employees/{employee_id}/history", response_model=History)
def history(request: Request, session: SessionDep, user: CurrentUser, employee_id: str, first: From, last: To,
            fmt: Format = "json") -> History | Response:
    """One employee's days (an employee may ask for their own only)."""
    check_employee_visible(user, session, employee_id)
    days = reports.employee_history(session, _context(request, session, user), employee_id=employee_id,
                                    first=first, last=last)
    if fmt == "csv":
        return _csv(export.history_csv(days), "history", employee_id, first.isoformat(), last.isoformat())
    return History(employee_id=employee_id, first=first, last=last, items=[DayOut.of(r) for r in days])
