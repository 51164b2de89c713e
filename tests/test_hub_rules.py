"""The attendance rules as tables: one employee's day under a site's shift rules.

Site: Asia/Kolkata, shift from 10:00, cut-off 12:00, out at least 30 min after
in, half day under 4 h. Wednesday 18 March 2026 unless a row says otherwise.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.attendance import rules
from hub.attendance.rules import (
    ABSENT,
    FLAG_KINDS,
    HALF_DAY,
    LATE,
    NON_WORKING,
    NOT_YET,
    PRESENT,
    FlagPolicy,
    Punch,
    SiteRules,
    WorkCalendar,
)

IST = ZoneInfo("Asia/Kolkata")
HOME = SiteRules("HOME", IST, shift_start=time(10), cutoff=time(12), min_gap_min=30, half_day_hours=4)
DAY = date(2026, 3, 18)  # a Wednesday
LATER = datetime(2026, 4, 1, tzinfo=timezone.utc)  # the day is long over


def at(hhmmss: str, day: date = DAY, tz=IST) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmmss), tzinfo=tz)


def judge(times: list[str], *, now: datetime = LATER, working: bool = True, day: date = DAY,
          site: SiteRules = HOME) -> rules.DayResult:
    punches = [Punch(at(t, day, site.tz).astimezone(timezone.utc), site.site_id) for t in times]
    return rules.judge_day(rules.day_frame(site, day), punches, home_site_id=site.site_id, working=working, now=now)


@pytest.mark.parametrize(
    "times, status, in_at, out_at, late, missing",
    [
        ([], ABSENT, None, None, False, True),
        (["09:30", "17:45"], PRESENT, "09:30", "17:45", False, False),
        (["10:00:00", "18:00"], PRESENT, "10:00", "18:00", False, False),   # on the dot is not late
        (["10:00:01", "18:00"], LATE, "10:00", "18:00", True, False),
        (["10:45", "18:00"], LATE, "10:45", "18:00", True, False),
        (["12:00:00", "18:00"], LATE, "12:00", "18:00", True, False),       # by the cut-off, just
        # After the cut-off: missing, and not late too (one offence, one mark); still L on the muster roll.
        (["12:30", "18:00"], LATE, "12:30", "18:00", False, True),          # 5.5 h: not a half day
        (["12:30", "15:00"], HALF_DAY, "12:30", "15:00", False, True),
        (["09:30"], HALF_DAY, "09:30", None, False, False),                 # no out
        (["09:30", "09:50"], HALF_DAY, "09:30", None, False, False),        # 20 min: a double tap, not an out
        (["09:30", "10:00"], HALF_DAY, "09:30", "10:00", False, False),     # 30 min: an out, but short
        (["09:30", "13:29"], HALF_DAY, "09:30", "13:29", False, False),
        (["09:30", "13:30"], PRESENT, "09:30", "13:30", False, False),      # exactly 4 h
        (["09:30", "12:00", "13:00", "13:29"], HALF_DAY, "09:30", "13:29", False, False),  # middle ignored
        (["09:30", "11:00", "17:30"], PRESENT, "09:30", "17:30", False, False),
        (["17:45", "09:30", "13:00"], PRESENT, "09:30", "17:45", False, False),  # order of arrival irrelevant
    ],
)
def test_a_day_of_punches(times, status, in_at, out_at, late, missing):
    result = judge(times)
    assert result.status == status
    assert (result.in_at.strftime("%H:%M") if result.in_at else None) == in_at
    assert (result.out_at.strftime("%H:%M") if result.out_at else None) == out_at
    assert (result.late, result.missing) == (late, missing)
    assert result.in_at is None or result.in_at.utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    "times, now_local, status, code",
    [
        ([], "11:59", NOT_YET, ""),          # before the cut-off nobody is missing yet
        ([], "12:00", ABSENT, "A"),
        ([], "16:00", ABSENT, "A"),
        (["09:30"], "11:00", PRESENT, "P"),  # at work, no out yet: not a half day yet
        (["10:30"], "11:00", LATE, "L"),
        (["09:30", "11:00"], "11:30", PRESENT, "P"),  # went out for an errand; the day is not over
        (["09:30"], "23:59:59", PRESENT, "P"),
        (["09:30"], "next 00:00", HALF_DAY, "HD"),
    ],
)
def test_today_is_decided_only_as_far_as_it_can_be(times, now_local, status, code):
    now = at("00:00", DAY + timedelta(days=1)) if now_local == "next 00:00" else at(now_local)
    result = judge(times, now=now)
    assert (result.status, result.code) == (status, code)


def test_a_working_day_after_today_is_not_yet():
    assert judge([], now=at("09:00", DAY - timedelta(days=3))).status == NOT_YET


@pytest.mark.parametrize("times", [[], ["09:30", "17:30"], ["13:00"]])
def test_a_non_working_day_is_never_late_absent_or_half(times):
    result = judge(times, working=False)
    assert (result.status, result.code, result.late, result.missing) == (NON_WORKING, "-", False, False)
    assert result.exceptions == ()


def test_punches_on_a_non_working_day_still_show_in_and_out():
    result = judge(["09:30", "13:00"], working=False)
    assert (result.in_at.strftime("%H:%M"), result.out_at.strftime("%H:%M")) == ("09:30", "13:00")


def test_a_punch_just_after_midnight_ist_is_the_previous_day_in_utc_but_lands_on_the_local_day():
    punch = at("00:05")                                   # 18 March, 00:05 IST
    assert punch.astimezone(timezone.utc).date() == date(2026, 3, 17)
    frame = rules.day_frame(HOME, DAY)
    assert frame.start <= punch < frame.end
    assert not (rules.day_frame(HOME, DAY - timedelta(days=1)).end > punch)
    assert frame.start.astimezone(timezone.utc) == datetime(2026, 3, 17, 18, 30, tzinfo=timezone.utc)
    result = judge(["00:05", "09:00"])
    assert (result.status, result.in_at.strftime("%d %H:%M")) == (PRESENT, "18 00:05")


def test_a_day_in_a_zone_with_daylight_saving_has_its_real_length():
    london = SiteRules("LON", ZoneInfo("Europe/London"), shift_start=time(10), cutoff=time(12))
    spring = date(2026, 3, 29)  # clocks go forward at 01:00 GMT
    frame = rules.day_frame(london, spring)
    assert frame.end_s - frame.start_s == 23 * 3600
    assert frame.shift_start_at.astimezone(timezone.utc).hour == 9  # 10:00 BST
    assert judge(["10:30", "17:00"], site=london, day=spring).status == LATE
    assert judge(["09:59", "17:00"], site=london, day=spring).status == PRESENT
    assert judge(["00:30", "09:00"], site=london, day=spring).worked_min == 7 * 60 + 30  # one hour never was


def test_off_site_and_flagged_punches_are_kept_with_their_reason_and_flags():
    frame = rules.day_frame(HOME, DAY)
    punches = [
        Punch(at("09:40"), "DISTRICT", "training at the district office"),
        Punch(at("13:00"), "HOME", flags=("low_margin",)),
        Punch(at("17:50"), "HOME"),
    ]
    result = rules.judge_day(frame, punches, home_site_id="HOME", working=True, now=LATER)
    assert result.status == PRESENT
    assert [(p.site_id, p.reason) for p in result.off_site] == [("DISTRICT", "training at the district office")]
    assert [p.flags for p in result.flagged] == [("low_margin",)]
    assert result.sites == ("DISTRICT", "HOME")
    assert result.exceptions == ("off_site", "flagged")


@pytest.mark.parametrize(
    "stored, margin, liveness, ahead_s, expected",
    [
        (None, 0.2, True, -2, ()),
        ("", 0.2, True, -2, ()),
        ("clock_skew", 0.2, True, -2, ("clock_skew",)),
        (None, 0.05, True, -2, ("low_margin",)),
        (None, 0.08, True, -2, ()),                     # at the threshold: not low
        (None, None, True, -2, ()),                     # one-person gallery: no runner-up, no margin
        (None, 0.2, None, -2, ("liveness_unchecked",)),
        (None, 0.2, False, -2, ("liveness_failed",)),
        (None, 0.2, True, 301, ("clock_skew",)),        # dated in the hub's future
        (None, 0.2, True, 300, ()),
        (None, 0.2, True, -86_400, ()),                 # a day-old backlog from an offline kiosk is normal
        ("clock_skew", 0.2, True, 400, ("clock_skew",)),
        (" low_margin , ", 0.01, True, 0, ("low_margin",)),
        ("new_kind", 0.2, True, 0, ("new_kind",)),      # unknown stored flags are kept, not lost
        (None, 0.01, False, 999, ("low_margin", "liveness_failed", "clock_skew")),
    ],
)
def test_punch_flags(stored, margin, liveness, ahead_s, expected):
    flags = rules.punch_flags(stored=stored, margin=margin, liveness_passed=liveness, ahead_s=ahead_s,
                              policy=FlagPolicy(low_margin_below=0.08, clock_ahead_s=300))
    assert flags == expected
    assert set(flags) - {"new_kind"} <= set(FLAG_KINDS)


@pytest.mark.parametrize(
    "site_id, day, working",
    [
        ("HOME", date(2026, 3, 16), True),    # Monday
        ("HOME", date(2026, 3, 21), True),    # Saturday: a working day by default
        ("HOME", date(2026, 3, 22), False),   # Sunday
        ("HOME", date(2026, 3, 4), False),    # a holiday everywhere
        ("HOME", date(2026, 3, 20), False),   # a holiday at HOME only
        ("ANNEX", date(2026, 3, 20), True),
        ("ANNEX", date(2026, 3, 21), False),  # ANNEX works Monday to Friday
        ("ANNEX", date(2026, 3, 4), False),
    ],
)
def test_working_days(site_id, day, working):
    calendar = WorkCalendar(
        holidays=frozenset({date(2026, 3, 4)}),
        site_weekdays={"ANNEX": frozenset(range(5))},
        site_holidays={"HOME": frozenset({date(2026, 3, 20)})},
    )
    assert calendar.is_working_day(site_id, day) is working




def test_span_status_agrees_with_judge_day():
    """The muster roll's shortcut (epoch seconds) and the full verdict are the same rule."""
    frame = rules.day_frame(HOME, DAY)
    for times in (["09:30", "17:45"], ["10:00:01", "18:00"], ["12:30", "15:00"], ["09:30"], ["09:30", "09:50"]):
        stamps = [rules.epoch_s(at(t)) for t in times]
        fast = rules.span_status(frame, min(stamps), max(stamps), working=True, now_s=rules.epoch_s(LATER))
        assert fast == judge(times).status, times
