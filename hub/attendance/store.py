"""Holidays, leave entries, shifts and rosters: checked against the database, then stored.

Keyword-only data functions taking the session first; the routes audit and
commit. Every refusal names the field it is about (``errors.on_field``), so
the API answers with a per-field error and the dashboard shows it beside
the field; nothing is written when anything is refused.
"""

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.attendance.calendar import format_weekdays
from hub.attendance.daycode import CodeBook
from hub.attendance.fields import HolidayIn, LeaveIn, RosterIn, ShiftIn
from hub.attendance.models import Holiday, LeaveEntry, RosterEntry, Shift
from hub.db import Employee, OrgUnit, Site
from hub.errors import Conflict, InvalidInput, NotFound, on_field

def _exists(session: Session, model: type, key: str, field: str, what: str) -> None:
    if session.get(model, key) is None:
        raise on_field(NotFound(f"unknown {what} {key!r}"), field)


def add_holiday(session: Session, data: HolidayIn) -> Holiday:
    if data.unit_id is not None:
        _exists(session, OrgUnit, data.unit_id, "unit_id", "unit")
    clash = session.scalar(select(Holiday).where(Holiday.day == data.day, Holiday.unit_id.is_(None)
                                                 if data.unit_id is None else Holiday.unit_id == data.unit_id))
    if clash is not None:
        raise on_field(Conflict(f"{data.day} is already a holiday there ({clash.name})"), "day")
    row = Holiday(day=data.day, name=data.name, level=data.level, unit_id=data.unit_id)
    session.add(row)
    session.flush()
    return row


def list_holidays(session: Session, *, first: date, last: date) -> list[Holiday]:
    return list(session.scalars(select(Holiday).where(Holiday.day >= first, Holiday.day <= last)
                                .order_by(Holiday.day, Holiday.id)))


def check_leave(session: Session, data: LeaveIn, book: CodeBook) -> Employee:
    """The employee the entry is for, once the code is known and nothing overlaps it."""
    if data.code not in book.by_code:
        raise on_field(InvalidInput(f"unknown leave code {data.code!r}; known: {', '.join(book.by_code)}"), "code")
    employee = session.get(Employee, data.employee_id)
    if employee is None:
        raise on_field(NotFound(f"unknown employee {data.employee_id!r}"), "employee_id")
    overlap = session.scalar(select(LeaveEntry).where(
        LeaveEntry.employee_id == data.employee_id, LeaveEntry.first <= data.last, LeaveEntry.last >= data.first))
    if overlap is not None:
        raise on_field(Conflict(f"{data.employee_id} already has {overlap.code} from {overlap.first} to "
                                f"{overlap.last} (entry {overlap.id}); delete it first"), "first")
    return employee


def add_leave(session: Session, data: LeaveIn, book: CodeBook, *, source: str, by: str,
              source_ref: str | None = None) -> LeaveEntry:
    check_leave(session, data, book)
    row = LeaveEntry(employee_id=data.employee_id, code=data.code, first=data.first, last=data.last,
                     half_day=data.half_day, note=data.note, source=source, source_ref=source_ref, created_by=by)
    session.add(row)
    session.flush()
    return row


def list_leave(session: Session, *, first: date, last: date, employee_id: str | None = None,
               units: set[str] | None = None) -> list[LeaveEntry]:
    """Entries overlapping first..last, of one employee or of the employees in ``units`` (None: all)."""
    query = (select(LeaveEntry).join(Employee, Employee.employee_id == LeaveEntry.employee_id)
             .where(LeaveEntry.first <= last, LeaveEntry.last >= first).order_by(LeaveEntry.first, LeaveEntry.id))
    if employee_id is not None:
        query = query.where(LeaveEntry.employee_id == employee_id)
    if units is not None:
        query = query.where(Employee.unit_id.in_(sorted(units)))
    return list(session.scalars(query))


def get_leave(session: Session, entry_id: int) -> LeaveEntry:
    row = session.get(LeaveEntry, entry_id)
    if row is None:
        raise NotFound(f"unknown leave entry {entry_id}")
    return row


def save_shift(session: Session, data: ShiftIn) -> tuple[Shift, bool]:
    """Create the shift, or replace the values of the one with that id; True when it was created."""
    _exists(session, Site, data.site_id, "site_id", "site")
    row = session.get(Shift, data.shift_id)
    created = row is None
    if row is None:
        row = Shift(shift_id=data.shift_id)
        session.add(row)
    for key, value in data.model_dump(exclude={"shift_id"}).items():
        setattr(row, key, value)
    session.flush()
    return row, created


def list_shifts(session: Session, *, site_id: str | None = None) -> list[Shift]:
    query = select(Shift).order_by(Shift.site_id, Shift.start, Shift.shift_id)
    return list(session.scalars(query if site_id is None else query.where(Shift.site_id == site_id)))


def delete_shift(session: Session, shift_id: str) -> Shift:
    """Delete a shift no roster line names (those lines would silently fall back to the site's default)."""
    rostered = session.scalars(select(RosterEntry.id).where(RosterEntry.shift_id == shift_id)).all()
    if rostered:
        raise Conflict(f"shift {shift_id} is on {len(rostered)} roster line(s) ({', '.join(map(str, rostered))}); "
                       "delete or change them first")
    return delete_row(session, Shift, shift_id, "shift")


def add_roster(session: Session, data: RosterIn) -> RosterEntry:
    """A roster line; the one it replaces (same person or unit and week) is deleted."""
    if data.employee_id is not None:
        _exists(session, Employee, data.employee_id, "employee_id", "employee")
    if data.unit_id is not None:
        _exists(session, OrgUnit, data.unit_id, "unit_id", "unit")
    if data.shift_id is not None:
        _exists(session, Shift, data.shift_id, "shift_id", "shift")
    same = [RosterEntry.employee_id == data.employee_id if data.employee_id else RosterEntry.employee_id.is_(None),
            RosterEntry.unit_id == data.unit_id if data.unit_id else RosterEntry.unit_id.is_(None),
            RosterEntry.week_start == data.week_start if data.week_start else RosterEntry.week_start.is_(None)]
    session.execute(delete(RosterEntry).where(*same))
    row = RosterEntry(employee_id=data.employee_id, unit_id=data.unit_id, week_start=data.week_start,
                      shift_id=data.shift_id, weekly_off=format_weekdays(data.weekly_off))
    session.add(row)
    session.flush()
    return row


def list_rosters(session: Session, *, first: date | None = None, last: date | None = None) -> list[RosterEntry]:
    """Standing entries and those of weeks that start within first..last (all when not given)."""
    query = select(RosterEntry).order_by(RosterEntry.week_start, RosterEntry.unit_id, RosterEntry.employee_id)
    if first is not None and last is not None:
        query = query.where(RosterEntry.week_start.is_(None) | RosterEntry.week_start.between(first, last))
    return list(session.scalars(query))


def delete_row(session: Session, model: type, key: int | str, what: str) -> object:
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"unknown {what} {key}")
    session.delete(row)
    session.flush()
    return row


def replace_source(session: Session, *, source: str, first: date, last: date, keep: Iterable[str]) -> int:
    """Delete the entries of ``source`` overlapping first..last whose reference is not in ``keep``
    (an HRMS application cancelled since the last pull); the number deleted."""
    stale = [r for r in session.scalars(select(LeaveEntry).where(
        LeaveEntry.source == source, LeaveEntry.first <= last, LeaveEntry.last >= first))
        if r.source_ref not in set(keep)]
    for row in stale:
        session.delete(row)
    session.flush()
    return len(stale)
