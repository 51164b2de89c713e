"""The muster roll (and payroll days, which is the muster roll of a DDO) as an Excel workbook.

openpyxl's write-only mode streams rows to a temporary file as they are
appended, so 10,000 employees x 31 days never sit in memory as cell objects
(a normal workbook holds ~400,000 of them, several hundred MB). Text that a
spreadsheet would run as a formula is written with a leading apostrophe
(``export.safe_cell``), as in the CSV; day codes and totals keep their types
(numbers stay numbers, so the totals add up in Excel). The legend of
codes and counts follows the rows, after one empty row.
"""

import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from hub.reports.export import PERSON_HEADER, legend, person_cells, safe_cell, totals_cells, totals_header
from hub.reports.heading import Heading
from hub.reports.queries import Muster

log = logging.getLogger(__name__)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADING_ROWS = 4  # title, office, DDO, month; then the column header


def _bold(ws: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=safe_cell(value))
    cell.font = Font(bold=True)
    return cell


def _rows(ws: WriteOnlyWorksheet, heading: Heading, roll: Muster) -> Iterator[list[Any]]:
    yield [_bold(ws, heading.title)]
    yield ["Office", safe_cell(heading.office)]
    yield ["DDO", safe_cell(heading.ddo)]
    yield ["Month", heading.month]
    yield [_bold(ws, h) for h in [*PERSON_HEADER, *(str(d.day) for d in roll.days), *totals_header(roll.codes)]]
    for row in roll.rows:
        yield [*(safe_cell(c) for c in person_cells(row.person)), *row.codes, *totals_cells(row.totals, roll.codes)]
    yield []
    yield [_bold(ws, "Legend")]
    for code, meaning in legend(roll.codes):
        yield [code or "(blank)", meaning]


def write_muster_xlsx(heading: Heading, roll: Muster, out: BinaryIO) -> None:
    """Write ``roll`` as one sheet to ``out`` (a binary file opened for writing)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=heading.title[:31])
    n_days = len(roll.days)
    first_day_col = len(PERSON_HEADER) + 1
    # Column widths and the frozen header must be set before the first row is written.
    for col, width in ((1, 12), (2, 28), (3, 10), (4, 10)):
        ws.column_dimensions[get_column_letter(col)].width = width
    for col in range(first_day_col, first_day_col + n_days):
        ws.column_dimensions[get_column_letter(col)].width = 3.5
    ws.freeze_panes = f"{get_column_letter(first_day_col)}{HEADING_ROWS + 2}"
    for values in _rows(ws, heading, roll):
        ws.append(values)
    wb.save(out)
    log.info("wrote %s for %s, %s: %d employees x %d days", heading.title, heading.office, heading.month,
             len(roll.rows), n_days)
