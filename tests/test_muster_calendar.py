"""The muster roll with employment dates, holiday calendars, leave and duty codes, rosters and a night
shift, every fact entered through the API (and one CSV file), checked against rows written out by hand.

April 2026 (1 April is a Wednesday; Sundays 5, 12, 19, 26), now = 5 May, so
every day is decided. Sites keep their default shift (10:00, cut-off 12:00,
no end); the working weekdays are Monday to Saturday. Holidays: 14 April
national, 24 April a state holiday of HEALTH (its offices inherit it), 20
April a local holiday of PHC-2 only. Everyone punches 09:40 and 17:50 on
their working days unless said otherwise below.

- J001 joins on 15 April (PHC-1), and punched on 10 April, before joining.
- L001 leaves on 10 April (PHC-1); absent on 9 April.
- H001 (PHC-1): CL 6-8 (punched on the 7th anyway), EL 11-13 across a Sunday
  and TR 22-23 from a CSV file, OD on 21, half a day of CL on 27 (09:40 to
  13:00), the department's own SCL on 28.
- H002 (PHC-2): the unit's roster for the week of 6 April has only Saturday
  off, so Sunday 12 is a working day (no punch: absent) and Saturday 11 off.
- N001 (PHC-1): a night shift 22:00-06:00 (cut-off 23:00) every week, Monday
  off; in at 21:50 and out at 06:05 the next morning. Late on the 2nd
  (22:30), after the cut-off on the 3rd (23:30), out early on the 4th (05:00
  on the 5th), absent on the 7th, and punched on the holiday of the 14th.
  31 March's night (its 06:05 on 1 April) belongs to March.

Runs on SQLite and on PostgreSQL when it answers.
"""

from datetime import date, datetime, timedelta, timezone

import pytest

from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import any_engine  # noqa: F401  (fixture)

APRIL = [date(2026, 4, n) for n in range(1, 31)]
NATIONAL, STATE, LOCAL = date(2026, 4, 14), date(2026, 4, 24), date(2026, 4, 20)
SCL = {"code": "SCL", "en": "special casual leave", "hi": "विशेष आकस्मिक अवकाश"}

# One entry per day, 1 to 30, written out by hand.
_ = ""
EXPECTED = {
    "J001": [_, _, _, _, _, _, _, _, _, _, _, _, _, _,
             "P", "P", "P", "P", "WO", "P", "P", "P", "P", "H", "P", "WO", "P", "P", "P", "P"],
    "L001": ["P", "P", "P", "P", "WO", "P", "P", "P", "A", "P",
             _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _],
    "H001": ["P", "P", "P", "P", "WO", "CL", "CL", "CL", "P", "P", "EL", "WO", "EL", "H", "P",
             "P", "P", "P", "WO", "P", "OD", "TR", "TR", "H", "P", "WO", "CL/2", "SCL", "P", "P"],
    "H002": ["P", "P", "P", "P", "WO", "P", "P", "P", "P", "P", "WO", "A", "P", "H", "P",
             "P", "P", "P", "WO", "H", "P", "P", "P", "H", "P", "WO", "P", "P", "P", "P"],
    "N001": ["P", "L", "L", "P", "P", "WO", "A", "P", "P", "P", "P", "P", "WO", "H", "P",
             "P", "P", "P", "P", "WO", "P", "P", "P", "H", "P", "P", "WO", "P", "P", "P"],
}
# by_code of each row's totals (zeros left out), then working days and present days.
EXPECTED_TOTALS = {
    "J001": ({"P": 13, "WO": 2, "H": 1}, 13, 13.0),
    "L001": ({"P": 8, "A": 1, "WO": 1, "missed_cutoff": 1}, 9, 8.0),
    "H001": ({"P": 14.5, "CL": 3.5, "EL": 2, "OD": 1, "TR": 2, "SCL": 1, "H": 2, "WO": 4}, 24, 17.5),
    "H002": ({"P": 22, "A": 1, "H": 3, "WO": 4, "missed_cutoff": 1}, 23, 22.0),
    "N001": ({"P": 21, "L": 2, "A": 1, "H": 2, "WO": 4, "late": 1, "missed_cutoff": 2, "early_leaving": 1},
             24, 23.0),
}
LEAVE_CSV = ("employee_id,code,first,last,half_day,note\n"
             "H001,EL,2026-04-11,2026-04-13,no,family function\n"
             "H001,tr,2026-04-22,2026-04-23,,district training\n").encode("utf-8-sig")


def office_days(first: int, last: int, *, skip=()) -> list[date]:
    return [d for d in APRIL[first - 1:last] if d.weekday() != 6 and d not in (NATIONAL, STATE) and d.day not in skip]


def routine(employee_id: str, site_id: str, days) -> list:
    return [punch(employee_id, site_id, t, day=d) for d in days for t in ("09:40", "17:50")]


def night(day: date, hhmm_in: str = "21:50", hhmm_out: str = "06:05") -> list:
    return [punch("N001", "S-PHC1", hhmm_in, day=day), punch("N001", "S-PHC1", hhmm_out, day=day + timedelta(days=1))]


@pytest.fixture
def hub(tmp_path, any_engine):  # noqa: F811
    api = HubApi(tmp_path, any_engine, attendance={"leave_codes": [SCL]})
    api.app.state.clock = lambda: datetime(2026, 5, 5, tzinfo=timezone.utc)
    with api.sessions.begin() as session:
        seed_org(session)
        for employee_id, joined, left in (("J001", date(2026, 4, 15), None), ("L001", None, date(2026, 4, 10)),
                                          ("N001", None, None)):
            employees.create_employee(session, EmployeeIn(employee_id=employee_id, name=f"Person {employee_id}",
                                                          home_site_id="S-PHC1", unit_id="PHC-1", ddo_id="DDO-H",
                                                          joined_on=joined, left_on=left))
        rows = routine("J001", "S-PHC1", office_days(15, 30) + [date(2026, 4, 10)])
        rows += routine("L001", "S-PHC1", office_days(1, 10, skip={9}))
        rows += routine("H001", "S-PHC1", office_days(1, 30, skip={6, 8, 11, 13, 21, 22, 23, 27, 28}))
        rows += [punch("H001", "S-PHC1", "09:40", day=APRIL[26]), punch("H001", "S-PHC1", "13:00", day=APRIL[26])]
        rows += routine("H002", "S-PHC2", [d for d in office_days(1, 30) if d.day not in (11, 20)])
        rows += night(date(2026, 3, 31))
        for d in APRIL:
            if d.weekday() == 0 or d.day in (7, 24):
                continue
            rows += night(d, **({2: {"hhmm_in": "22:30"}, 3: {"hhmm_in": "23:30"}, 4: {"hhmm_out": "05:00"}}
                                .get(d.day, {})))
        session.add_all(rows)
    admin = api.machine
    for body in ({"day": "2026-04-14", "name": "Ambedkar Jayanti", "level": "national"},
                 {"day": "2026-04-24", "name": "State day", "level": "state", "unit_id": "HEALTH"},
                 {"day": "2026-04-20", "name": "Local fair", "level": "local", "unit_id": "PHC-2"}):
        assert admin.post("/api/v1/holidays", json=body).status_code == 201
    shift = {"shift_id": "NIGHT", "site_id": "S-PHC1", "name": "Night", "start": "22:00", "end": "06:00",
             "cutoff": "23:00"}
    assert admin.put("/api/v1/shifts/NIGHT", json=shift).status_code == 201
    for body in ({"employee_id": "N001", "shift_id": "NIGHT", "weekly_off": [0]},
                 {"unit_id": "PHC-2", "week_start": "2026-04-06", "weekly_off": [5]}):
        assert admin.post("/api/v1/rosters", json=body).status_code == 201, body
    for body, source in (({"employee_id": "H001", "code": "CL", "first": "2026-04-06", "last": "2026-04-08"}, "api"),
                         ({"employee_id": "H001", "code": "OD", "first": "2026-04-21", "last": "2026-04-21"},
                          "dashboard"),
                         ({"employee_id": "H001", "code": "CL", "first": "2026-04-27", "last": "2026-04-27",
                           "half_day": True}, "api"),
                         ({"employee_id": "H001", "code": "SCL", "first": "2026-04-28", "last": "2026-04-28"}, "api")):
        created = admin.post("/api/v1/leave", params={"source": source}, json=body)
        assert created.status_code == 201, created.text
    imported = admin.post("/api/v1/leave/import", files={"file": ("leave.csv", LEAVE_CSV, "text/csv")})
    assert imported.status_code == 201 and imported.json()["stored"] == 2, imported.text
    yield api
    api.close()


def test_the_month_row_by_row(hub):
    muster = hub.machine.get("/api/v1/reports/muster", params={"unit_id": "HEALTH", "month": "2026-04"}).json()
    rows = {item["employee"]["employee_id"]: item for item in muster["items"]}
    assert sorted(rows) == sorted(EXPECTED)
    for employee_id, codes in EXPECTED.items():
        assert rows[employee_id]["codes"] == codes, employee_id
        by_code, working, present = EXPECTED_TOTALS[employee_id]
        totals = rows[employee_id]["totals"]
        assert (totals["by_code"], totals["working_days"], totals["present_days"]) == (by_code, working, present), \
            employee_id
    legend = {entry["code"]: entry for entry in muster["legend"]}
    assert legend["SCL"]["hi"] == SCL["hi"] and legend["OD"]["en"] == "on duty elsewhere or on tour"
    assert "never as both" in legend["L"]["en"] and "missed_cutoff" in legend


def test_the_csv_and_the_payroll_say_the_same(hub):
    csv_text = hub.machine.get("/api/v1/reports/muster", params={"unit_id": "PHC-1", "month": "2026-04",
                                                                 "format": "csv"}).content.decode("utf-8-sig")
    header, *lines = [line.split(",") for line in csv_text.strip().splitlines()]
    assert header[34:] == ["P", "L", "HD", "A", "CL", "EL", "ML", "CO", "OD", "TR", "SCL", "H", "WO", "late",
                           "missed_cutoff", "early_leaving", "working_days", "present_days"]
    h001 = next(line for line in lines if line[0] == "H001")
    assert h001[4:34] == EXPECTED["H001"]
    assert h001[34:] == ["14.5", "0", "0", "0", "3.5", "2", "0", "0", "1", "2", "1", "2", "4", "0", "0", "0", "24",
                         "17.5"]
    payroll = hub.machine.get("/api/v1/reports/payroll", params={"ddo_id": "DDO-H", "month": "2026-04"}).json()
    assert {i["employee"]["employee_id"]: i["totals"]["present_days"] for i in payroll["items"]} == {
        e: t[2] for e, t in EXPECTED_TOTALS.items()}


def test_exceptions_count_each_offence_once_and_skip_leave_and_other_employment(hub):
    items = hub.machine.get("/api/v1/reports/exceptions", params={"from": "2026-04-01", "to": "2026-04-30",
                                                                  "unit_id": "HEALTH"}).json()["items"]
    got = [(i["date"], i["employee"]["employee_id"], i["kind"]) for i in items]
    assert got == [
        ("2026-04-02", "N001", "late"),
        ("2026-04-03", "N001", "missing"),   # after the cut-off: missing, and not late as well
        ("2026-04-04", "N001", "early"),     # out at 05:00 on the 5th, before the shift's end
        ("2026-04-07", "N001", "missing"),
        ("2026-04-09", "L001", "missing"),
        ("2026-04-12", "H002", "missing"),   # a working Sunday by the unit's roster
    ]


def test_the_night_shift_is_one_day_in_the_register(hub):
    register = hub.machine.get("/api/v1/reports/daily", params={"unit_id": "PHC-1", "date": "2026-04-04"}).json()
    n001 = next(r["day"] for r in register["items"] if r["employee"]["employee_id"] == "N001")
    assert (n001["status"], n001["in_at"][:16], n001["out_at"][:16], n001["worked_min"]) == (
        "present", "2026-04-04T21:50", "2026-04-05T05:00", 430)
    assert n001["exceptions"] == ["early"]
    history = hub.machine.get("/api/v1/reports/employees/H001/history",
                              params={"from": "2026-04-06", "to": "2026-04-07"}).json()["items"]
    # on leave: punched on the 7th, yet neither absent nor anything to chase
    assert [(d["status"], d["exceptions"]) for d in history] == [("on_leave", []), ("on_leave", [])]


def test_the_spreadsheet_and_the_printout_carry_the_codes_and_the_legend(hub):
    import io

    from openpyxl import load_workbook
    from pypdf import PdfReader

    params = {"unit_id": "PHC-1", "month": "2026-04"}
    book = load_workbook(io.BytesIO(hub.machine.get("/api/v1/reports/muster", params={**params, "format": "xlsx"})
                                    .content))
    rows = [tuple(c.value for c in row) for row in book.worksheets[0].iter_rows()]
    n001 = next(r for r in rows if r[0] == "N001")
    assert list(n001[4:34]) == EXPECTED["N001"]
    assert ("SCL", "special casual leave") in [r[:2] for r in rows]
    pdf = hub.machine.get("/api/v1/reports/muster", params={**params, "format": "pdf"}).content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    h001_cells = next(line for line in text.splitlines() if "H001" in line).split()
    start = h001_cells.index("Person") + 2
    assert h001_cells[start:start + 30] == EXPECTED["H001"]
    #                                       P    L    HD   A   LV    OD   H    WO   WD    Days
    assert h001_cells[start + 30:] == ["14.5", "0", "0", "0", "6.5", "3", "2", "4", "24", "17.5"]
    assert "SCL: special casual leave" in text and "(blank): outside the employment dates" in text
