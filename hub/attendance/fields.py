"""Input models of holidays, leave, shifts and rosters: the API, the CSV import and the dashboard
build the same models, so each refuses the same input with the same per-field message.

Checks that involve two fields are field validators on the later one, so the
error names that field (``loc``), as the employee form's dates do.
"""

from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Code = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=3,
                                        pattern=r"^[A-Za-z][A-Za-z0-9]*$")]
Weekday = Annotated[int, Field(ge=0, le=6)]


def minutes_after(start: time, t: time) -> int:
    """Minutes from ``start`` to the next ``t`` (across midnight for a night shift): how a shift's times are
    ordered, whatever the clock says."""
    return (t.hour * 60 + t.minute - (start.hour * 60 + start.minute)) % (24 * 60)


class HolidayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date = Field(description="YYYY-MM-DD")
    name: str = Field(min_length=1, max_length=200, description="e.g. Republic Day")
    level: Literal["national", "state", "local"] = Field(description="national, state or local")
    unit_id: Id | None = Field(None, validate_default=True,
                               description="the unit (and every unit below it); none for a national holiday")

    @field_validator("unit_id")
    @classmethod
    def _national_has_no_unit(cls, unit_id: str | None, info: ValidationInfo) -> str | None:
        level = info.data.get("level")
        if level == "national" and unit_id is not None:
            raise ValueError("a national holiday is everyone's; leave the unit empty")
        if level in ("state", "local") and unit_id is None:
            raise ValueError(f"a {level} holiday needs the unit it applies to")
        return unit_id


class LeaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Id
    code: Code = Field(description="CL, EL, ML, CO, OD, TR or one of the department's codes")
    first: date = Field(description="first day, YYYY-MM-DD")
    last: date = Field(description="last day, YYYY-MM-DD (inclusive)")
    half_day: bool = Field(False, description="half a day (then first and last are the same day)")
    note: str | None = Field(None, max_length=500)

    @field_validator("last")
    @classmethod
    def _last(cls, last: date, info: ValidationInfo) -> date:
        first = info.data.get("first")
        if first is not None and last < first:
            raise ValueError(f"the last day {last} is before the first day {first}")
        if first is not None and (last - first).days > 366:
            raise ValueError("one entry covers at most a year")
        return last

    @field_validator("half_day")
    @classmethod
    def _half_day_is_one_day(cls, half_day: bool, info: ValidationInfo) -> bool:
        if half_day and info.data.get("first") != info.data.get("last"):
            raise ValueError("a half day is one day: first and last must be the same day")
        return half_day


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shift_id: Id
    site_id: Id
    name: str = Field(min_length=1, max_length=200, description="e.g. Night 22:00-06:00")
    start: time = Field(description="HH:MM; punch-in after this is late")
    end: time = Field(description="HH:MM; at or before start: the shift crosses midnight (one working day)")
    cutoff: time = Field(description="HH:MM, after start (next morning for a night shift before its end); no "
                                     "punch-in by then: missed cut-off")
    min_gap_min: int = Field(30, ge=1, le=600, description="minimum minutes between in and out")
    half_day_hours: float = Field(4.0, gt=0, le=24, description="present for less than this: half day")
    grace_min: int = Field(0, ge=0, le=240, description="minutes after the start a punch-in is still on time "
                                                        "(not late); must end before the cut-off")

    @field_validator("end")
    @classmethod
    def _has_length(cls, end: time, info: ValidationInfo) -> time:
        if end == info.data.get("start"):
            raise ValueError("a shift that ends when it starts has no length")
        return end

    @field_validator("cutoff")
    @classmethod
    def _cutoff_within_shift(cls, cutoff: time, info: ValidationInfo) -> time:
        start, end = info.data.get("start"), info.data.get("end")
        if start is None or end is None:
            return cutoff
        if minutes_after(start, cutoff) >= minutes_after(start, end):
            raise ValueError(f"the cut-off {cutoff:%H:%M} is not between the start {start:%H:%M} "
                             f"and the end {end:%H:%M}")
        return cutoff

    @field_validator("grace_min")
    @classmethod
    def _grace_before_cutoff(cls, grace_min: int, info: ValidationInfo) -> int:
        start, cutoff = info.data.get("start"), info.data.get("cutoff")
        if start is None or cutoff is None:
            return grace_min
        to_cutoff = minutes_after(start, cutoff)
        if grace_min >= to_cutoff:
            raise ValueError(f"a grace of {grace_min} min reaches the cut-off {cutoff:%H:%M} ({to_cutoff} min "
                             "after the start): nobody could then be late")
        return grace_min


class RosterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Id | None = Field(None, description="one employee, or")
    unit_id: Id | None = Field(None, validate_default=True,
                               description="a unit: everyone in it and the units below it")
    week_start: date | None = Field(None, description="the Monday of the week; none: every week (standing)")
    shift_id: Id | None = Field(None, description="none: the home site's default shift")
    weekly_off: list[Weekday] | None = Field(None, description="weekdays off, Monday = 0; [] none; "
                                                               "null: the configured working weekdays")

    @field_validator("unit_id")
    @classmethod
    def _one_of(cls, unit_id: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("employee_id") is None) == (unit_id is None):
            raise ValueError("name either one employee (employee_id) or one unit (unit_id)")
        return unit_id

    @field_validator("week_start")
    @classmethod
    def _monday(cls, week_start: date | None) -> date | None:
        if week_start is not None and week_start.weekday() != 0:
            raise ValueError(f"{week_start} is not a Monday")
        return week_start
