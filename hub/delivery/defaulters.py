"""The daily defaulter list: who, on a working day, had not punched by their site's cut-off.

The attendance rules already call this *missing* (no punch by the cut-off,
or a first punch after it; ``rules.is_missing``), so the list is the daily
register's missing days, computed with the same queries and rules as the
reports, and agrees with them.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from hub.reports import queries as reports


@dataclass(frozen=True)
class DefaulterList:
    unit_id: str
    day: date
    employees: int  # in the register: active, or punched that day
    defaulters: list[reports.PersonDays]  # in employee_id order


def defaulter_list(session: Session, ctx: reports.ReportContext, *, unit_id: str, day: date) -> DefaulterList:
    """The unit's (and its sub-units') employees with no punch by the cut-off on ``day``."""
    register = reports.daily_register(session, ctx, unit_id=unit_id, day=day)
    return DefaulterList(unit_id, day, len(register), [pd for pd in register if pd.days[0].missing])
