"""The day-code rules, night-shift frames and calendar look-ups as tables (pure functions, no database)."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.attendance import calendar, daycode, rules
from hub.attendance.daycode import CodeBook, DayFacts, DayMark, LeaveCode, day_mark, month_totals
from hub.reports.plans import window_bounds

IST = ZoneInfo("Asia/Kolkata")
P, L, HD, A, NY, NW = rules.PRESENT, rules.LATE, rules.HALF_DAY, rules.ABSENT, rules.NOT_YET, rules.NON_WORKING


@pytest.mark.parametrize(("facts", "code", "counts"), [
    (DayFacts(P), "P", (("P", 1.0),)),
    (DayFacts(L, late=True), "L", (("L", 1.0), ("late", 1.0))),
    (DayFacts(L, missing=True), "L", (("L", 1.0), ("missed_cutoff", 1.0))),
    (DayFacts(P, early=True), "P", (("P", 1.0), ("early_leaving", 1.0))),
    (DayFacts(HD), "HD", (("HD", 1.0),)),
    (DayFacts(A, missing=True), "A", (("A", 1.0), ("missed_cutoff", 1.0))),
    (DayFacts(NY), "", ()),
    (DayFacts(A, employed=False), "", ()),                     # before joining / after leaving: never absent
    (DayFacts(P, employed=False, holiday=True), "", ()),       # not even a holiday
    (DayFacts(NW, holiday=True), "H", (("H", 1.0),)),
    (DayFacts(P, holiday=True), "H", (("H", 1.0),)),           # punched on a holiday: still H
    (DayFacts(NW, weekly_off=True), "WO", (("WO", 1.0),)),
    (DayFacts(NW, holiday=True, weekly_off=True), "H", (("H", 1.0),)),
    (DayFacts(A, leave="CL"), "CL", (("CL", 1.0),)),
    (DayFacts(P, leave="OD"), "OD", (("OD", 1.0),)),           # punched while on duty elsewhere: OD
    (DayFacts(NW, weekly_off=True, leave="CL"), "WO", (("WO", 1.0),)),  # leave does not spend a Sunday
    (DayFacts(HD, leave="CL", half_leave=True), "CL/2", (("CL", 0.5), ("P", 0.5))),
    (DayFacts(A, leave="CL", half_leave=True, missing=True), "CL/2", (("CL", 0.5), ("A", 0.5))),
    (DayFacts(NY, leave="CL", half_leave=True), "CL/2", (("CL", 0.5),)),
    (DayFacts(A, override="R"), "R", (("R", 1.0),)),           # a regularised day plugs in here
    (DayFacts(A, employed=False, override="R"), "", ()),
])
def test_one_code_a_day(facts, code, counts):
    assert day_mark(facts) == DayMark(code, counts)


def test_month_totals_per_code():
    book = CodeBook((*daycode.BUILTIN_CODES, LeaveCode("SCL", "special casual leave", "विशेष")))
    marks = [day_mark(f) for f in (
        DayFacts(P), DayFacts(L, late=True), DayFacts(HD), DayFacts(A, missing=True), DayFacts(NW, weekly_off=True),
        DayFacts(NW, holiday=True), DayFacts(A, leave="OD"), DayFacts(A, leave="SCL"),
        DayFacts(HD, leave="CL", half_leave=True), DayFacts(A, employed=False), DayFacts(NY))]
    totals = month_totals(marks, book)
    assert dict(totals.counts) == {"P": 1.5, "L": 1, "late": 1, "HD": 1, "A": 1, "missed_cutoff": 1, "WO": 1,
                                   "H": 1, "OD": 1, "SCL": 1, "CL": 0.5}
    assert totals.present_days == 1.5 + 1 + 0.5 + 1  # P + L + HD/2 + OD (on duty)
    assert totals.working_days == 7  # P 1.5 L 1 HD 1 A 1 OD 1 SCL 1 CL 0.5
    assert book.columns() == ["P", "L", "HD", "A", "CL", "EL", "ML", "CO", "OD", "TR", "SCL", "H", "WO"]


NIGHT = rules.SiteRules("S", IST, shift_start=time(22), cutoff=time(23), shift_end=time(6))
DAY = date(2026, 4, 2)


def ist(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=IST)


def test_a_night_shift_is_one_working_day_from_the_middle_of_the_rest_before_it():
    frame = rules.day_frame(NIGHT, DAY)
    assert rules.window_start(NIGHT) == time(14)   # rest 06:00-22:00; its middle
    assert (frame.start, frame.end) == (ist(DAY, "14:00"), ist(DAY + timedelta(days=1), "14:00"))
    assert (frame.shift_start_at, frame.cutoff_at, frame.shift_end_at) == (
        ist(DAY, "22:00"), ist(DAY, "23:00"), ist(DAY + timedelta(days=1), "06:00"))
    over = datetime(2026, 5, 1, tzinfo=timezone.utc)
    result = rules.judge_day(frame, [rules.Punch(ist(DAY, "21:55"), "S"),
                                     rules.Punch(ist(DAY + timedelta(days=1), "05:30"), "S")],
                             home_site_id="S", working=True, now=over)
    assert (result.status, result.late, result.missing, result.early, result.worked_min) == (P, False, False, True, 455)


@pytest.mark.parametrize(("first", "late", "missing"), [("22:00", False, False), ("22:01", True, False),
                                                        ("23:00", True, False), ("23:01", False, True)])
def test_late_and_missed_cut_off_never_both(first, late, missing):
    frame = rules.day_frame(NIGHT, DAY)
    stamp = rules.epoch_s(ist(DAY, first))
    assert (rules.is_late(frame, stamp), rules.is_missing(frame, stamp)) == (late, missing)


@pytest.mark.parametrize(("first", "status", "late", "missing"), [
    ("22:00", P, False, False), ("22:10", P, False, False), ("22:15", P, False, False),  # within the grace
    ("22:15:01", L, True, False), ("23:00", L, True, False), ("23:01", L, False, True)])
def test_a_grace_moves_late_but_not_the_cut_off(first, status, late, missing):
    graced = rules.SiteRules("S", IST, shift_start=time(22), cutoff=time(23), shift_end=time(6), grace_min=15)
    over = datetime(2026, 5, 1, tzinfo=timezone.utc)
    result = rules.judge_day(rules.day_frame(graced, DAY), [rules.Punch(ist(DAY, first), "S"),
                                                            rules.Punch(ist(DAY + timedelta(days=1), "06:05"), "S")],
                             home_site_id="S", working=True, now=over)
    assert (result.status, result.late, result.missing) == (status, late, missing)


def test_the_morning_after_a_night_shift_stays_with_it_when_a_day_shift_follows():
    day_rules = rules.SiteRules("S", IST)
    frames = [rules.day_frame(NIGHT, DAY), rules.day_frame(day_rules, DAY + timedelta(days=1)),
              rules.day_frame(day_rules, DAY + timedelta(days=2))]
    bounds = window_bounds(frames)
    next_day = DAY + timedelta(days=1)
    # the night's out at 06:05 is the night's; the next day starts 2 h after the night's end
    assert [datetime.fromtimestamp(b, IST) for b in bounds] == [
        ist(DAY, "14:00"), ist(next_day, "08:00"), ist(next_day + timedelta(days=1), "00:00"),
        ist(next_day + timedelta(days=2), "00:00")]


def test_holidays_are_inherited_down_the_units_and_rosters_pick_the_most_specific_line():
    parents = {"STATE": None, "DIST": "STATE", "OFFICE": "DIST", "OTHER": "STATE"}
    by_unit = {None: frozenset({date(2026, 1, 26)}), "DIST": frozenset({date(2026, 3, 3)}),
               "OTHER": frozenset({date(2026, 3, 4)})}
    assert calendar.unit_chain(parents, "OFFICE") == ["OFFICE", "DIST", "STATE"]
    assert calendar.holidays_of(by_unit, calendar.unit_chain(parents, "OFFICE")) == {date(2026, 1, 26),
                                                                                     date(2026, 3, 3)}
    week = date(2026, 3, 2)  # a Monday
    lines = calendar.Rosters([
        calendar.RosterEntry(None, "DIST", None, "DAY", None),
        calendar.RosterEntry(None, "OFFICE", week, "EVENING", frozenset({6})),
        calendar.RosterEntry("E1", None, None, "NIGHT", frozenset({0})),
        calendar.RosterEntry("E1", None, week, "DAY", frozenset()),
    ])
    chain = calendar.unit_chain(parents, "OFFICE")
    assert lines.entry_for("E1", chain, date(2026, 3, 4)).shift_id == "DAY"       # own line for that week
    assert lines.entry_for("E1", chain, date(2026, 3, 10)).shift_id == "NIGHT"    # own standing line
    assert lines.entry_for("E2", chain, date(2026, 3, 8)).shift_id == "EVENING"   # the office's week (a Sunday)
    assert lines.entry_for("E2", chain, date(2026, 3, 9)).shift_id == "DAY"       # the district's standing line
    assert lines.entry_for("E3", ["OTHER", "STATE"], date(2026, 3, 9)) is None
    assert calendar.parse_weekdays("") == frozenset() and calendar.parse_weekdays(None) is None
