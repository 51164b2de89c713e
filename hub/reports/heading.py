"""What a printed or spreadsheet report says above its table: which office, which pay officer, which month.

A muster roll goes to the pay officer (DDO) on paper and is signed there, so
the heading names the office and the DDO in words, not only by id.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Ddo, OrgUnit


@dataclass(frozen=True)
class Heading:
    """The lines above a report's table."""

    title: str  # "Muster roll", "Payroll days"
    office: str  # "District Health Office (HEALTH)"
    ddo: str  # "DDO-H: Drawing officer, Health" or "" when none is known
    month: str  # "YYYY-MM"

    def file_stem(self, kind: str, key: str) -> str:
        return f"{kind}-{key}-{self.month}"


def _named(name: str | None, ident: str) -> str:
    return f"{name} ({ident})" if name and name != ident else ident


def unit_heading(session: Session, *, title: str, unit_id: str, month: str) -> Heading:
    """Heading of a unit's report: the unit's name and the DDOs attached to that unit."""
    unit = session.get(OrgUnit, unit_id)
    ddos = session.execute(select(Ddo.ddo_id, Ddo.name).where(Ddo.unit_id == unit_id).order_by(Ddo.ddo_id)).all()
    return Heading(title, _named(unit.name if unit else None, unit_id),
                   "; ".join(_named(name, ddo_id) for ddo_id, name in ddos), month)


def ddo_heading(session: Session, *, title: str, ddo_id: str, month: str) -> Heading:
    """Heading of a DDO's report: the DDO and the office it belongs to."""
    ddo = session.get(Ddo, ddo_id)
    unit = session.get(OrgUnit, ddo.unit_id) if ddo is not None and ddo.unit_id else None
    office = _named(unit.name, unit.unit_id) if unit is not None else ""
    return Heading(title, office, _named(ddo.name if ddo else None, ddo_id), month)
