"""Attendance rules: what one employee's punches of one local day mean.

Pure functions over plain dataclasses (no database), so every rule is a row
in a parametrized test. The hub, not the kiosk, decides in/out (DESIGN.md,
"Attendance rules"): the first punch of the day is *in*; the last is *out*
only when it comes at least ``min_gap_min`` after *in* (a double tap at the
door is not a departure); punches in between are ignored.

A day is the local calendar day of the employee's **home** site, and that
site's shift rules judge it, wherever the employee punched: an officer on
duty at another office keeps their own shift, and the off-site punch is
reported with its reason. A rostered shift that crosses midnight (22:00-06:00)
makes the day run from the middle of the rest before the shift to the same
time next day (``window_start``), so the night is one working day dated by
its start. Times of punches are absolute (UTC-aware); the
frame of a day (its start, end, shift start and cut-off) is computed once
per site and day by ``day_frame``, so daylight-saving zones work too.

Decided only once it can no longer change: a working day with no punch is
"not yet" until the cut-off has passed (then absent, and missing); a half
day (worked less than ``half_day_hours``, or no out) is decided once the
local day is over, because someone who came in at 09:30 has no out at 11:00.
A non-working day (weekend, holiday) is "-" even when someone punched;
their in and out still show. Times are judged to the second.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo

# Flag kinds a punch can carry; the one list of them (reports and docs read it).
FLAG_KINDS: dict[str, str] = {
    "clock_skew": "the kiosk's clock was off, ahead or behind, by more than health.max_clock_skew_s, or the "
                  "punch was dated after the hub received it (flagged at intake; hub.ingest.plausibility)",
    "backdated": "dated before anything the kiosk's outbox held at its last health, yet delivered after it",
    "seq_reused": "the kiosk's seq was already stored on another punch (both are flagged)",
    "seq_gap": "the kiosk's seq skipped numbers the hub never stored",
    "low_margin": "the match was only narrowly better than the second-best person",
    "liveness_unchecked": "no liveness check was made",
    "liveness_failed": "the liveness check failed",
    "phone_marginal_match": "phone punch: the face matched within phone.marginal_match_band of the limit",
    "phone_marginal_accuracy": "phone punch: the position's accuracy was near phone.max_accuracy_m",
    "phone_marginal_position": "phone punch: the position's uncertainty reached past the site's fence",
    "phone_marginal_liveness": "phone punch: the challenge passed narrowly (a shallow blink, or on the burst's "
                               "last frames)",
    "phone_outside_network": "phone punch: sent from outside the site's office networks (sites.phone_networks)",
}

# Day statuses (one per day) and the exception kinds a day can carry.
PRESENT, LATE, HALF_DAY, ABSENT = "present", "late", "half_day", "absent"
NOT_YET, NON_WORKING = "not_yet", "non_working"
# Set by the reports, not by the punches: a day outside employment, a day of recorded leave or duty.
NOT_EMPLOYED, ON_LEAVE = "not_employed", "on_leave"
MISSING, OFF_SITE, FLAGGED, EARLY = "missing", "off_site", "flagged", "early"
EXCEPTION_KINDS = (LATE, MISSING, EARLY, OFF_SITE, FLAGGED)
REGULARISED = "regularised"  # an approved correction (hub.attendance.regularisation): counted as present

# Muster roll code of each status the punches decide ("" = not decided yet). The muster roll itself
# says more (holiday, weekly off, leave codes): ``hub.attendance.daycode``.
MUSTER_CODES: dict[str, str] = {
    PRESENT: "P", LATE: "L", HALF_DAY: "HD", ABSENT: "A", NON_WORKING: "-", NOT_YET: "", NOT_EMPLOYED: "",
    ON_LEAVE: "", REGULARISED: "R",
}

MON_TO_SAT = frozenset(range(6))  # date.weekday(): Monday = 0; most Indian government offices


@dataclass(frozen=True)
class SiteRules:
    """The shift rules of one site (from ``sites``) or of one rostered shift, with the site's time zone.

    ``shift_end`` (None: the site's default shift has no end) makes early leaving
    computable. A shift that ends at or before its start crosses midnight
    (22:00-06:00): it is ONE working day, dated by its start.
    """

    site_id: str
    tz: tzinfo
    shift_start: time = time(10, 0)
    cutoff: time = time(12, 0)
    min_gap_min: int = 30
    half_day_hours: float = 4.0
    shift_end: time | None = None
    grace_min: int = 0  # a rostered shift's: minutes after the start a punch-in is still on time

    @property
    def crosses_midnight(self) -> bool:
        return self.shift_end is not None and self.shift_end <= self.shift_start


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days: weekdays plus holidays, globally or per site.

    A site listed in ``site_weekdays`` uses those weekdays instead of the
    global ones; its ``site_holidays`` add to the global holidays.
    """

    weekdays: frozenset[int] = MON_TO_SAT
    holidays: frozenset[date] = frozenset()
    site_weekdays: Mapping[str, frozenset[int]] = field(default_factory=dict)
    site_holidays: Mapping[str, frozenset[date]] = field(default_factory=dict)

    def is_working_day(self, site_id: str, day: date) -> bool:
        return not self.is_weekly_off(site_id, day) and not self.is_holiday(site_id, day)

    def is_weekly_off(self, site_id: str, day: date) -> bool:
        return day.weekday() not in self.site_weekdays.get(site_id, self.weekdays)

    def is_holiday(self, site_id: str, day: date) -> bool:
        return day in self.holidays or day in self.site_holidays.get(site_id, frozenset())


@dataclass(frozen=True)
class FlagPolicy:
    """Thresholds that turn a stored punch's numbers into flags."""

    low_margin_below: float = 0.08  # kiosks refuse under 0.05 (matcher min_margin): this flags the near misses
    clock_ahead_s: float = 300.0


def punch_flags(
    *, stored: str | None, margin: float | None, liveness_passed: bool | None, ahead_s: float, policy: FlagPolicy
) -> tuple[str, ...]:
    """The flags of one punch: those stored at intake (comma-separated, kept even
    when unknown here, so nothing is lost) plus those its numbers imply.

    ``ahead_s`` is the punch's device time minus the hub's receive time. Clock
    skew shows only one way in a single punch, as a device time in the hub's
    future: a punch received long *after* its device time is normal (a kiosk
    that was offline sends its backlog).
    """
    kinds = [k.strip() for k in stored.split(",") if k.strip()] if stored else []
    if margin is not None and margin < policy.low_margin_below:
        kinds.append("low_margin")
    if liveness_passed is None:
        kinds.append("liveness_unchecked")
    elif not liveness_passed:
        kinds.append("liveness_failed")
    if ahead_s > policy.clock_ahead_s:
        kinds.append("clock_skew")
    return tuple(dict.fromkeys(kinds))


@dataclass(frozen=True, slots=True)
class Punch:
    """One punch as the rules see it; ``ts`` is timezone-aware."""

    ts: datetime
    site_id: str
    reason: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DayFrame:
    """One local day of one site as absolute times: aware datetimes (in the site's
    zone) for display, and epoch seconds for the many comparisons of a report."""

    day: date
    rules: SiteRules
    start: datetime
    end: datetime
    shift_start_at: datetime
    cutoff_at: datetime
    shift_end_at: datetime | None = None

    start_s: int = field(init=False)
    end_s: int = field(init=False)
    shift_s: int = field(init=False)
    late_s: int = field(init=False)
    cutoff_s: int = field(init=False)
    shift_end_s: int | None = field(init=False)
    min_gap_s: int = field(init=False)
    full_day_s: float = field(init=False)

    def __post_init__(self) -> None:
        for name, value in (("start_s", self.start), ("end_s", self.end), ("shift_s", self.shift_start_at),
                            ("cutoff_s", self.cutoff_at)):
            object.__setattr__(self, name, int(value.timestamp()))
        object.__setattr__(self, "late_s", self.shift_s + self.rules.grace_min * 60)  # in after this: late
        object.__setattr__(self, "shift_end_s",
                           None if self.shift_end_at is None else int(self.shift_end_at.timestamp()))
        object.__setattr__(self, "min_gap_s", self.rules.min_gap_min * 60)
        # Shorter than this from in to last punch: half day (no out, or out too early).
        object.__setattr__(self, "full_day_s", max(self.rules.min_gap_min * 60, self.rules.half_day_hours * 3600))


def window_start(rules: SiteRules) -> time:
    """Wall time at which a working day's punches start to count.

    Midnight for a shift within the calendar day. A shift that crosses
    midnight owns the 24 hours from the middle of the rest before it: for
    22:00-06:00 that is 14:00 to 14:00 the next day, so the 05:55 punch-out
    belongs to the shift that started the evening before.
    """
    if not rules.crosses_midnight or rules.shift_end is None:
        return time(0)
    start_min = rules.shift_start.hour * 60 + rules.shift_start.minute
    end_min = rules.shift_end.hour * 60 + rules.shift_end.minute
    rest_min = (start_min - end_min) % (24 * 60)
    opens = max(0, start_min - rest_min // 2)
    return time(opens // 60, opens % 60)


def day_frame(rules: SiteRules, day: date) -> DayFrame:
    def at(t: time, d: date = day) -> datetime:
        # Through UTC, so a wall time that does not exist (DST gap) still lands somewhere sensible.
        return datetime.combine(d, t, tzinfo=rules.tz).astimezone(rules.tz)

    def after_start(t: time) -> datetime:
        """``t`` on the shift's day, or on the next day when it comes before the shift's start."""
        return at(t, day + timedelta(days=1)) if t < rules.shift_start else at(t)

    opens = window_start(rules)
    return DayFrame(day, rules, at(opens), at(opens, day + timedelta(days=1)), at(rules.shift_start),
                    after_start(rules.cutoff), None if rules.shift_end is None else after_start(rules.shift_end))


def epoch_s(ts: datetime) -> int:
    """Whole seconds since the epoch: every rule compares to the second (as the database reports do)."""
    return math.floor(ts.timestamp())


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def came_after_start(frame: DayFrame, first_s: int) -> bool:
    """The first punch came after the shift's start and its grace (the day's code is then L, late)."""
    return first_s > frame.late_s


def is_late(frame: DayFrame, first_s: int) -> bool:
    """Late: in after the shift's start and its grace, but by the cut-off. A first punch after the
    cut-off is *missing* instead, never both, so one late arrival is never read as two offences."""
    return frame.late_s < first_s <= frame.cutoff_s


def is_missing(frame: DayFrame, first_s: int) -> bool:
    """No punch by the cut-off: the first punch came after it."""
    return first_s > frame.cutoff_s


def is_early(frame: DayFrame, first_s: int, last_s: int) -> bool:
    """Left early: the out (a last punch at least ``min_gap`` after in) came before the shift's end.
    Shifts without an end (a site's default shift) never judge early leaving."""
    return frame.shift_end_s is not None and last_s - first_s >= frame.min_gap_s and last_s < frame.shift_end_s


def span_status(frame: DayFrame, first_s: int | None, last_s: int | None, *, working: bool, now_s: int) -> str:
    """The day's status from its first and last punch alone (epoch seconds; None: no punch).

    In/out and the status depend on nothing else, so the muster roll calls
    this with the first and last punch of each day and nothing more.
    """
    if not working:
        return NON_WORKING
    if first_s is None or last_s is None:
        return NOT_YET if now_s < frame.cutoff_s else ABSENT
    if now_s >= frame.end_s and last_s - first_s < frame.full_day_s:
        return HALF_DAY
    return LATE if came_after_start(frame, first_s) else PRESENT


@dataclass(frozen=True)
class DayResult:
    """The verdict on one employee's day; times are local to the home site."""

    day: date
    status: str
    in_at: datetime | None = None
    out_at: datetime | None = None
    late: bool = False
    missing: bool = False
    off_site: tuple[Punch, ...] = ()
    flagged: tuple[Punch, ...] = ()
    sites: tuple[str, ...] = ()
    early: bool = False

    @property
    def code(self) -> str:
        return MUSTER_CODES[self.status]

    @property
    def worked_min(self) -> int | None:
        if self.in_at is None or self.out_at is None:
            return None
        # Through timestamps: datetimes sharing a zone subtract as wall times, wrong across a DST change.
        return int((self.out_at.timestamp() - self.in_at.timestamp()) // 60)

    @property
    def exceptions(self) -> tuple[str, ...]:
        present = {LATE: self.late, MISSING: self.missing, EARLY: self.early, OFF_SITE: bool(self.off_site),
                   FLAGGED: bool(self.flagged)}
        return tuple(kind for kind in EXCEPTION_KINDS if present[kind])


def judge_span(
    frame: DayFrame, first: datetime | None, last: datetime | None, *, working: bool, now: datetime
) -> DayResult:
    """In/out, status, late and missing from the first and last punch (None, None: no punch)."""
    first_s = epoch_s(first) if first is not None else None
    last_s = epoch_s(last) if last is not None else None
    status = span_status(frame, first_s, last_s, working=working, now_s=epoch_s(now))
    if first is None or last is None or first_s is None or last_s is None:
        return DayResult(frame.day, status, missing=status == ABSENT)
    tz = frame.rules.tz
    out_at = last.astimezone(tz) if last_s - first_s >= frame.min_gap_s else None
    day_over = epoch_s(now) >= frame.end_s  # an early out is known only once no later punch can come
    return DayResult(frame.day, status, first.astimezone(tz), out_at,
                     late=working and is_late(frame, first_s), missing=working and is_missing(frame, first_s),
                     early=working and day_over and is_early(frame, first_s, last_s))


def with_punches(result: DayResult, punches: Iterable[Punch], home_site_id: str) -> DayResult:
    """``result`` with the off-site and the flagged ones among ``punches``, and the sites punched at."""
    ordered = sorted(punches, key=lambda p: p.ts)
    return replace(
        result,
        off_site=tuple(p for p in ordered if p.site_id != home_site_id),
        flagged=tuple(p for p in ordered if p.flags),
        sites=tuple(dict.fromkeys(p.site_id for p in ordered)),
    )


def judge_day(
    frame: DayFrame, punches: Iterable[Punch], *, home_site_id: str, working: bool, now: datetime
) -> DayResult:
    """The whole verdict on one day: in/out and status, plus off-site punches and flagged ones."""
    punches = list(punches)
    first = min((p.ts for p in punches), default=None)
    last = max((p.ts for p in punches), default=None)
    return with_punches(judge_span(frame, first, last, working=working, now=now), punches, home_site_id)
