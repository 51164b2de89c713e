"""Org units (department -> office/unit) and pay officers (DDOs).

Unit officers read the units (and DDOs) they look after; admins change them.
"""

from fastapi import APIRouter, status
from pydantic import BaseModel

from hub.accounts import audit
from hub.api.deps import AdminDep, OfficerDep, SessionDep, visible_unit_ids
from hub.db import Ddo, OrgUnit
from hub.masterdata import units
from hub.masterdata.fields import DdoIn, DdoPatch, UnitIn, UnitPatch

router = APIRouter(tags=["org units"])


class UnitOut(BaseModel):
    unit_id: str
    name: str
    kind: str
    parent_id: str | None

    @classmethod
    def of(cls, row: OrgUnit) -> "UnitOut":
        return cls(unit_id=row.unit_id, name=row.name, kind=row.kind, parent_id=row.parent_id)


class UnitList(BaseModel):
    items: list[UnitOut]


class DdoOut(BaseModel):
    ddo_id: str
    name: str
    unit_id: str | None

    @classmethod
    def of(cls, row: Ddo) -> "DdoOut":
        return cls(ddo_id=row.ddo_id, name=row.name, unit_id=row.unit_id)


class DdoList(BaseModel):
    items: list[DdoOut]


@router.get("/org-units")
def list_units(session: SessionDep, user: OfficerDep) -> UnitList:
    rows = units.list_units(session, visible_unit_ids(user, session))
    return UnitList(items=[UnitOut.of(u) for u in rows])


@router.post("/org-units", status_code=status.HTTP_201_CREATED)
def create_unit(body: UnitIn, session: SessionDep, admin: AdminDep) -> UnitOut:
    unit = units.create_unit(session, body)
    audit.record(session, admin, "org_unit.create", f"org_unit:{unit.unit_id}", None, audit.snapshot(unit))
    session.commit()
    return UnitOut.of(unit)


@router.patch("/org-units/{unit_id}")
def update_unit(unit_id: str, body: UnitPatch, session: SessionDep, admin: AdminDep) -> UnitOut:
    before = audit.snapshot(units.get_unit(session, unit_id))
    unit = units.update_unit(session, unit_id, body)
    audit.record(session, admin, "org_unit.update", f"org_unit:{unit_id}", before, audit.snapshot(unit))
    session.commit()
    return UnitOut.of(unit)


@router.get("/ddos")
def list_ddos(session: SessionDep, user: OfficerDep) -> DdoList:
    return DdoList(items=[DdoOut.of(d) for d in units.list_ddos(session, visible_unit_ids(user, session))])


@router.post("/ddos", status_code=status.HTTP_201_CREATED)
def create_ddo(body: DdoIn, session: SessionDep, admin: AdminDep) -> DdoOut:
    ddo = units.create_ddo(session, body)
    audit.record(session, admin, "ddo.create", f"ddo:{ddo.ddo_id}", None, audit.snapshot(ddo))
    session.commit()
    return DdoOut.of(ddo)


@router.patch("/ddos/{ddo_id}")
def update_ddo(ddo_id: str, body: DdoPatch, session: SessionDep, admin: AdminDep) -> DdoOut:
    before = audit.snapshot(units.get_ddo(session, ddo_id))
    ddo = units.update_ddo(session, ddo_id, body)
    audit.record(session, admin, "ddo.update", f"ddo:{ddo_id}", before, audit.snapshot(ddo))
    session.commit()
    return DdoOut.of(ddo)
