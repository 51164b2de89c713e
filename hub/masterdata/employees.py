"""Employees: create, change, transfer (home site), allowed sites, leavers; galleries follow.

Any change of home site, allowed sites or active flag goes through
``hub.enrolment.gallery.sync_members``, which adds and removes the person from site
galleries and bumps the versions of exactly the sites affected; a new name
is content every kiosk that knows the person must get.
"""

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from hub.db import Ddo, Employee, EmployeeAllowedSite, OrgUnit, Site
from hub.enrolment.gallery import sync_members
from hub.errors import Conflict, InvalidInput, NotFound
from hub.masterdata.common import apply, changes_of
from hub.masterdata.fields import EmployeeIn, EmployeePatch, check_service_dates

REQUIRED = {"name", "category", "home_site_id", "active", "allowed_site_ids"}


def get_employee(session: Session, employee_id: str) -> Employee:
    employee = session.get(Employee, employee_id)
    if employee is None:
        raise NotFound(f"unknown employee {employee_id!r}")
    return employee


def _filtered(query, *, visible_units, unit_id, site_id, active, search):
    """``query`` narrowed to the caller's units and the given filters (one place for list and count)."""
    if visible_units is not None:
        query = query.where(Employee.unit_id.in_(sorted(visible_units)))
    for column, value in ((Employee.unit_id, unit_id), (Employee.home_site_id, site_id), (Employee.active, active)):
        if value is not None:
            query = query.where(column == value)
    if search:
        # staff numbers by prefix (an index range), names by any part, case-insensitive
        pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Employee.employee_id.like(f"{pattern}%", escape="\\"),
                                func.lower(Employee.name).like(f"%{pattern.lower()}%", escape="\\")))
    return query


def list_employees(
    session: Session, *, visible_units: set[str] | None = None, unit_id: str | None = None,
    site_id: str | None = None, active: bool | None = None, limit: int = 100, after: str | None = None,
    search: str | None = None, offset: int = 0,
) -> list[Employee]:
    """By staff number; ``visible_units`` None = all; ``after`` pages on from a staff number (keyset,
    what scripts should use), ``offset`` skips rows (what a page with Previous/Next uses); ``search``
    matches a staff-number prefix or any part of the name."""
    query = _filtered(select(Employee), visible_units=visible_units, unit_id=unit_id, site_id=site_id,
                      active=active, search=search)
    if after is not None:
        query = query.where(Employee.employee_id > after)
    return list(session.scalars(query.order_by(Employee.employee_id).offset(offset).limit(limit)))


def count_employees(
    session: Session, *, visible_units: set[str] | None = None, unit_id: str | None = None,
    site_id: str | None = None, active: bool | None = None, search: str | None = None,
) -> int:
    """How many employees ``list_employees`` would page through with the same filters."""
    query = _filtered(select(func.count()).select_from(Employee), visible_units=visible_units, unit_id=unit_id,
                      site_id=site_id, active=active, search=search)
    return session.scalar(query) or 0


def allowed_sites(session: Session, employee_id: str) -> list[str]:
    return list(session.scalars(select(EmployeeAllowedSite.site_id).where(
        EmployeeAllowedSite.employee_id == employee_id).order_by(EmployeeAllowedSite.site_id)))


def allowed_sites_of(session: Session, employee_ids: list[str]) -> dict[str, list[str]]:
    """``allowed_sites`` for a whole page of employees in one query (not one per row)."""
    found: dict[str, list[str]] = {e: [] for e in employee_ids}
    rows = session.execute(select(EmployeeAllowedSite.employee_id, EmployeeAllowedSite.site_id).where(
        EmployeeAllowedSite.employee_id.in_(employee_ids)).order_by(EmployeeAllowedSite.site_id)) if employee_ids else []
    for employee_id, site_id in rows:
        found[employee_id].append(site_id)
    return found


def create_employee(session: Session, data: EmployeeIn) -> Employee:
    if session.get(Employee, data.employee_id) is not None:
        raise Conflict(f"employee {data.employee_id} exists")
    employee = Employee(employee_id=data.employee_id, name=data.name, home_site_id=data.home_site_id,
                        category=data.category, active=data.active)
    _check_refs(session, data.model_dump(exclude_unset=True), data.employee_id)
    session.add(employee)
    apply(employee, changes_of(data, REQUIRED, exclude={"employee_id", "allowed_site_ids"}))
    session.flush()
    set_allowed_sites(session, employee, data.allowed_site_ids)
    sync_members(session, [employee.employee_id])
    return employee


def update_employee(session: Session, employee_id: str, patch: EmployeePatch) -> tuple[Employee, dict[str, int]]:
    """Apply the fields given; returns (employee, {site_id: new gallery version})."""
    employee = get_employee(session, employee_id)
    changes = changes_of(patch, REQUIRED)
    _check_refs(session, changes, employee_id)
    try:  # one date changed: checked against the other as stored
        check_service_dates(changes.get("joined_on", employee.joined_on), changes.get("left_on", employee.left_on))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    allowed = changes.pop("allowed_site_ids", None)
    renamed = "name" in changes and changes["name"] != employee.name
    apply(employee, changes)
    session.flush()
    if allowed is not None or "home_site_id" in changes:
        set_allowed_sites(session, employee, allowed if allowed is not None else allowed_sites(session, employee_id))
    versions = sync_members(session, [employee_id], content_changed=[employee_id] if renamed else [])
    return employee, versions


def set_allowed_sites(session: Session, employee: Employee, site_ids: list[str]) -> None:
    """Replace the allowed list (the home site is implied, so it is left out). No gallery sync."""
    wanted = sorted(set(site_ids) - {employee.home_site_id})
    session.execute(delete(EmployeeAllowedSite).where(EmployeeAllowedSite.employee_id == employee.employee_id))
    session.add_all(EmployeeAllowedSite(employee_id=employee.employee_id, site_id=s) for s in wanted)
    session.flush()


def _check_refs(session: Session, values: dict, employee_id: str) -> None:
    """Every referenced site, unit and DDO exists; the mobile is nobody else's."""
    for key, model, what in (("home_site_id", Site, "site"), ("unit_id", OrgUnit, "org unit"),
                             ("ddo_id", Ddo, "DDO")):
        if values.get(key) is not None and session.get(model, values[key]) is None:
            raise NotFound(f"unknown {what} {values[key]!r}")
    for site_id in values.get("allowed_site_ids") or []:
        if session.get(Site, site_id) is None:
            raise NotFound(f"unknown site {site_id!r} in allowed_site_ids")
    mobile = values.get("mobile")
    if mobile is not None:
        owner = session.scalar(select(Employee.employee_id).where(Employee.mobile == mobile))
        if owner is not None and owner != employee_id:
            raise Conflict("that mobile number is registered to another employee")
