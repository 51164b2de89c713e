"""Holiday calendars per unit, shifts per site and rosters (what the muster roll judges days by).

Officers read; admins write. Every write is audited. A unit's holidays are
inherited by the units below it; a roster names one employee or one unit,
for one week or standing (``hub.attendance.calendar``).
"""

from datetime import date, time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.api.deps import MAX_ROW_ID, AdminDep, OfficerDep, SessionDep
from hub.attendance import store
from hub.attendance.calendar import parse_weekdays
from hub.attendance.fields import HolidayIn, RosterIn, ShiftIn
from hub.attendance.models import Holiday, RosterEntry, Shift
from hub.errors import InvalidInput, on_field

router = APIRouter(tags=["calendar"])
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
From = Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")]
To = Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (inclusive)")]


class HolidayOut(BaseModel):
    id: int
    day: date
    name: str
    level: str
    unit_id: str | None

    @classmethod
    def of(cls, row: Holiday) -> "HolidayOut":
        return cls(id=row.id, day=row.day, name=row.name, level=row.level, unit_id=row.unit_id)


class HolidayList(BaseModel):
    items: list[HolidayOut]


class ShiftOut(BaseModel):
    shift_id: str
    site_id: str
    name: str
    start: time
    end: time
    cutoff: time
    min_gap_min: int
    half_day_hours: float
    grace_min: int
    crosses_midnight: bool

    @classmethod
    def of(cls, row: Shift) -> "ShiftOut":
        return cls(shift_id=row.shift_id, site_id=row.site_id, name=row.name, start=row.start, end=row.end,
                   cutoff=row.cutoff, min_gap_min=row.min_gap_min, half_day_hours=row.half_day_hours,
                   grace_min=row.grace_min, crosses_midnight=row.end <= row.start)


class ShiftList(BaseModel):
    items: list[ShiftOut]


class RosterOut(BaseModel):
    id: int
    employee_id: str | None
    unit_id: str | None
    week_start: date | None
    shift_id: str | None
    weekly_off: list[int] | None

    @classmethod
    def of(cls, row: RosterEntry) -> "RosterOut":
        off = parse_weekdays(row.weekly_off)
        return cls(id=row.id, employee_id=row.employee_id, unit_id=row.unit_id, week_start=row.week_start,
                   shift_id=row.shift_id, weekly_off=None if off is None else sorted(off))


class RosterList(BaseModel):
    items: list[RosterOut]


def _commit(session: Session, admin: Principal, action: str, target: str, before: dict | None,
            after: object | None) -> None:
    """Audit one calendar write beside it and commit both in one transaction, so no write goes unaudited."""
    audit.record(session, admin, action, target, before, None if after is None else audit.snapshot(after))
    session.commit()


def _deleted(session: Session, admin: Principal, kind: str, key: int | str, row: object) -> Response:
    """The answer to a delete: ``{kind}.delete`` of ``{kind}:{key}`` audited with what was removed, committed."""
    _commit(session, admin, f"{kind}.delete", f"{kind}:{key}", audit.snapshot(row), None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/holidays")
def list_holidays(session: SessionDep, _user: OfficerDep, first: From, last: To) -> HolidayList:
    """National holidays and those of every unit, first..last."""
    return HolidayList(items=[HolidayOut.of(h) for h in store.list_holidays(session, first=first, last=last)])


@router.post("/holidays", status_code=status.HTTP_201_CREATED)
def add_holiday(body: HolidayIn, session: SessionDep, admin: AdminDep) -> HolidayOut:
    row = store.add_holiday(session, body)
    _commit(session, admin, "holiday.create", f"holiday:{row.id}", None, row)
    return HolidayOut.of(row)


@router.delete("/holidays/{holiday_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_holiday(holiday_id: RowId, session: SessionDep, admin: AdminDep) -> Response:
    return _deleted(session, admin, "holiday", holiday_id, store.delete_row(session, Holiday, holiday_id, "holiday"))


@router.get("/shifts")
def list_shifts(session: SessionDep, _user: OfficerDep, site_id: str | None = None) -> ShiftList:
    return ShiftList(items=[ShiftOut.of(s) for s in store.list_shifts(session, site_id=site_id)])


@router.put("/shifts/{shift_id}")
def save_shift(shift_id: str, body: ShiftIn, session: SessionDep, admin: AdminDep, response: Response) -> ShiftOut:
    """Create (201) or replace (200) the shift; a shift whose end is at or before its start crosses midnight."""
    if body.shift_id != shift_id:
        raise on_field(InvalidInput(f"shift_id {body.shift_id!r} differs from the path's {shift_id!r}"), "shift_id")
    before = session.get(Shift, shift_id)
    before_snapshot = audit.snapshot(before) if before is not None else None
    row, created = store.save_shift(session, body)
    _commit(session, admin, "shift.create" if created else "shift.update", f"shift:{shift_id}", before_snapshot, row)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ShiftOut.of(row)


@router.delete("/shifts/{shift_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_shift(shift_id: str, session: SessionDep, admin: AdminDep) -> Response:
    """Refused (409) while a roster line names the shift."""
    return _deleted(session, admin, "shift", shift_id, store.delete_shift(session, shift_id))


@router.get("/rosters")
def list_rosters(session: SessionDep, _user: OfficerDep, first: Annotated[date | None, Query(alias="from")] = None,
                 last: Annotated[date | None, Query(alias="to")] = None) -> RosterList:
    """Standing roster lines and those of weeks starting first..last (every line without a range)."""
    return RosterList(items=[RosterOut.of(r) for r in store.list_rosters(session, first=first, last=last)])


@router.post("/rosters", status_code=status.HTTP_201_CREATED)
def add_roster(body: RosterIn, session: SessionDep, admin: AdminDep) -> RosterOut:
    """One roster line; it replaces the line of the same employee or unit and week."""
    row = store.add_roster(session, body)
    _commit(session, admin, "roster.set", f"roster:{row.id}", None, row)
    return RosterOut.of(row)


@router.delete("/rosters/{roster_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_roster(roster_id: RowId, session: SessionDep, admin: AdminDep) -> Response:
    return _deleted(session, admin, "roster", roster_id,
                    store.delete_row(session, RosterEntry, roster_id, "roster line"))
