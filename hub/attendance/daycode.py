"""The muster roll's one code per day, from the day's facts, and the month's totals per code.

``day_mark`` is the one place that decides what a day shows, as a pure
function of ``DayFacts`` (employment, holiday, weekly off, recorded leave or
duty, what the punches say). Precedence, first match wins:

1. outside employment (before joining, after leaving): blank, counted nowhere;
2. ``override``: a code decided elsewhere plugs in here and wins over
   everything but employment. An approved regularisation
   (``hub.attendance.regularisation``) of a day the punches left absent, half,
   late or undecided gives R: shown as its own code, counted as present (in
   P, and apart under R);
3. a holiday of the employee's unit (or a unit above it): H;
4. a weekly off of their roster: WO;
5. recorded leave or duty for the whole day: its code (CL, OD, ...);
6. leave for half the day: ``CL/2``: half a day of CL, and the other half
   present if they punched, absent if not;
7. the punches: P, L (late), HD (half day), A, or blank while not decided.

A holiday or weekly off wins over leave recorded across it, so a week of
casual leave does not spend CL on its Sunday.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub.attendance import rules

HOLIDAY, WEEKLY_OFF = "H", "WO"
PRESENT, LATE, HALF_DAY, ABSENT = "P", "L", "HD", "A"
REGULARISED = "R"  # an approved regularisation: counted as present
HALF_SUFFIX = "/2"


@dataclass(frozen=True)
class LeaveCode:
    """A leave or duty code; ``on_duty`` codes (tour, training) count as days present."""

    code: str
    en: str
    hi: str
    on_duty: bool = False


BUILTIN_CODES: tuple[LeaveCode, ...] = (
    LeaveCode("CL", "casual leave", "आकस्मिक अवकाश"),
    LeaveCode("EL", "earned leave", "अर्जित अवकाश"),
    LeaveCode("ML", "medical leave", "चिकित्सा अवकाश"),
    LeaveCode("CO", "compensatory off (comp-off)", "प्रतिकर अवकाश"),
    LeaveCode("OD", "on duty elsewhere or on tour", "अन्यत्र ड्यूटी / दौरा", on_duty=True),
    LeaveCode("TR", "training", "प्रशिक्षण", on_duty=True),
)

# Codes the punches and the calendar decide; a leave code may not reuse one.
RESERVED = frozenset({HOLIDAY, WEEKLY_OFF, PRESENT, LATE, HALF_DAY, ABSENT, REGULARISED})

# (code, English, Hindi) of the codes that are not leave codes, for the legend.
FIXED_LEGEND: tuple[tuple[str, str, str], ...] = (
    (PRESENT, "present: in by the shift's start", "उपस्थित: पाली के आरंभ तक"),
    (LATE, "late: present, but the first punch came after the shift's start; counted once per day, as "
           "'late' when by the cut-off and as 'missed cut-off' when after it, never as both",
     "विलंब: उपस्थित, पर पहला पंच पाली के आरंभ के बाद; दिन में एक ही बार गिना जाता है"),
    (HALF_DAY, "half day: worked less than the site's half-day hours, or no out punch",
     "आधा दिन: आधे दिन के घंटों से कम काम, या बाहर का पंच नहीं"),
    (ABSENT, "absent: no punch by the cut-off on a working day", "अनुपस्थित: कार्य दिवस पर कट-ऑफ तक कोई पंच नहीं"),
    (REGULARISED, "regularised: an approved correction of the day; counted as present (in P)",
     "नियमितीकृत: दिन का स्वीकृत सुधार; उपस्थित गिना जाता है (P में)"),
    (HOLIDAY, "holiday of the unit's calendar (national, state or local)", "अवकाश दिवस (राष्ट्रीय, राज्य या स्थानीय)"),
    (WEEKLY_OFF, "weekly off of the roster", "साप्ताहिक अवकाश"),
    ("X" + HALF_SUFFIX, "half a day of leave code X; the other half present or absent by the punches",
     "कोड X का आधा दिन का अवकाश; शेष आधा दिन पंच के अनुसार"),
    ("", "outside the employment dates (before joining, after leaving), or not decided yet",
     "सेवा अवधि के बाहर (कार्यग्रहण से पहले, सेवा छोड़ने के बाद), या अभी तय नहीं"),
)

# What the exception counts mean (each a separate column; a day is in at most one of late / missed cut-off).
COUNT_LEGEND: tuple[tuple[str, str, str], ...] = (
    ("late", "first punch after the shift's start and by the cut-off", "पाली आरंभ के बाद, कट-ऑफ तक पहला पंच"),
    ("missed_cutoff", "no punch by the cut-off: absent, or first punch after it", "कट-ऑफ तक कोई पंच नहीं"),
    ("early_leaving", "out punch before the shift's end (shifts with an end time)", "पाली समाप्ति से पहले बाहर"),
)


@dataclass(frozen=True)
class CodeBook:
    """The leave and duty codes in force: the built-in ones and a department's own (configuration)."""

    codes: tuple[LeaveCode, ...] = BUILTIN_CODES
    by_code: Mapping[str, LeaveCode] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", {c.code: c for c in self.codes})

    def legend(self) -> list[tuple[str, str, str]]:
        """(code, English, Hindi) for every code a muster roll may show."""
        return [*FIXED_LEGEND[:7], *((c.code, c.en, c.hi) for c in self.codes), *FIXED_LEGEND[7:]]

    def columns(self) -> list[str]:
        """The per-code total columns, in a fixed order."""
        return [PRESENT, LATE, HALF_DAY, ABSENT, *(c.code for c in self.codes), HOLIDAY, WEEKLY_OFF]


@dataclass(frozen=True, slots=True)
class DayFacts:
    """Everything that decides one employee's day on the muster roll."""

    status: str  # from the punches: rules.PRESENT, LATE, HALF_DAY, ABSENT, NOT_YET or NON_WORKING
    employed: bool = True
    holiday: bool = False
    weekly_off: bool = False
    leave: str | None = None  # a leave or duty code recorded for this day
    half_leave: bool = False
    override: str | None = None  # a code decided elsewhere (regularisation); wins over all but employment
    late: bool = False  # exception marks from the punches (counted, not shown as codes)
    missing: bool = False
    early: bool = False


@dataclass(frozen=True, slots=True)
class DayMark:
    """The code one day shows and what it adds to each total (a half-day leave adds halves)."""

    code: str
    counts: tuple[tuple[str, float], ...] = ()


BLANK = DayMark("")
_BY_STATUS = {rules.PRESENT: PRESENT, rules.LATE: LATE, rules.HALF_DAY: HALF_DAY, rules.ABSENT: ABSENT}


def day_mark(facts: DayFacts) -> DayMark:
    """The day's code and counts (see the module's precedence)."""
    if not facts.employed:
        return BLANK
    if facts.override is not None:
        return DayMark(facts.override, ((facts.override, 1.0),))
    if facts.holiday:
        return DayMark(HOLIDAY, ((HOLIDAY, 1.0),))
    if facts.weekly_off:
        return DayMark(WEEKLY_OFF, ((WEEKLY_OFF, 1.0),))
    if facts.leave is not None and not facts.half_leave:
        return DayMark(facts.leave, ((facts.leave, 1.0),))
    punched = _BY_STATUS.get(facts.status)
    if facts.leave is not None:
        other = () if punched is None else ((ABSENT if punched == ABSENT else PRESENT, 0.5),)
        return DayMark(facts.leave + HALF_SUFFIX, ((facts.leave, 0.5), *other))
    if punched is None:  # not yet decided; a non-working day the calendar did not explain
        return BLANK if facts.status != rules.NON_WORKING else DayMark("-")
    marks = (("late", 1.0),) if facts.late else ()
    marks += (("missed_cutoff", 1.0),) if facts.missing else ()
    marks += (("early_leaving", 1.0),) if facts.early else ()
    return DayMark(punched, ((punched, 1.0), *marks))


@dataclass(frozen=True)
class MonthTotals:
    """A muster roll row's totals.

    ``present_days``: P (regularised days R included) + L + half of HD + on-duty codes (OD, TR) + the present
    halves of half-day leave. ``working_days``: decided days that were neither
    holiday nor weekly off, inside employment (leave days included).
    """

    counts: Mapping[str, float]
    present_days: float
    working_days: float

    def __getitem__(self, key: str) -> float:
        return self.counts.get(key, 0)

    @property
    def present(self) -> float:
        return self[PRESENT]

    @property
    def late(self) -> float:
        return self[LATE]

    @property
    def half_day(self) -> float:
        return self[HALF_DAY]

    @property
    def absent(self) -> float:
        return self[ABSENT]

    @property
    def regularised(self) -> float:
        """Approved corrections (R), already counted in ``present``."""
        return self[REGULARISED]


def month_totals(marks: Iterable[DayMark], book: CodeBook) -> MonthTotals:
    counts: Counter[str] = Counter()
    for mark in marks:
        for key, amount in mark.counts:
            counts[key] += amount
    counts[PRESENT] += counts[REGULARISED]  # R is its own code and counts as present: in P too (R apart)
    on_duty = sum(counts[c.code] for c in book.codes if c.on_duty)
    leave = sum(counts[c.code] for c in book.codes if not c.on_duty)
    present_days = float(counts[PRESENT] + counts[LATE] + 0.5 * counts[HALF_DAY] + on_duty)
    working = counts[PRESENT] + counts[LATE] + counts[HALF_DAY] + counts[ABSENT] + on_duty + leave
    return MonthTotals({k: _whole(v) for k, v in counts.items()}, present_days, _whole(working))


def _whole(value: float) -> float:
    """1.0 as 1, so whole day counts print as whole numbers; halves stay 0.5."""
    return int(value) if float(value).is_integer() else value
