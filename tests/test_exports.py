"""The muster roll and payroll days as Excel and PDF, downloaded through the API and read back.

The workbook is opened with openpyxl and the PDF with pypdf (a reader, not
the writer's own objects). March 2026 (31 days; Sundays 1, 8, 15, 22, 29;
26 working days), now = 5 May, so every day is decided. Organisation from
``tests.hub_api_kit.seed_org`` plus H003 "विजय सिंह" (present on 2 March,
late on 31 March, absent otherwise) and H004, whose name starts like a
spreadsheet formula. Runs on SQLite and on PostgreSQL when it answers.
"""

import io
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import any_engine  # noqa: F401  (fixture)

URL = "/api/v1/reports"
HINDI = "विजय सिंह"  # two pre-base vowel signs (ि), drawn before their consonants once shaped
FORMULA = "=HYPERLINK(\"http://x\")"
# H003's March, day 1 to 31: Sundays "W" (WO), present on the 2nd, late on the 31st, absent otherwise.
H003_CODES = [{"W": "WO"}.get(c, c) for c in "WPAAAAAWAAAAAAWAAAAAAWAAAAAAWAL"]
TOTALS_HEADER = ("P", "L", "HD", "A", "CL", "EL", "ML", "CO", "OD", "TR", "H", "WO", "late", "missed_cutoff",
                 "early_leaving", "working_days", "present_days")
A4_LANDSCAPE_PT = (841.89, 595.28)


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine, exports={"pdf_rows_per_page": 2})
    api.app.state.clock = lambda: datetime(2026, 5, 5, tzinfo=timezone.utc)
    with api.sessions.begin() as session:
        seed_org(session)
        for employee_id, name in (("H003", HINDI), ("H004", FORMULA)):
            employees.create_employee(session, EmployeeIn(employee_id=employee_id, name=name, home_site_id="S-PHC1",
                                                          unit_id="PHC-1", ddo_id="DDO-H"))
        session.add_all([
            punch("H003", "S-PHC1", "09:40", day=date(2026, 3, 2)), punch("H003", "S-PHC1", "17:50", day=date(2026, 3, 2)),
            punch("H003", "S-PHC1", "10:30", day=date(2026, 3, 31)),
            punch("H003", "S-PHC1", "17:50", day=date(2026, 3, 31)),
            punch("H001", "S-PHC1", "09:40", day=date(2026, 3, 3)), punch("H001", "S-PHC1", "17:50", day=date(2026, 3, 3)),
        ])
    yield api
    api.close()


def download(hub, path: str, params: dict, fmt: str, media_type: str, filename: str) -> bytes:
    response = hub.machine.get(f"{URL}/{path}", params={**params, "format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def sheet_rows(content: bytes) -> list[tuple]:
    wb = load_workbook(io.BytesIO(content))
    [ws] = wb.worksheets
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def test_muster_roll_as_xlsx(hub):
    content = download(hub, "muster", {"unit_id": "HEALTH", "month": "2026-03"}, "xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "muster-HEALTH-2026-03.xlsx")
    rows = sheet_rows(content)
    assert [r[:2] for r in rows[:4]] == [("Muster roll", None), ("Office", "Health (HEALTH)"),
                                         ("DDO", "Health pay (DDO-H)"), ("Month", "2026-03")]
    header = rows[4]
    assert header == ("employee_id", "name", "unit_id", "category", *(str(d) for d in range(1, 32)), *TOTALS_HEADER)
    by_id = {r[0]: r for r in rows[5:9]}
    assert list(by_id) == ["H001", "H002", "H003", "H004"]
    h003 = by_id["H003"]
    assert h003[1] == HINDI
    assert list(h003[4:35]) == H003_CODES
    #                    P  L HD  A  CL..TR             H WO late missed early WD days
    assert h003[35:] == (1, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 5, 1, 24, 0, 26, 2)
    assert isinstance(h003[35], int) and by_id["H001"][35:] == (1, 0, 0, 25, 0, 0, 0, 0, 0, 0, 0, 5, 0, 25, 0, 26, 1)
    assert rows[9] == (None,) * len(rows[9]) or not any(rows[9])  # one empty row, then the legend
    legend = {r[0]: r[1] for r in rows[11:]}
    assert rows[10][0] == "Legend"
    assert legend["WO"] == "weekly off of the roster" and legend["CL"] == "casual leave"
    assert "never as both" in legend["L"] and "(blank)" in legend and "missed_cutoff" in legend
    assert legend["(blank)"].startswith("outside the employment dates")
    assert by_id["H004"][1] == "'" + FORMULA  # typed text is never run as a formula
    assert hub.machine.get(f"{URL}/daily", params={"unit_id": "HEALTH", "date": "2026-03-02",
                                                  "format": "xlsx"}).status_code == 422  # CSV and JSON only


def test_payroll_days_as_xlsx_name_the_ddo(hub):
    content = download(hub, "payroll", {"ddo_id": "DDO-H", "month": "2026-03"}, "xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "payroll-DDO-H-2026-03.xlsx")
    rows = sheet_rows(content)
    assert [r[:2] for r in rows[:4]] == [("Payroll days", None), ("Office", "Health (HEALTH)"),
                                         ("DDO", "Health pay (DDO-H)"), ("Month", "2026-03")]
    assert [(r[0], r[4 + 31 + 16]) for r in rows[5:9]] == [("H001", 1), ("H002", 0), ("H003", 2), ("H004", 0)]


def devanagari(text: str) -> str:
    """Only the Devanagari letters of ``text``. A shaped cluster such as "वि" is drawn as the vowel
    sign's glyph first; pypdf gives the cluster's text for that glyph and a placeholder character
    (a control character or stray ASCII) for the consonant's, so the letters are compared alone."""
    return "".join(ch for ch in text if "\u0900" <= ch <= "\u097f")


def page_texts(content: bytes) -> list[tuple[str, list[tuple[str, float]]]]:
    """Each page's text and its pieces with their x positions (points from the left edge)."""
    reader = PdfReader(io.BytesIO(content))
    out = []
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4_LANDSCAPE_PT, abs=0.1)
        pieces: list[tuple[str, float]] = []
        text = page.extract_text(visitor_text=lambda t, cm, tm, font, size: pieces.append((t, tm[4] * cm[0] + cm[4])))
        out.append((text, [(t.strip(), x) for t, x in pieces if t.strip()]))
    return out


def test_muster_roll_as_pdf_two_employees_a_page(hub):
    content = download(hub, "muster", {"unit_id": "HEALTH", "month": "2026-03"}, "pdf", "application/pdf",
                       "muster-HEALTH-2026-03.pdf")
    pages = page_texts(content)
    assert len(pages) == 2  # four employees, pdf_rows_per_page 2
    for number, (text, pieces) in enumerate(pages, 1):
        assert "Muster roll: 2026-03" in text
        assert "Office: Health (HEALTH)" in text
        assert "(DDO): Health pay (DDO-H)" in text
        assert "Page total" in text
        for caption in ("Prepared by", "Checked by (Head of Office)", "Drawing and Disbursing Officer"):
            assert caption in text
        assert f"page {number} of 2" in text
        header = [t for t, _ in pieces]
        day_31 = header.index("31")
        assert header[day_31 + 1:day_31 + 11] == ["P", "L", "HD", "A", "LV", "OD", "H", "WO", "WD", "Days"]
        assert "WO: weekly off of the roster" in text and "never as both" in text  # the legend
        width = A4_LANDSCAPE_PT[0]
        assert all(0 < x < width - 30 for _, x in pieces), "text outside the printable width"
    first, second = pages[0][0], pages[1][0]
    assert "H001" in first and "H002" in first and "H003" not in first
    name_line = next(line for line in second.splitlines() if "H003" in line)
    assert devanagari(name_line) == devanagari(HINDI)  # the name is there, letter for letter...
    assert HINDI not in second  # ...and shaped: drawn unshaped (fpdf2's text()), it would extract verbatim
    cells = name_line.split()
    start = cells.index("WO")
    assert cells[start:start + 31] == H003_CODES  # all 31 day codes, in order
    assert cells[start + 31:] == ["1", "1", "0", "24", "0", "0", "0", "5", "26", "2"]  # P L HD A LV OD H WO WD Days
    assert "'" + FORMULA not in second and FORMULA in second  # a PDF runs nothing: the name as typed
    assert "Grand total, 4 employees 2 1 0 101 0 0 0 20 104 3" in second
    assert "Grand total" not in first


def test_payroll_days_as_pdf(hub):
    content = download(hub, "payroll", {"ddo_id": "DDO-E", "month": "2026-03"}, "pdf", "application/pdf",
                       "payroll-DDO-E-2026-03.pdf")
    [(text, _)] = page_texts(content)
    assert "Payroll days: 2026-03" in text
    assert "Office: Education (EDU)" in text and "(DDO): Education pay (DDO-E)" in text
    assert "Grand total, 2 employees 0 0 0 52 0 0 0 10 52 0" in text
