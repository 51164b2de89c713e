"""Bulk import of employees from CSV: validate everything first, write only when accepted.

Never half-imports. ``validate`` reads the whole file against the database
and lists EVERY bad row with its line number and all its reasons, writing
nothing. ``write`` (after the admin accepts) re-validates in the same
transaction and stores only the valid rows, all in that one transaction: it
commits completely or not at all.

Columns (header row, any order, names case-insensitive)::

    staff_number, name, category, home_site, unit      required
    allowed_sites, ddo, mobile                         optional

``allowed_sites`` is a ``;``-separated list of site ids. A staff number
already in the database updates that employee; the optional columns update
only when the file has them (an empty cell then clears the value), so a file
without a ``mobile`` column keeps the registered numbers. New people are
active; an import never changes who is a leaver (that is the employee
API/CLI's job), so re-importing an old list cannot bring leavers back.
"""

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.db import Ddo, Employee, EmployeeAllowedSite, OrgUnit, Site
from hub.enrolment.gallery import sync_members
from hub.masterdata.fields import CATEGORIES, is_mobile

log = logging.getLogger(__name__)

REQUIRED = ("staff_number", "name", "category", "home_site", "unit")
OPTIONAL = ("allowed_sites", "ddo", "mobile")
FIELDS = ("name", "category", "home_site_id", "unit_id", "ddo_id", "mobile")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ImportRow:
    line: int
    employee_id: str
    values: dict[str, str | None]   # name, category, home_site_id, unit_id, and the optional columns present
    allowed: list[str] | None       # None: the file has no allowed_sites column
    reasons: list[str] = field(default_factory=list)
    existing: bool = False
    changed: bool = True


@dataclass(frozen=True)
class RowProblem:
    line: int
    staff_number: str
    reasons: tuple[str, ...]


@dataclass
class ValidationReport:
    rows_total: int = 0
    file_problems: list[str] = field(default_factory=list)
    rows: list[ImportRow] = field(default_factory=list)
    known: "Known | None" = field(default=None, repr=False)

    @property
    def valid(self) -> list[ImportRow]:
        return [] if self.file_problems else [r for r in self.rows if not r.reasons]

    @property
    def problems(self) -> list[RowProblem]:
        return [RowProblem(r.line, r.employee_id, tuple(r.reasons)) for r in self.rows if r.reasons]

    @property
    def new(self) -> int:
        return sum(1 for r in self.valid if not r.existing)

    @property
    def updated(self) -> int:
        return sum(1 for r in self.valid if r.existing and r.changed)

    @property
    def unchanged(self) -> int:
        return sum(1 for r in self.valid if r.existing and not r.changed)


@dataclass
class Known:
    """What the database holds, loaded once, so thousands of rows need no query each."""

    sites: set[str]
    units: set[str]
    ddos: set[str]
    employees: dict[str, Employee]
    mobiles: dict[str, str]            # mobile -> staff number
    allowed: dict[str, set[str]]

    @classmethod
    def load(cls, session: Session) -> "Known":
        employees = {e.employee_id: e for e in session.scalars(select(Employee))}
        allowed: dict[str, set[str]] = defaultdict(set)
        for employee_id, site_id in session.execute(select(EmployeeAllowedSite.employee_id,
                                                           EmployeeAllowedSite.site_id)):
            allowed[employee_id].add(site_id)
        return cls(set(session.scalars(select(Site.site_id))), set(session.scalars(select(OrgUnit.unit_id))),
                   set(session.scalars(select(Ddo.ddo_id))), employees,
                   {e.mobile: e.employee_id for e in employees.values() if e.mobile}, allowed)


def validate(session: Session, data: bytes, progress: Progress | None = None) -> ValidationReport:
    """Check every row of the CSV in ``data`` against the database; writes nothing."""
    report = ValidationReport()
    parsed = parse(data, report)
    if report.file_problems:
        return report
    known = report.known = Known.load(session)
    for i, (line, cells, extra) in enumerate(parsed, 1):
        report.rows.append(check_row(line, cells, extra, known))
        if progress and (i % 500 == 0 or i == len(parsed)):
            progress("validating", i, len(parsed))
    flag_duplicates(report.rows, "employee_id", "duplicate staff number")
    flag_duplicates([r for r in report.rows if r.values.get("mobile")], "mobile", "duplicate mobile")
    flag_mobiles_in_use(report.rows, known)
    return report


def parse(data: bytes, report: ValidationReport) -> list[tuple[int, dict[str, str], bool]]:
    """(line number, cells by column, had extra fields) per non-empty row; header problems go to the report."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.file_problems.append(f"not UTF-8 text (byte {exc.start}); save the file as CSV UTF-8")
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if missing:
        report.file_problems.append(f"header lacks required columns: {', '.join(missing)}")
    if unknown:
        report.file_problems.append(f"unknown columns: {', '.join(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})")
    if len(set(header)) != len(header):
        report.file_problems.append("a column name appears twice in the header")
    rows, line = [], reader.line_num
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if any(cell.strip() for cell in record):
                rows.append((start, dict(zip(header, (c.strip() for c in record))), len(record) > len(header)))
    except csv.Error as exc:
        report.file_problems.append(f"line {reader.line_num}: {exc}")
    report.rows_total = len(rows)
    return rows


def check_row(line: int, cells: dict[str, str], extra: bool, known: Known) -> ImportRow:
    staff = cells.get("staff_number", "")
    allowed = None
    if "allowed_sites" in cells:
        allowed = sorted({s.strip() for s in cells["allowed_sites"].split(";") if s.strip()})
    values: dict[str, str | None] = {
        "name": cells.get("name", ""), "category": cells.get("category", "").lower(),
        "home_site_id": cells.get("home_site", ""), "unit_id": cells.get("unit", ""),
    }
    for column, key in (("ddo", "ddo_id"), ("mobile", "mobile")):
        if column in cells:
            values[key] = cells[column] or None
    row = ImportRow(line, staff, values, allowed)
    row.reasons = row_reasons(cells, values, allowed, extra, known)
    if staff in known.employees:
        row.existing = True
        row.changed = is_changed(known.employees[staff], values, allowed, known.allowed.get(staff, set()))
    return row


def row_reasons(cells: dict[str, str], values: dict, allowed: list[str] | None, extra: bool, known: Known) -> list[str]:
    reasons = []
    missing = [c for c in REQUIRED if not cells.get(c)]
    if missing:
        reasons.append(f"missing required fields: {', '.join(missing)}")
    if extra:
        reasons.append("more fields than the header has columns")
    staff = cells.get("staff_number", "")
    if len(staff) > 64 or not staff.isprintable():
        reasons.append("staff number longer than 64 characters or with control characters")
    if len(values["name"]) > 200:
        reasons.append("name longer than 200 characters")
    if values["category"] and values["category"] not in CATEGORIES:
        reasons.append(f"bad category {values['category']!r}: use {', '.join(CATEGORIES)}")
    for key, pool, what in (("home_site_id", known.sites, "home site"), ("unit_id", known.units, "unit"),
                            ("ddo_id", known.ddos, "DDO")):
        if values.get(key) and values[key] not in pool:
            reasons.append(f"unknown {what} {values[key]!r}")
    reasons += [f"unknown allowed site {s!r}" for s in allowed or [] if s not in known.sites]
    mobile = values.get("mobile")
    if mobile and not is_mobile(mobile):
        reasons.append(f"malformed mobile {mobile!r}: use +91 and 10 digits, e.g. +919812345678")
    return reasons


def is_changed(employee: Employee, values: dict, allowed: list[str] | None, had: set[str]) -> bool:
    if any(getattr(employee, k) != v for k, v in values.items()):
        return True
    return allowed is not None and set(allowed) - {values["home_site_id"]} != had - {values["home_site_id"]}


def flag_duplicates(rows: list[ImportRow], key: str, what: str) -> None:
    """Every row sharing the value is bad: which one is right is for the admin to say."""
    lines: dict[str, list[int]] = defaultdict(list)
    value = (lambda r: r.employee_id) if key == "employee_id" else (lambda r: r.values.get(key))
    for row in rows:
        if value(row):
            lines[value(row)].append(row.line)
    for row in rows:
        others = [n for n in lines.get(value(row), []) if n != row.line]
        if others:
            row.reasons.append(f"{what}: also on line {', '.join(map(str, others))}")


def flag_mobiles_in_use(rows: list[ImportRow], known: Known) -> None:
    """A mobile registered to another employee is refused, unless a valid row of that
    employee gives them another number. Repeated until stable: refusing one row
    can keep its employee's old number, which refuses another."""
    by_staff = {r.employee_id: r for r in rows}
    changed = True
    while changed:
        changed = False
        for row in rows:
            mobile = row.values.get("mobile")
            owner = known.mobiles.get(mobile) if mobile else None
            if row.reasons or owner is None or owner == row.employee_id:
                continue
            owner_row = by_staff.get(owner)
            released = owner_row is not None and not owner_row.reasons and "mobile" in owner_row.values \
                and owner_row.values["mobile"] != mobile
            if not released:
                row.reasons.append(f"mobile already registered to employee {owner}")
                changed = True


@dataclass
class ImportResult:
    report: ValidationReport
    created: int = 0
    updated: int = 0
    versions: dict[str, int] = field(default_factory=dict)  # gallery versions bumped by transfers


def write(session: Session, data: bytes, actor: Principal, progress: Progress | None = None) -> ImportResult:
    """Validate again and store the valid rows, with one audit entry per employee; the caller
    commits once (or rolls back: then nothing at all is written)."""
    report = validate(session, data, progress)
    result = ImportResult(report)
    rows = [r for r in report.valid if not r.existing or r.changed]
    if not rows:
        return result
    known = report.known
    _release_mobiles(session, rows, known)
    moved, renamed = [], []
    for i, row in enumerate(rows, 1):
        before = audit.snapshot(known.employees[row.employee_id]) if row.existing else None
        employee = _upsert(session, row, known)
        if row.existing:
            moved.append(row.employee_id)
            if before["name"] != employee.name:
                renamed.append(row.employee_id)
        audit.record(session, actor, "employee.import", f"employee:{row.employee_id}", before,
                     audit.snapshot(employee, allowed_site_ids=sorted(known.allowed.get(row.employee_id, ()))))
        if progress and (i % 500 == 0 or i == len(rows)):
            progress("writing", i, len(rows))
    session.flush()
    result.versions = sync_members(session, moved, content_changed=renamed)
    result.created, result.updated = report.new, report.updated
    log.info("employee import: %d created, %d updated, %d rows refused",
             result.created, result.updated, len(report.problems))
    return result


def _release_mobiles(session: Session, rows: list[ImportRow], known: Known) -> None:
    """Clear the numbers that change first, so two employees can swap numbers in one file
    without tripping the unique constraint half-way."""
    for row in rows:
        employee = known.employees.get(row.employee_id)
        if employee is not None and "mobile" in row.values and employee.mobile != row.values["mobile"]:
            employee.mobile = None
    session.flush()


def _upsert(session: Session, row: ImportRow, known: Known) -> Employee:
    employee = known.employees.get(row.employee_id)
    if employee is None:
        employee = Employee(employee_id=row.employee_id, active=True, **row.values)
        session.add(employee)
    else:
        for key, value in row.values.items():
            setattr(employee, key, value)
    if row.allowed is not None:
        wanted = set(row.allowed) - {row.values["home_site_id"]}
        had = known.allowed.get(row.employee_id, set())
        for site_id in had - wanted:
            session.delete(session.get(EmployeeAllowedSite, (row.employee_id, site_id)))
        session.add_all(EmployeeAllowedSite(employee_id=row.employee_id, site_id=s) for s in sorted(wanted - had))
        known.allowed[row.employee_id] = wanted
    return employee
