"""Each employee's plan of the report's days: which shift frames them, holiday or weekly off, leave,
and whether they were employed at all; loaded in a fixed number of queries for any number of people.

People share a plan when they share home site and unit and have no roster
of their own (the usual case), so 10,000 employees cost a handful of plans,
not 10,000. Leave and employment dates are per person and applied by the
reports day by day (``PersonDay``).

Punches are attributed to days by ``Plan.bounds``: the start of each day's
window (midnight, or the middle of the rest before a night shift; see
``rules.window_start``), never before the previous window, and, after a
shift that crossed midnight, not before its end plus ``RELEASE_S`` (so the
06:00 punch-out of a night shift stays with it when a day shift follows).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from hub.attendance import calendar, rules
from hub.attendance.models import Holiday, LeaveEntry, RosterEntry, Shift
from hub.attendance.rules import DayFrame, DayResult, SiteRules
from hub.db import Employee, OrgUnit, Site

RELEASE_S = 2 * 3600


@dataclass(frozen=True)
class Plan:
    """The days of one (home site, unit, roster) combination."""

    frames: list[DayFrame]
    holiday: list[bool]
    weekly_off: list[bool]
    working: list[bool]
    bounds: list[int]  # start second of each day's window, then the end of the last
    empty: list[DayResult]  # the verdict of each day without punches


@dataclass(frozen=True, slots=True)
class Leave:
    code: str
    half_day: bool


def site_rules(site: Site) -> SiteRules:
    return SiteRules(site.site_id, ZoneInfo(site.timezone), site.shift_start, site.cutoff, site.min_gap_min,
                     site.half_day_hours)


def shift_rules(shift: Shift, tz: ZoneInfo) -> SiteRules:
    return SiteRules(shift.site_id, tz, shift.start, shift.cutoff, shift.min_gap_min, shift.half_day_hours,
                     shift.end, shift.grace_min)


def window_bounds(frames: Sequence[DayFrame]) -> list[int]:
    bounds: list[int] = []
    release = None
    for frame in frames:
        start = frame.start_s if not bounds else max(frame.start_s, bounds[-1])
        if release is not None:
            start = max(start, release)
        bounds.append(start)
        release = frame.shift_end_s + RELEASE_S if frame.rules.crosses_midnight and frame.shift_end_s else None
    bounds.append(max(frames[-1].end_s, bounds[-1]))
    return bounds


class Plans:
    """The report's days for each employee (see the module docstring)."""

    def __init__(self, session: Session, days: list[date], calendar_: rules.WorkCalendar, now: datetime) -> None:
        self.days, self.calendar, self.now = days, calendar_, now
        first, last = days[0], days[-1]
        sites = {s.site_id: s for s in session.scalars(select(Site))}
        self._site_rules = {site_id: site_rules(s) for site_id, s in sites.items()}
        self._shift_rules = {s.shift_id: shift_rules(s, ZoneInfo(sites[s.site_id].timezone))
                             for s in session.scalars(select(Shift))}
        self._parents = dict(session.execute(select(OrgUnit.unit_id, OrgUnit.parent_id)).all())
        by_unit: dict[str | None, set[date]] = defaultdict(set)
        for unit_id, day in session.execute(select(Holiday.unit_id, Holiday.day)
                                            .where(Holiday.day >= first, Holiday.day <= last)):
            by_unit[unit_id].add(day)
        self._holidays = {k: frozenset(v) for k, v in by_unit.items()}
        self.rosters = calendar.Rosters(
            calendar.RosterEntry(r.employee_id, r.unit_id, r.week_start, r.shift_id,
                                 calendar.parse_weekdays(r.weekly_off))
            for r in session.scalars(select(RosterEntry).where(or_(
                RosterEntry.week_start.is_(None),
                RosterEntry.week_start.between(calendar.week_of(first), last)))))
        self._plans: dict[tuple[str, str | None, str | None], Plan] = {}

    def of(self, home_site_id: str, unit_id: str | None, employee_id: str) -> Plan:
        own = employee_id if self.rosters.has_person(employee_id) else None
        key = (home_site_id, unit_id, own)
        if key not in self._plans:
            self._plans[key] = self._make(home_site_id, unit_id, own)
        return self._plans[key]

    def _make(self, home_site_id: str, unit_id: str | None, employee_id: str | None) -> Plan:
        chain = calendar.unit_chain(self._parents, unit_id)
        unit_holidays = calendar.holidays_of(self._holidays, chain)
        frames, holiday, weekly_off = [], [], []
        for day in self.days:
            entry = self.rosters.entry_for(employee_id, chain, day)
            shift = entry.shift_id if entry is not None else None
            frames.append(rules.day_frame(self._shift_rules[shift] if shift else self._site_rules[home_site_id], day))
            holiday.append(day in unit_holidays or self.calendar.is_holiday(home_site_id, day))
            off = entry.weekly_off if entry is not None else None
            weekly_off.append(day.weekday() in off if off is not None
                              else self.calendar.is_weekly_off(home_site_id, day))
        working = [not (h or w) for h, w in zip(holiday, weekly_off)]
        empty = [rules.judge_span(f, None, None, working=w, now=self.now) for f, w in zip(frames, working)]
        return Plan(frames, holiday, weekly_off, working, window_bounds(frames), empty)


def employed_range(days: list[date], joined_on: date | None, left_on: date | None) -> tuple[int, int]:
    """Indexes [lo, hi) of the report days on which the employee was employed (joined, not yet left)."""
    lo = 0 if joined_on is None else sum(1 for d in days if d < joined_on)
    hi = len(days) if left_on is None else sum(1 for d in days if d <= left_on)
    return lo, max(lo, hi)


def leave_by_day(session: Session, where: Sequence[ColumnElement[bool]], days: list[date]
                 ) -> dict[str, dict[int, Leave]]:
    """Recorded leave and duty of the employees matching ``where``: employee -> day index -> leave.
    Where entries overlap, the later-entered one wins."""
    first, last = days[0], days[-1]
    query = (select(LeaveEntry.employee_id, LeaveEntry.first, LeaveEntry.last, LeaveEntry.code, LeaveEntry.half_day)
             .join(Employee, Employee.employee_id == LeaveEntry.employee_id)
             .where(*where, LeaveEntry.first <= last, LeaveEntry.last >= first).order_by(LeaveEntry.id))
    out: dict[str, dict[int, Leave]] = defaultdict(dict)
    for employee_id, lo, hi, code, half in session.execute(query):
        mark = Leave(code, half)
        for i in range((max(lo, first) - first).days, (min(hi, last) - first).days + 1):
            out[employee_id][i] = mark
    return out
