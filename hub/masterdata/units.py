"""Org units (department -> office/unit) and pay officers (DDOs)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts.scope import unit_closure
from hub.db import Ddo, OrgUnit
from hub.errors import Conflict, InvalidInput, NotFound
from hub.masterdata.common import apply, changes_of
from hub.masterdata.fields import DdoIn, DdoPatch, UnitIn, UnitPatch


def list_units(session: Session, visible: set[str] | None = None) -> list[OrgUnit]:
    query = select(OrgUnit).order_by(OrgUnit.unit_id)
    if visible is not None:
        query = query.where(OrgUnit.unit_id.in_(sorted(visible)))
    return list(session.scalars(query))


def get_unit(session: Session, unit_id: str) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(f"unknown org unit {unit_id!r}")
    return unit


def create_unit(session: Session, data: UnitIn) -> OrgUnit:
    if session.get(OrgUnit, data.unit_id) is not None:
        raise Conflict(f"org unit {data.unit_id} exists")
    unit = OrgUnit(unit_id=data.unit_id, name=data.name, kind=data.kind, parent_id=None)
    session.add(unit)
    session.flush()
    _set_parent(session, unit, data.parent_id)
    return unit


def update_unit(session: Session, unit_id: str, patch: UnitPatch) -> OrgUnit:
    unit = get_unit(session, unit_id)
    changes = changes_of(patch, {"name", "kind"}, exclude={"parent_id"})
    apply(unit, changes)
    if "parent_id" in patch.model_fields_set:
        _set_parent(session, unit, patch.parent_id)
    session.flush()
    return unit


def _set_parent(session: Session, unit: OrgUnit, parent_id: str | None) -> None:
    """A unit's parent must exist and must not be the unit or one below it (no cycles)."""
    if parent_id is not None:
        get_unit(session, parent_id)
        if parent_id in unit_closure(session, [unit.unit_id]):
            raise InvalidInput(f"org unit {parent_id} is {unit.unit_id} or below it: that would make a cycle")
    if unit.kind == "department" and parent_id is not None:
        raise InvalidInput("a department has no parent unit")
    unit.parent_id = parent_id
    session.flush()


def list_ddos(session: Session, visible: set[str] | None = None) -> list[Ddo]:
    query = select(Ddo).order_by(Ddo.ddo_id)
    if visible is not None:
        query = query.where(Ddo.unit_id.in_(sorted(visible)))
    return list(session.scalars(query))


def get_ddo(session: Session, ddo_id: str) -> Ddo:
    ddo = session.get(Ddo, ddo_id)
    if ddo is None:
        raise NotFound(f"unknown DDO {ddo_id!r}")
    return ddo


def create_ddo(session: Session, data: DdoIn) -> Ddo:
    if session.get(Ddo, data.ddo_id) is not None:
        raise Conflict(f"DDO {data.ddo_id} exists")
    if data.unit_id is not None:
        get_unit(session, data.unit_id)
    ddo = Ddo(ddo_id=data.ddo_id, name=data.name, unit_id=data.unit_id)
    session.add(ddo)
    session.flush()
    return ddo


def update_ddo(session: Session, ddo_id: str, patch: DdoPatch) -> Ddo:
    ddo = get_ddo(session, ddo_id)
    changes = changes_of(patch, {"name"})
    if changes.get("unit_id") is not None:
        get_unit(session, changes["unit_id"])
    apply(ddo, changes)
    session.flush()
    return ddo
