"""Each report as rows of plain cells, and as CSV for a spreadsheet.

CSV is UTF-8 with a byte-order mark, so Excel shows Devanagari names right,
with a header row. Times are local to the employee's home site, as HH:MM.
The JSON API uses the same cell functions, so both say the same thing.

Names, reasons and ids are typed by people (a CSV import, the phone page), so
every text cell that a spreadsheet would read as a formula (starting with
= + - @, a tab or a carriage return) is written with a leading apostrophe,
as OWASP advises against CSV injection; numbers stay numbers.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from hub.attendance import rules
from hub.attendance.rules import DayResult, MonthTotals
from hub.reports.queries import ExceptionRow, Muster, MusterRow, Person, PersonDays

PERSON_HEADER = ["employee_id", "name", "unit_id", "category"]
DAY_HEADER = ["status", "in", "out", "worked_min", "sites", "exceptions", "off_site", "flags"]
TOTALS_HEADER = ["P", "L", "H", "A", "working_days", "present_days"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it without evaluating it: text that could start a formula
    gets a leading apostrophe; other values pass unchanged. A lone "-" (the muster roll's
    non-working day) is no formula and stays as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and value != "-":
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def hhmm(ts: datetime | None) -> str:
    return f"{ts.hour:02d}:{ts.minute:02d}" if ts is not None else ""


def off_site_text(result: DayResult) -> str:
    """'SITE HH:MM: reason; ...' for each punch away from the home site."""
    tz = result.in_at.tzinfo if result.in_at is not None else None  # any punch sets in_at
    return "; ".join(f"{p.site_id} {hhmm(p.ts.astimezone(tz))}: {p.reason or '(no reason given)'}"
                     for p in result.off_site)


def flags_text(result: DayResult) -> str:
    return " ".join(dict.fromkeys(k for p in result.flagged for k in p.flags))


def person_cells(p: Person) -> list[str]:
    return [p.employee_id, p.name, p.unit_id or "", p.category]


def day_cells(r: DayResult) -> list[Any]:
    return [r.status, hhmm(r.in_at), hhmm(r.out_at), "" if r.worked_min is None else r.worked_min,
            " ".join(r.sites), " ".join(r.exceptions), off_site_text(r), flags_text(r)]


def totals_cells(t: MonthTotals) -> list[Any]:
    return [t.present, t.late, t.half_day, t.absent, t.working_days, t.present_days]


def exception_detail(e: ExceptionRow) -> str:
    r = e.result
    if e.kind == rules.OFF_SITE:
        return off_site_text(r)
    if e.kind == rules.FLAGGED:
        return flags_text(r)
    return f"in {hhmm(r.in_at)}" if r.in_at is not None else "no punch by the cut-off"


def daily_csv(day: date, register: Sequence[PersonDays]) -> bytes:
    """One row per employee."""
    return to_csv(["date", *PERSON_HEADER, *DAY_HEADER],
                  ([day.isoformat(), *person_cells(pd.person), *day_cells(pd.days[0])] for pd in register))


def history_csv(days: Sequence[DayResult]) -> bytes:
    """One row per day of one employee."""
    return to_csv(["date", *DAY_HEADER], ([r.day.isoformat(), *day_cells(r)] for r in days))


def exceptions_csv(rows: Sequence[ExceptionRow]) -> bytes:
    return to_csv(["date", *PERSON_HEADER, "kind", "detail"],
                  ([e.day.isoformat(), *person_cells(e.person), e.kind, exception_detail(e)] for e in rows))


def muster_csv(roll: Muster) -> bytes:
    """Employee x day of month: P, L (late), H (half day), A, R (regularised: an approved correction, counted
    in P), - (not a working day), blank (not yet)."""
    return to_csv([*PERSON_HEADER, *(str(d.day) for d in roll.days), *TOTALS_HEADER],
                  ([*person_cells(r.person), *r.codes, *totals_cells(r.totals)] for r in roll.rows))


def payroll_csv(ddo_id: str, month: str, rows: Sequence[MusterRow]) -> bytes:
    """Per employee under the DDO: present days (half days count 0.5) and the counts behind them."""
    return to_csv(["ddo_id", "month", *PERSON_HEADER, *TOTALS_HEADER],
                  ([ddo_id, month, *person_cells(r.person), *totals_cells(r.totals)] for r in rows))
