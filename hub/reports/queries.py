"""The queries that feed ``hub.attendance.rules``, and the reports made of their verdicts.

Each report reads the employees in scope and their punches of the period in
a fixed number of queries, whatever the number of employees (never one per
employee). Punch queries join ``employees`` and range over ``device_ts``, so
the database walks ``ix_punches_employee_ts`` (employee_id, device_ts) per
employee in scope. Times come back as whole epoch seconds (``epoch_seconds``),
which is both cheaper than datetimes and the resolution the rules judge at.

- The muster roll and payroll need only the first and last punch of each
  day: one row per employee with all their punch times of the month
  (``epoch_list``), then ``rules.span_status`` per day, and the day's code
  from all its facts (``daycode.day_mark``: employment dates, holidays,
  weekly offs, leave; ``plans`` loads them).
- The daily register and an employee's history read every punch with its
  site, reason and flags (``rules.judge_day``).
- The exceptions list reads the punch times like the muster roll, plus only
  the punches that may be off-site or flagged (``_suspicious``, a superset
  of what ``rules.punch_flags`` flags; the rules decide).

Scope: a unit report covers the unit and every unit below it; ``visible`` is
what the caller may see (``hub.api.deps.visible_unit_ids``, None = all). An
employee who has left still appears in a period in which they punched or
were employed; days outside their employment are blank, never absent.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, or_, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from hub.accounts.scope import unit_closure
from hub.attendance import daycode, regularisation, rules
from hub.attendance.daycode import CodeBook, DayFacts, DayMark
from hub.attendance.rules import DayResult, FlagPolicy, Punch, WorkCalendar
from hub.db import Ddo, Employee, OrgUnit, PunchRecord
from hub.errors import Forbidden, InvalidInput, NotFound, on_field
from hub.ingest.punches import may_be_flagged
from hub.reports.plans import Leave, Plan, Plans, employed_range, leave_by_day

MAX_RANGE_DAYS = 366


class epoch_seconds(FunctionElement[int]):  # noqa: N801  (an SQL function, named like one)
    """Whole seconds since 1970 of a ``UTCDateTime`` column, rounded down."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


class epoch_list(FunctionElement[str]):  # noqa: N801
    """Aggregate: the ``epoch_seconds`` of a group's values, comma-separated, in no particular order."""

    type = String()
    inherit_cache = True
    name = "epoch_list"


def _unsupported(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    raise CompileError(f"{element.name}: no SQL for the {compiler.dialect.name} dialect (SQLite, PostgreSQL)")


compiles(epoch_seconds)(_unsupported)
compiles(epoch_list)(_unsupported)


def _sqlite_epoch(column: str, dialect: Any) -> str:
    # Punch times carry milliseconds (protocol.messages.device_time), which SQLite's date functions
    # hold exactly, so both forms round down. unixepoch() (SQLite 3.38+) is about twice as fast.
    if getattr(getattr(dialect, "dbapi", None), "sqlite_version_info", (0,)) >= (3, 38):
        return f"unixepoch({column})"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _postgresql_epoch(column: str) -> str:
    # date_part() is double precision; EXTRACT() is numeric since PostgreSQL 14, and much slower.
    return f"CAST(floor(date_part('epoch', {column})) AS BIGINT)"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return _sqlite_epoch(compiler.process(element.clauses, **kw), compiler.dialect)


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return _postgresql_epoch(compiler.process(element.clauses, **kw))


@compiles(epoch_list, "sqlite")
def _epoch_list_sqlite(element: epoch_list, compiler: Any, **kw: Any) -> str:
    return f"group_concat({_sqlite_epoch(compiler.process(element.clauses, **kw), compiler.dialect)})"


@compiles(epoch_list, "postgresql")
def _epoch_list_postgresql(element: epoch_list, compiler: Any, **kw: Any) -> str:
    return f"string_agg(CAST({_postgresql_epoch(compiler.process(element.clauses, **kw))} AS TEXT), ',')"


@dataclass(frozen=True)
class ReportContext:
    """What every report is judged with: the calendar, flag thresholds, now, the caller's units,
    and the leave and duty codes in force."""

    calendar: WorkCalendar
    policy: FlagPolicy
    now: datetime
    visible: set[str] | None = None
    codes: CodeBook = field(default_factory=CodeBook)


@dataclass(frozen=True)
class Person:
    employee_id: str
    name: str
    unit_id: str | None
    ddo_id: str | None
    category: str
    home_site_id: str
    active: bool
    joined_on: date | None = None
    left_on: date | None = None


@dataclass(frozen=True)
class PersonDays:
    """One employee's verdicts over the report's days, in date order."""

    person: Person
    days: list[DayResult]


@dataclass(frozen=True)
class MusterRow:
    person: Person
    codes: list[str]  # one per day (``daycode``)
    totals: daycode.MonthTotals


@dataclass(frozen=True)
class Muster:
    days: list[date]
    rows: list[MusterRow]
    codes: CodeBook = field(default_factory=CodeBook)  # the legend and the per-code total columns


@dataclass(frozen=True)
class ExceptionRow:
    day: date
    person: Person
    kind: str
    result: DayResult


def month_range(month: str) -> tuple[date, date]:
    """'YYYY-MM' -> its first and last day."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError as exc:
        raise on_field(InvalidInput(f"month must be YYYY-MM, not {month!r}"), "month") from exc
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def check_range(first: date, last: date) -> None:
    """The report forms show these beside their "to" field (``on_field``)."""
    if last < first:
        raise on_field(InvalidInput(f"the range ends ({last}) before it starts ({first})"), "to")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise on_field(InvalidInput(f"a report covers at most {MAX_RANGE_DAYS} days"), "to")


def unit_scope(session: Session, unit_id: str | None, visible: set[str] | None) -> list[ColumnElement[bool]]:
    """Conditions on ``Employee`` for a unit (with its sub-units) or for all visible units."""
    if unit_id is None:
        return [] if visible is None else [Employee.unit_id.in_(sorted(visible))]
    if visible is not None and unit_id not in visible:
        raise Forbidden(f"unit {unit_id} is not one of your units")
    if session.get(OrgUnit, unit_id) is None:
        raise NotFound(f"unknown unit {unit_id!r}")
    return [Employee.unit_id.in_(sorted(unit_closure(session, [unit_id])))]


def people_of(session: Session, where: Sequence[ColumnElement[bool]]) -> dict[str, Person]:
    query = (select(Employee.employee_id, Employee.name, Employee.unit_id, Employee.ddo_id, Employee.category,
                    Employee.home_site_id, Employee.active, Employee.joined_on, Employee.left_on)
             .where(*where).order_by(Employee.employee_id))
    return {row[0]: Person(*row) for row in session.execute(query)}


class _Days:
    """The report's days and each employee's plan of them (``plans.Plans``)."""

    def __init__(self, session: Session, first: date, last: date, ctx: ReportContext) -> None:
        check_range(first, last)
        self.days = rules.days_between(first, last)
        self.ctx, self.now_s = ctx, rules.epoch_s(ctx.now)
        self.plans = Plans(session, self.days, ctx.calendar, ctx.now)

    def plan(self, person: Person) -> Plan:
        return self.plans.of(person.home_site_id, person.unit_id, person.employee_id)

    def window(self, people: dict[str, Person]) -> tuple[datetime, datetime]:
        """UTC instants covering every report day of every employee involved."""
        plans = {id(plan): plan for plan in map(self.plan, people.values())}.values()
        return _utc(min(p.bounds[0] for p in plans)), _utc(max(p.bounds[-1] for p in plans))

    def in_report(self, people: dict[str, Person], punched: set[str]) -> list[Person]:
        """Active employees and those who punched, or were employed on a day of the report."""
        first, last = self.days[0], self.days[-1]
        return [p for p in people.values()
                if p.employee_id in punched or (p.joined_on is None or p.joined_on <= last)
                and (p.active if p.left_on is None else p.left_on >= first)]

    def marks(self, person: Person, stamps: list[int], leave: dict[int, Leave],
              approved: Collection[date] = ()) -> list[DayMark]:
        """Each day's code of an employee, from their sorted punch times and their other facts;
        ``approved``: their days of an approved regularisation (R where the punches left the day correctable)."""
        plan = self.plan(person)
        lo, hi = employed_range(self.days, person.joined_on, person.left_on)
        out = []
        for i, span in enumerate(self.spans(plan, stamps)):
            frame, working, on_leave = plan.frames[i], plan.working[i], leave.get(i)
            if span is None:
                status = plan.empty[i].status
                late, missing, early = False, status == rules.ABSENT, False
            else:
                status = rules.span_status(frame, span[0], span[1], working=working, now_s=self.now_s)
                late = working and rules.is_late(frame, span[0])
                missing = working and rules.is_missing(frame, span[0])
                early = working and self.now_s >= frame.end_s and rules.is_early(frame, *span)
            key = (status, lo <= i < hi, plan.holiday[i], plan.weekly_off[i], on_leave.code if on_leave else None,
                   bool(on_leave and on_leave.half_day),
                   daycode.REGULARISED if approved and self.days[i] in approved
                   and status in regularisation.CORRECTABLE else None,
                   late, missing, early)
            mark = _MARKS.get(key)
            if mark is None:
                mark = _MARKS[key] = daycode.day_mark(DayFacts(*key))
            out.append(mark)
        return out

    @staticmethod
    def spans(plan: Plan, stamps: list[int]) -> list[tuple[int, int] | None]:
        """(first, last) second of each day from an employee's sorted punch times; None: no punch."""
        bounds = plan.bounds
        out: list[tuple[int, int] | None] = []
        lo = bisect_left(stamps, bounds[0])
        for end in bounds[1:]:
            hi = bisect_left(stamps, end, lo)
            out.append((stamps[lo], stamps[hi - 1]) if hi > lo else None)
            lo = hi
        return out


# Most days share their facts (a present weekday, a Sunday): the same few marks serve 10,000 rows.
# Keyed by the facts as a plain tuple (cheaper to make and hash than DayFacts); a handful of entries
# per leave code, so it stays small.
_MARKS: dict[tuple, DayMark] = {}


def _settle(result: DayResult, employed: bool, on_leave: Leave | None) -> DayResult:
    """A day outside employment, or of whole-day leave, is never late, missing or early; half-day leave
    excuses late and missing (the absent half is on leave)."""
    if not employed:
        return replace(result, status=rules.NOT_EMPLOYED, late=False, missing=False, early=False)
    if on_leave is not None and not on_leave.half_day:
        return replace(result, status=rules.ON_LEAVE, late=False, missing=False, early=False)
    if on_leave is not None:
        return replace(result, late=False, missing=False, early=False)
    return result


def _regularise(result: DayResult, approved: Collection[date]) -> DayResult:
    """An approved regularisation makes a day the punches left correctable REGULARISED (code R), as the muster
    counts it: no longer late, missing or early, so no exception to act on. Its punches stay (evidence): the
    in/out times, and off-site or flagged punches, which the approval did not judge."""
    if result.day in approved and result.status in regularisation.CORRECTABLE:
        return replace(result, status=rules.REGULARISED, late=False, missing=False, early=False)
    return result


def _utc(ts_s: int) -> datetime:
    return datetime.fromtimestamp(ts_s, timezone.utc)


def _punch_query(where: Sequence[ColumnElement[bool]], start: datetime, end: datetime) -> Any:
    return (select(PunchRecord.employee_id, epoch_seconds(PunchRecord.device_ts), PunchRecord.site_id,
                   PunchRecord.reason, PunchRecord.flags, PunchRecord.margin, PunchRecord.liveness_passed,
                   epoch_seconds(PunchRecord.received_at))
            .join(Employee, Employee.employee_id == PunchRecord.employee_id)
            .where(*where, PunchRecord.device_ts >= start, PunchRecord.device_ts < end))


def _suspicious(policy: FlagPolicy) -> ColumnElement[bool]:
    """Punches that may be off-site or flagged: a superset of what ``rules.punch_flags`` flags
    (``punches.may_be_flagged``)."""
    return or_(PunchRecord.site_id != Employee.home_site_id, may_be_flagged(policy))


def _punches_by_day(session: Session, query: Any, days: _Days, people: dict[str, Person]
                    ) -> dict[tuple[str, int], list[Punch]]:
    """Punches by (employee, index of the local day of their home site)."""
    bounds = {employee_id: days.plan(p).bounds for employee_id, p in people.items()}
    n_days, policy = len(days.days), days.ctx.policy
    out: dict[tuple[str, int], list[Punch]] = defaultdict(list)
    for employee_id, ts_s, site_id, reason, flags, margin, liveness, received_s in session.execute(query):
        i = bisect_right(bounds[employee_id], ts_s) - 1
        if 0 <= i < n_days:
            out[(employee_id, i)].append(Punch(_utc(ts_s), site_id, reason, rules.punch_flags(
                stored=flags, margin=margin, liveness_passed=liveness, ahead_s=ts_s - received_s, policy=policy)))
    return out


def _punch_times(session: Session, where: Sequence[ColumnElement[bool]], start: datetime, end: datetime
                 ) -> dict[str, list[int]]:
    """Each employee's punch times in the window, sorted: one row per employee."""
    query = (select(Employee.employee_id, epoch_list(PunchRecord.device_ts))
             .join(PunchRecord, PunchRecord.employee_id == Employee.employee_id)
             .where(*where, PunchRecord.device_ts >= start, PunchRecord.device_ts < end)
             .group_by(Employee.employee_id))
    return {employee_id: sorted(map(int, joined.split(","))) for employee_id, joined in session.execute(query)}


def judge_days(session: Session, where: Sequence[ColumnElement[bool]], first: date, last: date,
               ctx: ReportContext, *, leavers: bool = False, regularised: bool = True) -> list[PersonDays]:
    """Every day of every employee matching ``where``, with all their punches (register, history).

    Someone who has left is included when they punched in the period, or always with ``leavers``.
    An approved regularisation makes its day REGULARISED as in the muster (``_regularise``), unless
    ``regularised`` is False: the day as the punches alone make it.
    """
    days = _Days(session, first, last, ctx)
    people = people_of(session, where)
    if not people:
        return []
    by_day = _punches_by_day(session, _punch_query(where, *days.window(people)), days, people)
    leave = leave_by_day(session, where, days.days)
    approved = regularisation.approved_days(session, where, first, last) if regularised else {}
    out = []
    punched = set(people) if leavers else {employee_id for employee_id, _ in by_day}
    for person in days.in_report(people, punched):
        plan = days.plan(person)
        lo, hi = employed_range(days.days, person.joined_on, person.left_on)
        own_leave, own_approved = leave.get(person.employee_id, {}), approved.get(person.employee_id, ())
        out.append(PersonDays(person, [
            _regularise(_settle(rules.judge_day(plan.frames[i], punches, home_site_id=person.home_site_id,
                                                working=plan.working[i], now=ctx.now)
                                if (punches := by_day.get((person.employee_id, i))) else plan.empty[i],
                                lo <= i < hi, own_leave.get(i)), own_approved)
            for i in range(len(days.days))
        ]))
    return out


def muster(session: Session, where: Sequence[ColumnElement[bool]], first: date, last: date,
           ctx: ReportContext) -> Muster:
    """Each employee's code of each day (from the first and last punch of the day and the day's
    calendar, leave and employment), with totals per code."""
    days = _Days(session, first, last, ctx)
    people = people_of(session, where)
    if not people:
        return Muster(days.days, [], ctx.codes)
    times = _punch_times(session, where, *days.window(people))
    leave = leave_by_day(session, where, days.days)
    # regularisation (hub/attendance/regularisation.py): an approved day feeds DayFacts.override
    approved = regularisation.approved_days(session, where, first, last)
    rows = []
    for person in days.in_report(people, set(times)):
        marks = days.marks(person, times.get(person.employee_id, []), leave.get(person.employee_id, {}),
                           approved.get(person.employee_id, ()))
        rows.append(MusterRow(person, [m.code for m in marks], daycode.month_totals(marks, ctx.codes)))
    return Muster(days.days, rows, ctx.codes)


def exceptions(session: Session, where: Sequence[ColumnElement[bool]], first: date, last: date,
               ctx: ReportContext) -> list[ExceptionRow]:
    """Late, missing, off-site and flagged days, by date, employee and kind; a day of an approved
    regularisation is no longer late, missing or early (``_regularise``)."""
    days = _Days(session, first, last, ctx)
    people = people_of(session, where)
    if not people:
        return []
    start, end = days.window(people)
    times = _punch_times(session, where, start, end)
    odd = _punches_by_day(session, _punch_query(where, start, end).where(_suspicious(ctx.policy)), days, people)
    leave = leave_by_day(session, where, days.days)
    approved = regularisation.approved_days(session, where, first, last)
    out = []
    for person in days.in_report(people, set(times)):
        plan = days.plan(person)
        lo, hi = employed_range(days.days, person.joined_on, person.left_on)
        own_leave, own_approved = leave.get(person.employee_id, {}), approved.get(person.employee_id, ())
        for i, span in enumerate(days.spans(plan, times.get(person.employee_id, []))):
            punches = odd.get((person.employee_id, i))
            if span is None:
                result = plan.empty[i]  # absent is missing too
            else:
                frame, working = plan.frames[i], plan.working[i]
                if not (punches or working and (rules.came_after_start(frame, span[0])
                                                or rules.is_early(frame, *span))):
                    continue
                result = rules.judge_span(frame, _utc(span[0]), _utc(span[1]), working=working, now=ctx.now)
                if punches:
                    result = rules.with_punches(result, punches, person.home_site_id)
            result = _regularise(_settle(result, lo <= i < hi, own_leave.get(i)), own_approved)
            out += [ExceptionRow(days.days[i], person, kind, result) for kind in result.exceptions]
    out.sort(key=lambda e: (e.day, e.person.employee_id, rules.EXCEPTION_KINDS.index(e.kind)))
    return out


# ---- the reports as the API asks for them ---------------------------------------------------------

def daily_register(session: Session, ctx: ReportContext, *, unit_id: str, day: date) -> list[PersonDays]:
    return judge_days(session, unit_scope(session, unit_id, ctx.visible), day, day, ctx)


def exceptions_report(session: Session, ctx: ReportContext, *, first: date, last: date,
                      unit_id: str | None = None) -> list[ExceptionRow]:
    return exceptions(session, unit_scope(session, unit_id, ctx.visible), first, last, ctx)


def muster_roll(session: Session, ctx: ReportContext, *, unit_id: str, month: str) -> Muster:
    return muster(session, unit_scope(session, unit_id, ctx.visible), *month_range(month), ctx)


def payroll_days(session: Session, ctx: ReportContext, *, ddo_id: str, month: str) -> Muster:
    """The month's statuses of everyone under the DDO whom the caller may see (totals: ``MusterRow.totals``)."""
    if session.get(Ddo, ddo_id) is None:
        raise NotFound(f"unknown DDO {ddo_id!r}")
    return muster(session, [Employee.ddo_id == ddo_id, *unit_scope(session, None, ctx.visible)],
                  *month_range(month), ctx)


def employee_history(session: Session, ctx: ReportContext, *, employee_id: str, first: date,
                     last: date, regularised: bool = True) -> list[DayResult]:
    """One employee's days (the caller checks that they may see this employee); ``regularised``: see
    ``judge_days``."""
    if session.get(Employee, employee_id) is None:
        raise NotFound(f"unknown employee {employee_id!r}")
    return judge_days(session, [Employee.employee_id == employee_id], first, last, ctx, leavers=True,
                      regularised=regularised)[0].days
