"""Tables of people who use the hub: users, their units, sessions, failed logins, the audit log.

Only hashes are stored: Argon2 for passwords, SHA-256 for session tokens
(a token is random and long, so a fast hash is enough; a stolen database
then holds no usable session).
"""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

ROLES = ("admin", "unit_officer", "employee")


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, doc="lower case")
    password_hash: Mapped[str] = mapped_column(String(255), doc="Argon2id, with its parameters")
    role: Mapped[str] = mapped_column(String(16), doc="'admin', 'unit_officer' or 'employee'")
    employee_id: Mapped[str | None] = mapped_column(
        ForeignKey("employees.employee_id"), default=None, unique=True, doc="role employee: whose records"
    )
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True, doc="set by a one-time password")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class UserUnit(Base):
    """An org unit a unit officer looks after (its child units come with it)."""

    __tablename__ = "user_units"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("org_units.unit_id"), primary_key=True)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str | None] = mapped_column(String(64), default=None, doc="client address at login")


class LoginFailure(Base):
    """One failed login, counted per user name and per source address for the lockout."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_source_at", "source", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """One admin action: who, what, when, and the record before and after (JSON).

    ``actor_user_id`` is not a foreign key: the trail outlives the account.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100), doc="user name, 'token:admin' or 'cli:<os user>'")
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(64), index=True, doc="e.g. employee.update")
    target: Mapped[str] = mapped_column(String(200), doc="e.g. employee:E123")
    before: Mapped[str | None] = mapped_column(Text, default=None)
    after: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str | None] = mapped_column(String(64), default=None, doc="client address")
