"""The attendance settings (meant as ``HubConfig.attendance``): working days, holidays, flag thresholds."""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hub.attendance.rules import FlagPolicy, WorkCalendar

Weekday = Annotated[int, Field(ge=0, le=6, description="date.weekday(): Monday = 0 ... Sunday = 6")]


class AttendanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working_weekdays: list[Weekday] = Field(
        [0, 1, 2, 3, 4, 5], description="working weekdays at every site, Monday = 0 (default Monday to Saturday)"
    )
    holidays: list[date] = Field([], description="holidays at every site (YYYY-MM-DD)")
    site_working_weekdays: dict[str, list[Weekday]] = Field(
        {}, description="site id -> that site's own working weekdays, instead of working_weekdays"
    )
    site_holidays: dict[str, list[date]] = Field({}, description="site id -> holidays of that site only")
    low_margin_below: float = Field(0.08, ge=0, description="a punch whose match margin is below this is flagged")
    clock_ahead_s: float = Field(
        300.0, ge=0, description="a punch dated more than this many seconds after the hub received it is flagged"
    )

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(
            frozenset(self.working_weekdays),
            frozenset(self.holidays),
            {site: frozenset(days) for site, days in self.site_working_weekdays.items()},
            {site: frozenset(days) for site, days in self.site_holidays.items()},
        )

    def flag_policy(self) -> FlagPolicy:
        return FlagPolicy(self.low_margin_below, self.clock_ahead_s)
