"""Whose holidays and whose roster apply to an employee's day: pure look-ups over loaded rows.

Holidays: a holiday with no unit is national (everyone); one on a unit
covers that unit and every unit below it, so a district's local holiday is
inherited by its offices, and a state's by every district.

Rosters: an entry names either one employee or one unit (a group: everyone
in that unit and below), for one week (``week_start``, a Monday) or standing
(no week). For an employee's day the most specific entry wins: their own
for that week, their own standing one, then their unit's (nearest unit
first) for that week, then standing. It gives the shift worked and the
weekly offs; without any entry the home site's default shift and the
configured working weekdays apply.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta


def unit_chain(parents: Mapping[str, str | None], unit_id: str | None) -> list[str]:
    """``unit_id`` and every unit above it, nearest first (a loop in the data stops the walk)."""
    chain: list[str] = []
    while unit_id is not None and unit_id not in chain:
        chain.append(unit_id)
        unit_id = parents.get(unit_id)
    return chain


def holidays_of(by_unit: Mapping[str | None, frozenset[date]], chain: Iterable[str]) -> frozenset[date]:
    """The national holidays (unit None) and those of every unit in ``chain``."""
    days = set(by_unit.get(None, frozenset()))
    for unit_id in chain:
        days |= by_unit.get(unit_id, frozenset())
    return frozenset(days)


def week_of(day: date) -> date:
    """The Monday that starts ``day``'s week (rosters are by week)."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One roster line: the shift (None: the site's default) and weekly offs (None: the calendar's)."""

    employee_id: str | None
    unit_id: str | None
    week_start: date | None
    shift_id: str | None
    weekly_off: frozenset[int] | None


class Rosters:
    """Roster entries indexed for the per-day look-up of ``entry_for``."""

    def __init__(self, entries: Iterable[RosterEntry]) -> None:
        self._by_person: dict[tuple[str, date | None], RosterEntry] = {}
        self._by_unit: dict[tuple[str, date | None], RosterEntry] = {}
        self._people: set[str] = set()
        for e in entries:
            if e.employee_id is not None:
                self._by_person[(e.employee_id, e.week_start)] = e
                self._people.add(e.employee_id)
            elif e.unit_id is not None:
                self._by_unit[(e.unit_id, e.week_start)] = e

    def has_person(self, employee_id: str) -> bool:
        return employee_id in self._people

    def entry_for(self, employee_id: str | None, chain: list[str], day: date) -> RosterEntry | None:
        week = week_of(day)
        if employee_id is not None:
            for key in ((employee_id, week), (employee_id, None)):
                if key in self._by_person:
                    return self._by_person[key]
        for unit_id in chain:
            if (unit_id, week) in self._by_unit:
                return self._by_unit[(unit_id, week)]
        for unit_id in chain:
            if (unit_id, None) in self._by_unit:
                return self._by_unit[(unit_id, None)]
        return None


def parse_weekdays(text: str | None) -> frozenset[int] | None:
    """'5,6' -> {5, 6} (Monday = 0), as stored; '' -> no weekly off; None -> the calendar's."""
    if text is None:
        return None
    return frozenset(int(part) for part in text.split(",") if part.strip())


def format_weekdays(days: Iterable[int] | None) -> str | None:
    return None if days is None else ",".join(str(d) for d in sorted(set(days)))
