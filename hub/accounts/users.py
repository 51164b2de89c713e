"""User accounts: create with a one-time password, change and reset passwords, roles and units.

Data functions take the session first and leave the commit to the caller.
A one-time password is returned once, to be shown to the person once; the
account then accepts nothing but a password change until they chose theirs.
"""

import logging
import re
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts.models import ROLES, AuthSession, User, UserUnit
from hub.accounts.passwords import check_new_password, hash_password, one_time_password, verify_password
from hub.accounts.principal import EMPLOYEE, UNIT_OFFICER, Principal
from hub.db import Employee, OrgUnit, utcnow
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, on_field

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise on_field(InvalidInput(f"user name {username!r}: 3-64 of a-z 0-9 . _ @ -, starting with a letter or digit"),
                       "username")
    return name


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def unit_ids_of(session: Session, user_id: int) -> list[str]:
    return list(session.scalars(select(UserUnit.unit_id).where(UserUnit.user_id == user_id).order_by(UserUnit.unit_id)))


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    unit_ids: list[str] | None = None,
    employee_id: str | None = None,
) -> tuple[User, str]:
    """A new account with a one-time password; returns (user, the password to hand over once)."""
    name = normalise_username(username)
    if session.scalar(select(User.user_id).where(User.username == name)) is not None:
        raise on_field(Conflict(f"user {name} exists; reset their password instead"), "username")
    _check_role(session, role, unit_ids or [], employee_id)
    password = one_time_password()
    user = User(username=name, password_hash=hash_password(password), role=role, employee_id=employee_id,
                must_change_password=True, active=True, created_at=utcnow())
    session.add(user)
    session.flush()
    _set_units(session, user, unit_ids or [])
    log.info("user %s created with role %s", name, role)
    return user, password


def update_user(
    session: Session, username: str, *, active: bool | None = None, unit_ids: list[str] | None = None
) -> User:
    """Deactivate/reactivate (ends their sessions) or change a unit officer's units."""
    user = get_user(session, username)
    if unit_ids is not None:
        _check_role(session, user.role, unit_ids, user.employee_id)
        _set_units(session, user, unit_ids)
    if active is not None and active != user.active:
        user.active = active
        if not active:
            end_sessions(session, user.user_id)
    session.flush()
    return user


def reset_password(session: Session, username: str) -> tuple[User, str]:
    """A fresh one-time password; the old password and every session stop working."""
    user = get_user(session, username)
    password = one_time_password()
    user.password_hash, user.must_change_password = hash_password(password), True
    end_sessions(session, user.user_id)
    log.info("password of %s reset", user.username)
    return user, password


def change_password(
    session: Session, user_id: int, current: str, new: str, *, keep_session: str | None = None,
    now: datetime | None = None,
) -> User:
    """The owner sets their password; other sessions end, ``keep_session`` (a token hash) stays."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Unauthorized("unknown or inactive user")
    if not verify_password(user.password_hash, current):
        raise Forbidden("the current password is wrong")
    check_new_password(new, username=user.username)
    if verify_password(user.password_hash, new):
        raise InvalidInput("the new password must differ from the current one")
    user.password_hash, user.must_change_password = hash_password(new), False
    user.password_changed_at = now or utcnow()
    query = delete(AuthSession).where(AuthSession.user_id == user.user_id)
    if keep_session is not None:
        query = query.where(AuthSession.token_sha256 != keep_session)
    session.execute(query)
    return user


def end_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


def principal_of(session: Session, user: User, source: str | None = None) -> Principal:
    return Principal(
        username=user.username, role=user.role, user_id=user.user_id, employee_id=user.employee_id,
        unit_ids=frozenset(unit_ids_of(session, user.user_id)), must_change_password=user.must_change_password,
        source=source,
    )


def _check_role(session: Session, role: str, unit_ids: list[str], employee_id: str | None) -> None:
    if role not in ROLES:
        raise on_field(InvalidInput(f"role must be one of {', '.join(ROLES)}: {role!r}"), "role")
    if role == UNIT_OFFICER and not unit_ids:
        raise on_field(InvalidInput("a unit officer needs at least one org unit"), "unit_ids")
    if role != UNIT_OFFICER and unit_ids:
        raise on_field(InvalidInput("only unit officers have org units"), "unit_ids")
    if role == EMPLOYEE and not employee_id:
        raise on_field(InvalidInput("an employee account needs the employee's staff number"), "employee_id")
    if role != EMPLOYEE and employee_id:
        raise on_field(InvalidInput("only employee accounts are linked to a staff number"), "employee_id")
    if employee_id and session.get(Employee, employee_id) is None:
        raise on_field(NotFound(f"unknown employee {employee_id!r}"), "employee_id")
    for unit_id in unit_ids:
        if session.get(OrgUnit, unit_id) is None:
            raise on_field(NotFound(f"unknown org unit {unit_id!r}"), "unit_ids")


def _set_units(session: Session, user: User, unit_ids: list[str]) -> None:
    session.execute(delete(UserUnit).where(UserUnit.user_id == user.user_id))
    session.add_all(UserUnit(user_id=user.user_id, unit_id=u) for u in sorted(set(unit_ids)))
    session.flush()
