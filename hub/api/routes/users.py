"""User accounts (admin only): create with a one-time password, change units, deactivate, reset."""

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hub.accounts import audit, users
from hub.accounts.models import User
from hub.api.deps import AdminDep, SessionDep

router = APIRouter(prefix="/users", tags=["users"])


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(description="3-64 characters: a-z 0-9 . _ @ -")
    role: str = Field(description="admin, unit_officer or employee")
    unit_ids: list[str] = Field(default_factory=list, description="unit officer: the org units they look after")
    employee_id: str | None = Field(None, description="employee: their staff number")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    unit_ids: list[str] | None = None


class UserOut(BaseModel):
    username: str
    role: str
    employee_id: str | None
    unit_ids: list[str]
    active: bool
    must_change_password: bool
    created_at: datetime
    password_changed_at: datetime | None

    @classmethod
    def of(cls, session: Session, row: User) -> "UserOut":
        return cls(username=row.username, role=row.role, employee_id=row.employee_id,
                   unit_ids=users.unit_ids_of(session, row.user_id), active=row.active,
                   must_change_password=row.must_change_password, created_at=row.created_at,
                   password_changed_at=row.password_changed_at)


class UserList(BaseModel):
    items: list[UserOut]


class OneTimePassword(BaseModel):
    user: UserOut
    one_time_password: str = Field(description="shown once; the user must change it at first login")


def _state(session: Session, row: User) -> dict:
    return audit.snapshot(row, unit_ids=users.unit_ids_of(session, row.user_id))


@router.get("")
def list_users(session: SessionDep, _admin: AdminDep) -> UserList:
    return UserList(items=[UserOut.of(session, u) for u in users.list_users(session)])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, session: SessionDep, admin: AdminDep) -> OneTimePassword:
    user, password = users.create_user(session, body.username, body.role, unit_ids=body.unit_ids,
                                       employee_id=body.employee_id)
    audit.record(session, admin, "user.create", f"user:{user.username}", None, _state(session, user))
    session.commit()
    return OneTimePassword(user=UserOut.of(session, user), one_time_password=password)


@router.patch("/{username}")
def update_user(username: str, body: UserPatch, session: SessionDep, admin: AdminDep) -> UserOut:
    before = _state(session, users.get_user(session, username))
    user = users.update_user(session, username, active=body.active, unit_ids=body.unit_ids)
    audit.record(session, admin, "user.update", f"user:{user.username}", before, _state(session, user))
    session.commit()
    return UserOut.of(session, user)


@router.post("/{username}/reset-password")
def reset_password(username: str, session: SessionDep, admin: AdminDep) -> OneTimePassword:
    user, password = users.reset_password(session, username)
    audit.record(session, admin, "user.reset_password", f"user:{user.username}")
    session.commit()
    return OneTimePassword(user=UserOut.of(session, user), one_time_password=password)
