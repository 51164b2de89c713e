"""Reports over a synthetic month, checked against expectations computed by hand.

April 2026 at an office in Asia/Kolkata (shift 10:00, cut-off 12:00, out at
least 30 min after in, half day under 4 h). Sundays 5, 12, 19, 26 and the
holiday on Tuesday 14 April are not working days: 25 working days. Every
working day each employee punches in at 09:40 and out at 17:50 unless the
day is listed in ``SPECIAL`` below. The expected muster rows are written out
by hand, day 1 to 30; nothing here calls the code under test to compute
what it should say. Runs on SQLite and on PostgreSQL when it answers.
"""

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import CompileError

from hub.attendance.rules import FlagPolicy, WorkCalendar
from hub.db import Ddo, Employee, OrgUnit, PunchRecord, Site, make_session_factory
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.reports import export
from hub.reports import queries as reports
from hub.reports.config import AttendanceConfig
from tests.hub_db import any_engine  # noqa: F401  (fixture)

IST = ZoneInfo("Asia/Kolkata")
HOLIDAY = date(2026, 4, 14)
CALENDAR = WorkCalendar(holidays=frozenset({HOLIDAY}))
AFTER = datetime(2026, 5, 5, tzinfo=timezone.utc)
REASON = "training at the district office"

# Days that differ from the 09:40 / 17:50 routine: (day, [(local time, punch overrides), ...]).
SPECIAL = {
    "A1": {
        2: [("10:20", {}), ("17:50", {})],                  # late
        3: [("09:40", {"ahead_s": 600}), ("17:50", {})],    # flagged: dated 10 min after it arrived
        4: [("09:40", {"flags": "clock_skew"}), ("17:50", {})],  # flagged at intake
        6: [("09:45", {}), ("12:30", {})],                  # half day: 2 h 45
        9: [("10:05", {}), ("17:50", {})],                  # late
        12: [("09:50", {}), ("13:00", {})],                 # came in on a Sunday: still "-"
        20: [],                                              # absent
    },
    "A2": {
        7: [("09:40", {"site_id": "DIST"}), ("17:50", {"site_id": "DIST"})],  # off-site, with a reason
        8: [("09:40", {"liveness_passed": None}), ("17:50", {})],             # flagged: liveness not checked
        9: [("09:40", {}), ("17:50", {"liveness_passed": False})],            # flagged: liveness failed
        15: [("09:40", {}), ("17:50", {"margin": 0.03})],                     # flagged: low margin
        21: [], 22: [],                                                       # absent
        23: [("09:40", {})],                                                  # half day: no out
        24: [("09:40", {}), ("09:55", {})],                                   # half day: 15 min is no out
    },
    "A3": {
        1: [("00:03", {}), ("08:30", {})],                  # just after midnight IST = 31 March in UTC
        2: [], 3: [],                                        # absent
        10: [("12:15", {}), ("18:00", {})],                 # late, missing (after the cut-off), 5 h 45
        13: [("13:00", {}), ("16:00", {})],                 # late, missing and a half day
        15: [("09:40", {})],                                 # half day, unless 16 April's 00:05 leaks in
        16: [("00:05", {}), ("09:00", {})],                 # present 8 h 55
        30: [("09:40", {})],                                 # half day, unless 1 May's 00:10 leaks in
    },
}
OUTSIDE = [("A3", date(2026, 5, 1), "00:10"), ("A3", date(2026, 3, 31), "23:55"), ("A1", date(2026, 3, 31), "09:40")]

# One letter a day, spelled out by ``spelled``: W weekly off (WO), h holiday (H), D half day (HD).
#                day  1234567890123456789012345678901
EXPECTED_MUSTER = {
    "A1": "PLPPWDPPLPPWPhPPPPWAPPPPPWPPPP",
    "A2": "PPPPWPPPPPPWPhPPPPWPAADDPWPPPP",
    "A3": "PAAPWPPPPLPWDhDPPPWPPPPPPWPPPD",
}
LETTERS = {"W": "WO", "h": "H", "D": "HD", ".": ""}


def spelled(compact: str) -> list[str]:
    return [LETTERS.get(letter, letter) for letter in compact]


# (P, L, HD, A, working days, present days): present days = P + L + HD / 2
EXPECTED_TOTALS = {
    "A1": (21, 2, 1, 1, 25, 23.5),
    "A2": (21, 0, 2, 2, 25, 22.0),
    "A3": (19, 1, 3, 2, 25, 21.5),
}
# The CSV's totals after P, L, HD, A: CL EL ML CO OD TR, H, WO, then late (by the cut-off), missed cut-off
# (absent, or in after it: never counted late as well), early leaving (no shift end here: never).
EXPECTED_MORE = {
    "A1": (0, 0, 0, 0, 0, 0, 1, 4, 2, 1, 0),
    "A2": (0, 0, 0, 0, 0, 0, 1, 4, 0, 2, 0),
    "A3": (0, 0, 0, 0, 0, 0, 1, 4, 0, 4, 0),
}
EXPECTED_EXCEPTIONS = [
    (2, "A1", "late", "in 10:20"),
    (2, "A3", "missing", "no punch by the cut-off"),
    (3, "A1", "flagged", "clock_skew"),
    (3, "A3", "missing", "no punch by the cut-off"),
    (4, "A1", "flagged", "clock_skew"),
    (7, "A2", "off_site", f"DIST 09:40: {REASON}; DIST 17:50: {REASON}"),
    (8, "A2", "flagged", "liveness_unchecked"),
    (9, "A1", "late", "in 10:05"),
    (9, "A2", "flagged", "liveness_failed"),
    (10, "A3", "missing", "in 12:15"),  # after the cut-off: missing, not late as well
    (13, "A3", "missing", "in 13:00"),
    (15, "A2", "flagged", "low_margin"),
    (20, "A1", "missing", "no punch by the cut-off"),
    (21, "A2", "missing", "no punch by the cut-off"),
    (22, "A2", "missing", "no punch by the cut-off"),
]


def punch_row(employee_id: str, day: date, hhmm: str, ahead_s: int = -3, **over) -> PunchRecord:
    ts = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=IST)
    fields = dict(id=str(uuid.uuid4()), device_id="kiosk-1", site_id="HQ", employee_id=employee_id, device_ts=ts,
                  device_utc_offset_min=330, received_at=ts - timedelta(seconds=ahead_s), method="face", distance=0.4,
                  margin=0.2, gallery_version=1, liveness_passed=True, liveness_score=0.9, seq=0, payload="{}")
    fields.update(over)
    if fields["site_id"] == "DIST":
        fields["reason"] = REASON
    return PunchRecord(**fields)


def month_punches() -> list[PunchRecord]:
    rows = []
    for employee_id in ("A1", "A2", "A3", "B1"):
        for n in range(1, 31):
            day = date(2026, 4, n)
            routine = [("09:40", {}), ("17:50", {})] if day.weekday() != 6 and day != HOLIDAY else []
            for hhmm, over in SPECIAL.get(employee_id, {}).get(n, routine):
                rows.append(punch_row(employee_id, day, hhmm, **over))
    return rows + [punch_row(e, d, t) for e, d, t in OUTSIDE]


@pytest.fixture
def sessions(any_engine):
    factory = make_session_factory(any_engine)
    with factory.begin() as s:
        s.add_all([OrgUnit(unit_id="DEPT", name="Department", kind="department"),
                   Site(site_id="DIST", name="District")])
        s.flush()
        s.add_all([OrgUnit(unit_id="OFF-A", name="Office A", parent_id="DEPT"),
                   OrgUnit(unit_id="OFF-B", name="Office B", parent_id="DEPT"), Ddo(ddo_id="DDO-1", name="Pay 1"),
                   Ddo(ddo_id="DDO-2", name="Pay 2")])
        s.flush()
        s.add(Site(site_id="HQ", name="Head office", unit_id="OFF-A", timezone="Asia/Kolkata", shift_start=time(10),
                   cutoff=time(12), min_gap_min=30, half_day_hours=4.0))
        s.flush()
        for employee_id, unit_id, ddo_id, active in (("A1", "OFF-A", "DDO-1", True), ("A2", "OFF-A", "DDO-1", True),
                                                     ("A3", "OFF-A", "DDO-1", True), ("A4", "OFF-A", "DDO-1", False),
                                                     ("B1", "OFF-B", "DDO-2", True)):
            s.add(Employee(employee_id=employee_id, name=f"Name {employee_id} नाम", home_site_id="HQ", unit_id=unit_id,
                           ddo_id=ddo_id, active=active))
        s.flush()
        s.add_all(month_punches())
    return factory


def ctx(now: datetime = AFTER, visible: set[str] | None = None) -> reports.ReportContext:
    return reports.ReportContext(CALENDAR, FlagPolicy(), now, visible)


def test_muster_roll_matches_the_hand_computed_month(sessions):
    with sessions() as s:
        roll = reports.muster_roll(s, ctx(), unit_id="OFF-A", month="2026-04")
    assert roll.days == [date(2026, 4, n) for n in range(1, 31)]
    assert {r.person.employee_id: r.codes for r in roll.rows} == {k: spelled(v) for k, v in EXPECTED_MUSTER.items()}
    totals = {r.person.employee_id: r.totals for r in roll.rows}
    assert {e: (t.present, t.late, t.half_day, t.absent, t.working_days, t.present_days)
            for e, t in totals.items()} == EXPECTED_TOTALS


def test_muster_roll_csv_reads_back(sessions):
    with sessions() as s:
        content = export.muster_csv(reports.muster_roll(s, ctx(), unit_id="OFF-A", month="2026-04"))
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["employee_id", "name", "unit_id", "category", *map(str, range(1, 31)),
                       "P", "L", "HD", "A", "CL", "EL", "ML", "CO", "OD", "TR", "H", "WO",
                       "late", "missed_cutoff", "early_leaving", "working_days", "present_days"]
    assert len(rows) == 4
    for row in rows[1:]:
        employee_id = row[0]
        assert row[1] == f"Name {employee_id} नाम"
        assert row[4:34] == spelled(EXPECTED_MUSTER[employee_id])
        p, late, hd, a, wd, days = EXPECTED_TOTALS[employee_id]
        assert row[34:] == [str(v) for v in (p, late, hd, a, *EXPECTED_MORE[employee_id], wd, days)]


def test_a_unit_report_covers_the_units_below_it_and_leavers_only_when_they_punched(sessions):
    with sessions() as s:
        roll = reports.muster_roll(s, ctx(), unit_id="DEPT", month="2026-04")
        office_b = reports.muster_roll(s, ctx(), unit_id="OFF-B", month="2026-04")
    assert [r.person.employee_id for r in roll.rows] == ["A1", "A2", "A3", "B1"]  # A4 has left, no punches
    assert [r.person.employee_id for r in office_b.rows] == ["B1"]
    assert office_b.rows[0].codes == spelled("PPPPWPPPPPPWPhPPPPWPPPPPPWPPPP")


def test_days_still_to_come_are_blank_and_count_nowhere(sessions):
    now = datetime(2026, 4, 28, 11, tzinfo=IST)  # before the cut-off on the 28th
    with sessions.begin() as s:
        s.execute(delete(PunchRecord).where(PunchRecord.device_ts > now))  # what had not happened yet
    with sessions() as s:
        roll = reports.muster_roll(s, ctx(now), unit_id="OFF-A", month="2026-04")
    a1 = next(r for r in roll.rows if r.person.employee_id == "A1")
    # The 28th is decided as far as it can be: in at 09:40 and no out yet is P, not yet H.
    assert a1.codes[26:] == ["P", "P", "", ""]
    assert a1.totals.working_days == 23


def test_payroll_days_per_ddo(sessions):
    with sessions() as s:
        roll = reports.payroll_days(s, ctx(), ddo_id="DDO-1", month="2026-04")
        content = export.payroll_csv("DDO-1", "2026-04", roll)
    assert {r.person.employee_id: r.totals.present_days for r in roll.rows} == {"A1": 23.5, "A2": 22.0, "A3": 21.5}
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["employee_id"], r["present_days"], r["ddo_id"], r["month"]) for r in rows] == [
        ("A1", "23.5", "DDO-1", "2026-04"), ("A2", "22.0", "DDO-1", "2026-04"), ("A3", "21.5", "DDO-1", "2026-04")]


def test_exceptions_of_the_month(sessions):
    with sessions() as s:
        rows = reports.exceptions_report(s, ctx(), first=date(2026, 4, 1), last=date(2026, 4, 30), unit_id="OFF-A")
        content = export.exceptions_csv(rows)
    assert [(e.day.day, e.person.employee_id, e.kind, export.exception_detail(e)) for e in rows] == EXPECTED_EXCEPTIONS
    parsed = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["date"], r["employee_id"], r["kind"]) for r in parsed] == [
        (f"2026-04-{d:02d}", e, k) for d, e, k, _ in EXPECTED_EXCEPTIONS]


def test_the_shortcuts_agree_with_the_full_verdict_on_every_day(sessions):
    """Muster roll (first and last punch only) and exceptions (only the suspicious punches read in full)
    say what judging every punch of every day says."""
    first, last = date(2026, 4, 1), date(2026, 4, 30)
    with sessions() as s:
        full = reports.judge_days(s, reports.unit_scope(s, "OFF-A", None), first, last, ctx())
        roll = reports.muster_roll(s, ctx(), unit_id="OFF-A", month="2026-04")
    calendar_days = {"H": "-", "WO": "-"}  # the muster roll says why a day is not a working day
    assert {pd.person.employee_id: [r.code for r in pd.days] for pd in full} == {
        r.person.employee_id: [calendar_days.get(c, c) for c in r.codes] for r in roll.rows}
    assert sorted((r.day.day, pd.person.employee_id, kind) for pd in full for r in pd.days for kind in r.exceptions
                  ) == [(d, e, k) for d, e, k, _ in EXPECTED_EXCEPTIONS]


def test_daily_register(sessions):
    with sessions() as s:
        register = reports.daily_register(s, ctx(), unit_id="OFF-A", day=date(2026, 4, 7))
        content = export.daily_csv(date(2026, 4, 7), register)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["employee_id"], r["status"], r["in"], r["out"], r["worked_min"], r["sites"], r["exceptions"],
             r["off_site"]) for r in rows] == [
        ("A1", "present", "09:40", "17:50", "490", "HQ", "", ""),
        ("A2", "present", "09:40", "17:50", "490", "DIST", "off_site", f"DIST 09:40: {REASON}; DIST 17:50: {REASON}"),
        ("A3", "present", "09:40", "17:50", "490", "HQ", "", ""),
    ]


@pytest.mark.parametrize(
    "first, last, expected",
    [
        (date(2026, 3, 31), date(2026, 4, 3), [("2026-03-31", "half_day", "23:55", ""),  # 23:55 IST only
                                               ("2026-04-01", "present", "00:03", "08:30"),
                                               ("2026-04-02", "absent", "", ""), ("2026-04-03", "absent", "", "")]),
        (date(2026, 4, 15), date(2026, 4, 16), [("2026-04-15", "half_day", "09:40", ""),
                                                ("2026-04-16", "present", "00:05", "09:00")]),
    ],
)
def test_employee_history_puts_punches_on_the_local_day(sessions, first, last, expected):
    with sessions() as s:
        days = reports.employee_history(s, ctx(), employee_id="A3", first=first, last=last)
        content = export.history_csv(days)
    assert [(r.day.isoformat(), r.status, r.in_at.strftime("%H:%M") if r.in_at else "",
             r.out_at.strftime("%H:%M") if r.out_at else "") for r in days] == expected
    assert [tuple(r[k] for k in ("date", "status", "in", "out"))
            for r in csv.DictReader(io.StringIO(content.decode("utf-8-sig")))] == expected


def test_scope_and_bad_input(sessions):
    with sessions() as s:
        with pytest.raises(Forbidden):
            reports.muster_roll(s, ctx(visible={"OFF-B"}), unit_id="OFF-A", month="2026-04")
        with pytest.raises(NotFound):
            reports.muster_roll(s, ctx(), unit_id="NOPE", month="2026-04")
        with pytest.raises(NotFound):
            reports.payroll_days(s, ctx(), ddo_id="NOPE", month="2026-04")
        with pytest.raises(InvalidInput, match="YYYY-MM"):
            reports.muster_roll(s, ctx(), unit_id="OFF-A", month="2026-13")
        with pytest.raises(InvalidInput, match="before it starts"):
            reports.exceptions_report(s, ctx(), first=date(2026, 4, 2), last=date(2026, 4, 1))
        with pytest.raises(InvalidInput, match="at most"):
            reports.exceptions_report(s, ctx(), first=date(2025, 1, 1), last=date(2026, 4, 1))
        visible = reports.exceptions_report(s, ctx(visible={"OFF-B"}), first=date(2026, 4, 1), last=date(2026, 4, 30))
        payroll = reports.payroll_days(s, ctx(visible={"OFF-B"}), ddo_id="DDO-1", month="2026-04")
    assert visible == []  # B1 keeps the routine: no exceptions, and OFF-A is not theirs to see
    assert payroll.rows == []


def test_attendance_settings_make_the_calendar_and_flag_thresholds():
    settings = AttendanceConfig.model_validate({
        "working_weekdays": [0, 1, 2, 3, 4], "holidays": ["2026-04-14"],
        "site_working_weekdays": {"HQ": [0, 1, 2, 3, 4, 5]}, "site_holidays": {"HQ": ["2026-04-15"]},
        "low_margin_below": 0.1,
    })
    calendar = settings.calendar()
    assert [calendar.is_working_day("HQ", date(2026, 4, d)) for d in (11, 14, 15, 16)] == [True, False, False, True]
    assert [calendar.is_working_day("DIST", date(2026, 4, d)) for d in (11, 15)] == [False, True]
    assert settings.flag_policy() == FlagPolicy(low_margin_below=0.1, clock_ahead_s=300.0)
    with pytest.raises(ValidationError, match="less than or equal to 6"):
        AttendanceConfig.model_validate({"working_weekdays": [7]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        AttendanceConfig.model_validate({"holiday": ["2026-04-14"]})


def test_epoch_seconds_refuses_a_database_it_has_no_sql_for():
    with pytest.raises(CompileError, match="SQLite, PostgreSQL"):
        select(reports.epoch_seconds(PunchRecord.device_ts)).compile(dialect=mysql.dialect())
