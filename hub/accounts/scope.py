"""What a user may see: all units (admin), their units and every unit below them
(unit officer), or nothing but their own records (employee)."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts.principal import ADMIN, UNIT_OFFICER, Principal
from hub.db import Employee, OrgUnit
from hub.errors import Forbidden, NotFound


def unit_closure(session: Session, unit_ids: Iterable[str]) -> set[str]:
    """``unit_ids`` and every unit below them (one query; unit trees are small)."""
    children: dict[str, list[str]] = {}
    for unit_id, parent_id in session.execute(select(OrgUnit.unit_id, OrgUnit.parent_id)):
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    seen: set[str] = set()
    stack = list(unit_ids)
    while stack:
        unit = stack.pop()
        if unit not in seen:
            seen.add(unit)
            stack.extend(children.get(unit, ()))
    return seen


def visible_unit_ids(user: Principal, session: Session) -> set[str] | None:
    """None: every unit (admin). A unit officer: their units with all child units.
    An employee: the empty set (they see their own records only, by employee_id)."""
    if user.role == ADMIN:
        return None
    if user.role == UNIT_OFFICER:
        return unit_closure(session, user.unit_ids)
    return set()


def check_employee_visible(user: Principal, session: Session, employee_id: str) -> Employee:
    """The employee, if ``user`` may see them; NotFound / Forbidden otherwise.

    A unit officer asking for someone outside their units gets Forbidden, not
    NotFound, so the answer does not tell whether that person exists.
    """
    employee = session.get(Employee, employee_id)
    units = visible_unit_ids(user, session)
    if units is not None and user.employee_id != employee_id:
        if user.role != UNIT_OFFICER:
            raise Forbidden("you may see only your own records")
        if employee is None or employee.unit_id not in units:
            raise Forbidden(f"employee {employee_id} is not in your units")
    if employee is None:
        raise NotFound(f"unknown employee {employee_id!r}")
    return employee
