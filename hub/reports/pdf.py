"""The muster roll (and payroll days) as a printable PDF: A4 landscape, every day of the month and the totals.

Each page carries the office, the DDO, the month, up to ``pdf_rows_per_page``
employees with their 28-31 day codes and totals, the page's totals, and the
signature lines, so a page torn from the pile is still a signed record; the
last page adds the grand totals. Column widths are fixed in millimetres so
day 31 and the totals always fit inside the printable width (a printout of
the CSV lost days 22-31).

Names are typed in Devanagari as often as in Latin script. fpdf2 shapes text
with HarfBuzz (``uharfbuzz``), which places conjuncts, the reph and pre-base
vowel signs as a reader expects; without shaping Devanagari prints as
loose letters in the wrong order. Only name cells are shaped: the codes and
numbers are plain ASCII, and shaping each of ~400,000 cells would cost
seconds. Only Devanagari (and Latin) has a font configured; a name in another
script (Bengali, Tamil, ...) needs that script's Noto font as pdf_script_font. Pages are drawn one at a time from the rows; fpdf2 keeps each
finished page's compressed content until ``output``, a few kB a page.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from fpdf import FPDF

from hub.errors import HubError
from hub.reports.config import ExportConfig
from hub.reports.heading import Heading
from hub.reports.queries import Muster, MusterRow

log = logging.getLogger(__name__)

PDF_MEDIA_TYPE = "application/pdf"
MARGIN_MM = 8.0
ROW_MM = 6.0
# S.No, employee id, name; one column per day; P L H A, working days, present days.
SNO_MM, ID_MM, NAME_MM, DAY_MM = 8.0, 20.0, 42.0, 5.1
TOTAL_MM = (7.0, 7.0, 7.0, 7.0, 9.0, 10.0)
TOTAL_LABELS = ("P", "L", "H", "A", "WD", "Days")
FONT, SCRIPT = "latin", "script"
CODE_PT = 6.5


class FontMissing(HubError, FileNotFoundError):
    """A font file the PDF needs is not there (install Debian's fonts-noto-core, or set exports.pdf_*font)."""


def _open_pdf(config: ExportConfig) -> FPDF:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(False)
    pdf.set_compression(True)
    for family, style, path in ((FONT, "", config.pdf_font), (FONT, "B", config.pdf_bold_font),
                                (SCRIPT, "", config.pdf_script_font), (SCRIPT, "B", config.pdf_script_bold_font)):
        if not Path(path).is_file():
            raise FontMissing(f"PDF font {path} is missing: install fonts-noto-core or set exports.pdf_*font")
        pdf.add_font(family, style=style, fname=str(path))
    pdf.set_fallback_fonts([SCRIPT])
    pdf.alias_nb_pages()
    return pdf


def _fit(pdf: FPDF, text: str, width_mm: float) -> str:
    """``text`` shortened with an ellipsis until it fits ``width_mm`` (long names must not cover day 1)."""
    if len(text) <= 16 or pdf.get_string_width(text) <= width_mm:  # 16 of the widest letters fit
        return text
    while text and pdf.get_string_width(text + "…") > width_mm:
        text = text[:-1]
    return text + "…"


class _Page:
    """Draws one page: heading, column header, rows, page totals, signatures, footer.

    The table is text placed at computed positions plus a grid of lines, not
    fpdf2 ``cell`` calls: a cell costs ~1 ms (line breaking, style parsing) and
    a 10,000-employee roll has 430,000 of them; ``text`` costs ~20 us. The 31
    one-letter day codes of a row go out as one string in Courier with
    character spacing set so each letter lands in the middle of its column.
    """

    def __init__(self, pdf: FPDF, heading: Heading, days: int, config: ExportConfig) -> None:
        self.pdf, self.heading, self.days, self.config = pdf, heading, days, config
        self.widths = [SNO_MM, ID_MM, NAME_MM, *([DAY_MM] * days), *TOTAL_MM]
        self.x = [MARGIN_MM]
        for w in self.widths:
            self.x.append(self.x[-1] + w)
        self.first_day = 3
        self.table_top = 0.0
        self.lines = 0

    def text(self, col: int, y: float, value: str, *, align: str = "C") -> None:
        """``value`` in column ``col`` of the row whose top is ``y``, in the current font."""
        pdf = self.pdf
        width = pdf.get_string_width(value) if align != "L" else 0.0
        x = self.x[col] + 1.0 if align == "L" else self.x[col] + (self.widths[col] - width) / 2
        pdf.text(x, y + ROW_MM / 2 + pdf.font_size * 0.35, value)

    def codes(self, y: float, codes: Sequence[str]) -> None:
        pdf = self.pdf
        pdf.set_font("courier", size=CODE_PT)
        advance_pt = 0.6 * CODE_PT  # every Courier glyph is 0.6 em wide
        pdf.set_char_spacing(DAY_MM * 72 / 25.4 - advance_pt)
        offset = (DAY_MM - advance_pt * 25.4 / 72) / 2
        pdf.text(self.x[self.first_day] + offset, y + ROW_MM / 2 + pdf.font_size * 0.35,
                 "".join(c or " " for c in codes))
        pdf.set_char_spacing(0)

    def top(self) -> None:
        pdf, h = self.pdf, self.heading
        pdf.add_page()
        pdf.set_text_shaping(True)
        pdf.set_font(FONT, style="B", size=12)
        pdf.cell(0, 7, f"{h.title}: {h.month}", new_x="LMARGIN", new_y="NEXT", align="C")
        pdf.set_font(FONT, size=9)
        pdf.cell(0, 5, f"Office: {h.office}", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 5, f"Drawing and Disbursing Officer (DDO): {h.ddo or '-'}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=7)
        pdf.cell(0, 4, "P present, L late, H half day, A absent, R regularised (approved correction, counted in P), "
                 "- not a working day, blank not yet decided; WD working days, Days = P + L + H/2",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_shaping(False)
        self.table_top = pdf.get_y() + 1
        self.lines = 0
        pdf.set_font(FONT, style="B", size=7)
        labels = ["S.No", "Emp. ID", "Name", *(str(d) for d in range(1, self.days + 1)), *TOTAL_LABELS]
        for col, label in enumerate(labels):
            self.text(col, self.table_top, label)
        self.lines = 1

    def _y(self) -> float:
        return self.table_top + self.lines * ROW_MM

    def row(self, number: int, row: MusterRow) -> None:
        pdf, y, t = self.pdf, self._y(), row.totals
        pdf.set_font(FONT, size=6.5)
        self.text(0, y, str(number))
        self.text(1, y, _fit(pdf, row.person.employee_id, ID_MM - 1.5), align="L")
        name = row.person.name
        if name.isascii():
            self.text(2, y, _fit(pdf, name, NAME_MM - 2), align="L")
        else:
            # text() neither shapes nor falls back to the script font: a Devanagari name through it prints
            # its vowel signs after the consonant and its conjuncts apart. cell() does both (~1 ms a name).
            pdf.set_text_shaping(True)
            pdf.set_xy(self.x[2] + 0.2, y)
            pdf.cell(NAME_MM - 0.4, ROW_MM, _fit(pdf, name, NAME_MM - 2), align="L")
            pdf.set_text_shaping(False)
        self.codes(y, row.codes)
        pdf.set_font(FONT, size=6.5)
        total_col = self.first_day + self.days
        for i, value in enumerate((t.present, t.late, t.half_day, t.absent, t.working_days)):
            self.text(total_col + i, y, str(value))
        self.text(total_col + 5, y, f"{t.present_days:g}")
        self.lines += 1

    def totals(self, label: str, rows: Sequence[MusterRow]) -> None:
        pdf, y = self.pdf, self._y()
        sums = [sum(getattr(r.totals, k) for r in rows) for k in ("present", "late", "half_day", "absent",
                                                                    "working_days", "present_days")]
        pdf.set_font(FONT, style="B", size=7)
        pdf.text(self.x[self.first_day + self.days] - 1.5 - pdf.get_string_width(label),
                 y + ROW_MM / 2 + pdf.font_size * 0.35, label)
        for i, value in enumerate(sums):
            self.text(self.first_day + self.days + i, y, f"{value:g}")
        self.lines += 1

    def grid(self, body_lines: int) -> None:
        """Lines around every cell of the header and the rows; the total lines span the name and day columns."""
        pdf = self.pdf
        pdf.set_line_width(0.2)
        top, bottom = self.table_top, self.table_top + self.lines * ROW_MM
        body_bottom = self.table_top + (1 + body_lines) * ROW_MM
        for i in range(self.lines + 1):
            pdf.line(self.x[0], top + i * ROW_MM, self.x[-1], top + i * ROW_MM)
        total_col = self.first_day + self.days
        for col, x in enumerate(self.x):
            pdf.line(x, top, x, bottom if col in (0,) or col >= total_col else body_bottom)

    def foot(self) -> None:
        pdf = self.pdf
        captions = self.config.signatures
        width = (pdf.w - 2 * MARGIN_MM) / max(len(captions), 1)
        y = pdf.h - MARGIN_MM - 20
        pdf.set_text_shaping(True)
        pdf.set_font(FONT, size=8)
        for i, caption in enumerate(captions):
            x = MARGIN_MM + i * width
            pdf.line(x + 5, y + 8, x + width - 5, y + 8)
            pdf.set_xy(x, y + 9)
            pdf.cell(width, 4, caption, align="C")
        pdf.set_xy(MARGIN_MM, pdf.h - MARGIN_MM - 4)
        pdf.set_font(FONT, size=7)
        pdf.cell(0, 4, f"{self.heading.title} {self.heading.month}, {self.heading.office}: "
                 f"page {pdf.page_no()} of {{nb}}", align="R")


def write_muster_pdf(heading: Heading, roll: Muster, out: BinaryIO, config: ExportConfig | None = None) -> None:
    """Write ``roll`` to ``out`` as an A4 landscape PDF, ``pdf_rows_per_page`` employees a page."""
    config = config or ExportConfig()
    pdf = _open_pdf(config)
    page = _Page(pdf, heading, len(roll.days), config)
    per_page = config.pdf_rows_per_page
    rows = roll.rows
    for start in range(0, max(len(rows), 1), per_page):
        chunk = rows[start:start + per_page]
        page.top()
        for i, row in enumerate(chunk, start + 1):
            page.row(i, row)
        page.totals("Page total", chunk)
        if start + per_page >= len(rows):
            page.totals(f"Grand total, {len(rows)} employees", rows)
        page.grid(len(chunk))
        page.foot()
    pdf.output(out)
    log.info("printed %s for %s, %s: %d employees on %d pages", heading.title, heading.office, heading.month,
             len(rows), pdf.page_no())
