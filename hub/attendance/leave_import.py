"""Leave and duty entries from a CSV file (an office's leave register), all or nothing.

Columns: ``employee_id, code, first, last`` and optionally ``half_day``
(yes/no, true/false, 1/0) and ``note``; UTF-8, with or without a byte-order
mark (Excel writes one). Every row is checked as the API checks one entry
(``fields.LeaveIn``, ``store.check_leave``), and against the other rows of
the file; when any row is refused the file is refused with every problem
listed by line and column, and nothing is stored.
"""

import csv
import io
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from hub.attendance import store
from hub.attendance.daycode import CodeBook
from hub.attendance.fields import LeaveIn
from hub.attendance.models import LeaveEntry
from hub.errors import HubError

REQUIRED = ("employee_id", "code", "first", "last")
OPTIONAL = ("half_day", "note")
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class Problem:
    line: int  # 1 is the header
    column: str
    message: str


class LeaveFileRefused(HubError, ValueError):
    """The file has problems; none of its rows was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems in the leave file; nothing was stored")
        self.problems = problems


def parse(content: bytes) -> tuple[list[tuple[int, LeaveIn]], list[Problem]]:
    """The rows as entries (with their line numbers), and the problems of the rows that are not."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Problem(0, "", f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        return [], [Problem(1, c, "required column missing") for c in missing] + \
            [Problem(1, c, f"unknown column; the columns are {', '.join(REQUIRED + OPTIONAL)}") for c in unknown]
    rows, problems = [], []
    for line, raw in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        half = values.get("half_day", "").lower()
        if half not in YES | NO:
            problems.append(Problem(line, "half_day", f"{values['half_day']!r} is not yes or no"))
            continue
        try:
            rows.append((line, LeaveIn(employee_id=values["employee_id"], code=values["code"], first=values["first"],
                                       last=values["last"], half_day=half in YES, note=values.get("note") or None)))
        except ValidationError as exc:
            problems += [Problem(line, str(e["loc"][0]) if e["loc"] else "", e["msg"]) for e in exc.errors()]
    return rows, problems


def import_leave(session: Session, content: bytes, book: CodeBook, *, by: str) -> list[LeaveEntry]:
    """Store every row of the file, or none (``LeaveFileRefused`` lists why)."""
    rows, problems = parse(content)
    if not rows and not problems:
        problems.append(Problem(2, "", "the file has no rows"))
    taken: dict[str, list[tuple[int, LeaveIn]]] = {}
    for line, entry in rows:
        try:
            store.check_leave(session, entry, book)
        except HubError as exc:
            problems.append(Problem(line, getattr(exc, "field", ""), str(exc)))
        for other_line, other in taken.get(entry.employee_id, []):
            if other.first <= entry.last and other.last >= entry.first:
                problems.append(Problem(line, "first", f"overlaps line {other_line} of this file"))
        taken.setdefault(entry.employee_id, []).append((line, entry))
    if problems:
        raise LeaveFileRefused(sorted(problems, key=lambda p: (p.line, p.column)))
    return [store.add_leave(session, entry, book, source="import", by=by) for _, entry in rows]
