"""Tables of the phone fallback (on ``hub.db.Base``, so create_all and Alembic see them).

Secrets are never stored: passwords and SMS codes as Argon2 hashes, bearer
tokens (device binding, session, nonce, password setup) as SHA-256 hashes.
Selfies and burst frames are not stored at all, only their SHA-256 (``PhoneFrameHash``).
"""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import ID_LEN, Base, UTCDateTime, utcnow

HASH_LEN = 64  # hex SHA-256


class PhoneCredential(Base):
    """An employee's phone password (set at the end of each activation)."""

    __tablename__ = "phone_credentials"

    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PhoneBinding(Base):
    """A phone bound to an employee by the device token kept in its browser.
    At most one per employee is live: a new activation revokes the others."""

    __tablename__ = "phone_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LEN), unique=True)
    label: Mapped[str | None] = mapped_column(String(200), default=None, doc="browser user agent, for admins")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PhoneActivation(Base):
    """One SMS code sent to an employee's registered mobile, and what became of it."""

    __tablename__ = "phone_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(HASH_LEN), unique=True, doc="handle the page holds")
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    setup_hash: Mapped[str | None] = mapped_column(String(HASH_LEN), default=None)
    setup_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="password set with it, or replaced by a newer code")


class PhoneSession(Base):
    __tablename__ = "phone_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LEN), unique=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), index=True)
    binding_id: Mapped[int] = mapped_column(ForeignKey("phone_bindings.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PhoneNonce(Base):
    """A single-use punch nonce; kept a day after expiry so a replay is named as one."""

    __tablename__ = "phone_nonces"

    nonce_hash: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    challenge: Mapped[str | None] = mapped_column(
        String(16), default=None, doc="the liveness action drawn with the nonce (blink, turn_left, turn_right)")


class PhoneFrameHash(Base):
    """SHA-256 of every frame of an accepted phone punch (burst frames, or the one selfie when the
    challenge is off): the same bytes are never accepted twice, by anyone. The photos are not kept."""

    __tablename__ = "phone_frame_hashes"

    sha256: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    punch_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class PhoneThrottle(Base):
    """Failure count and lock of one key (``scope`` e.g. "login:employee", ``key`` the staff number).
    Dashboard logins keep their counters here too (scopes ``dash:*``, ``hub.accounts.limits``)."""

    __tablename__ = "phone_throttles"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PhoneRefusal(Base):
    """Audit of refused phone requests (who, what step, why, where); no selfie, no code."""

    __tablename__ = "phone_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    step: Mapped[str] = mapped_column(String(16), doc="activate, verify, setup, login, nonce, punch")
    reason: Mapped[str] = mapped_column(String(40))
    employee_id: Mapped[str | None] = mapped_column(String(ID_LEN), default=None, index=True)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    site_id: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    details: Mapped[str | None] = mapped_column(Text, default=None, doc="the refusal's details as JSON")
