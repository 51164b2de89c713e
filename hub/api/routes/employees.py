"""Employees: list and read (unit officers: their units only; an employee: their own record),
create and change (admin).

A change of ``home_site_id`` is a transfer and ``active: false`` marks a
leaver; both move the person between site galleries (the answer names the
gallery versions that changed).
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.api.audited import AuditedReads
from hub.api.deps import AdminDep, CurrentUser, OfficerDep, SessionDep, check_employee_visible, visible_unit_ids
from hub.db import Employee, FaceTemplate, GalleryMember
from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn, EmployeePatch

router = APIRouter(prefix="/employees", tags=["employees"], dependencies=[AuditedReads("employee")])


class EmployeeOut(BaseModel):
    employee_id: str
    name: str
    category: str
    home_site_id: str
    allowed_site_ids: list[str]
    unit_id: str | None
    ddo_id: str | None
    mobile: str | None
    active: bool
    joined_on: date | None
    left_on: date | None


class EmployeeDetail(EmployeeOut):
    templates: int
    gallery_sites: list[str]


class EmployeeList(BaseModel):
    items: list[EmployeeOut]
    total: int | None = None  # how many match the filters (given when ``count=true``)


class EmployeeChange(BaseModel):
    employee: EmployeeDetail
    gallery_versions: dict[str, int]


def out(session: Session, row: Employee, allowed: list[str] | None = None) -> EmployeeOut:
    """``allowed``: the allowed sites when the caller fetched them for a whole page already."""
    return EmployeeOut(
        employee_id=row.employee_id, name=row.name, category=row.category, home_site_id=row.home_site_id,
        allowed_site_ids=allowed if allowed is not None else employees.allowed_sites(session, row.employee_id),
        unit_id=row.unit_id,
        ddo_id=row.ddo_id, mobile=row.mobile, active=row.active, joined_on=row.joined_on, left_on=row.left_on,
    )


def detail(session: Session, row: Employee) -> EmployeeDetail:
    templates = session.scalar(select(func.count()).where(FaceTemplate.employee_id == row.employee_id)) or 0
    gallery = session.scalars(select(GalleryMember.site_id).where(
        GalleryMember.employee_id == row.employee_id, GalleryMember.removed.is_(False)).order_by(GalleryMember.site_id))
    return EmployeeDetail(**out(session, row).model_dump(), templates=templates, gallery_sites=list(gallery))


def state(session: Session, row: Employee) -> dict:
    return audit.snapshot(row, allowed_site_ids=employees.allowed_sites(session, row.employee_id))


@router.get("")
def list_employees(
    session: SessionDep,
    user: OfficerDep,
    unit_id: str | None = None,
    site_id: str | None = None,
    active: bool | None = None,
    after: Annotated[str | None, Query(description="the last staff number of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    q: Annotated[str | None, Query(max_length=100, description="a staff-number prefix or any part of the name")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip (pages with Previous/Next)")] = 0,
    count: Annotated[bool, Query(description="also say how many match (one more query)")] = False,
) -> EmployeeList:
    """Staff by staff number, searchable and paged (``after`` for scripts, ``offset`` for pages)."""
    filters = {"visible_units": visible_unit_ids(user, session), "unit_id": unit_id, "site_id": site_id,
               "active": active, "search": (q or "").strip() or None}
    rows = employees.list_employees(session, **filters, limit=limit, after=after, offset=offset)
    total = employees.count_employees(session, **filters) if count else None
    allowed = employees.allowed_sites_of(session, [e.employee_id for e in rows])
    return EmployeeList(items=[out(session, e, allowed[e.employee_id]) for e in rows], total=total)


@router.get("/{employee_id}")
def get_employee(employee_id: str, session: SessionDep, user: CurrentUser) -> EmployeeDetail:
    """Admins: anyone; unit officers: their units' staff; employees: themselves."""
    return detail(session, check_employee_visible(user, session, employee_id))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_employee(body: EmployeeIn, session: SessionDep, admin: AdminDep) -> EmployeeDetail:
    employee = employees.create_employee(session, body)
    audit.record(session, admin, "employee.create", f"employee:{employee.employee_id}", None,
                 state(session, employee))
    session.commit()
    return detail(session, employee)


@router.patch("/{employee_id}")
def update_employee(employee_id: str, body: EmployeePatch, session: SessionDep, admin: AdminDep) -> EmployeeChange:
    before = state(session, employees.get_employee(session, employee_id))
    employee, versions = employees.update_employee(session, employee_id, body)
    audit.record(session, admin, "employee.update", f"employee:{employee_id}", before, state(session, employee))
    session.commit()
    return EmployeeChange(employee=detail(session, employee), gallery_versions=versions)
