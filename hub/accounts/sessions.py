"""Logging in and out: session tokens, expiry, and the lockout after repeated failures.

Failures are counted in the database (``login_failures``) over a sliding
window, per user name and per client address, so every API process sees
the same count. While either count is at its limit the login is refused
without even checking the password; the lockout ends by itself when old
failures leave the window. A success clears the failures of that user
name, not of the address (one known account must not unlock guessing at
the others from the same place).
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.accounts.models import AuthSession, LoginFailure, User
from hub.accounts.passwords import burn_time, verify_password
from hub.config import AuthConfig
from hub.errors import TooManyAttempts, Unauthorized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    token: str  # shown to the client once; only its hash is stored
    user: User
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(session: Session, username: str, password: str, *, source: str, now: datetime,
          config: AuthConfig) -> LoginResult:
    """Check the password and open a session; the caller commits (also after a failure,
    so the failure is counted)."""
    name = username.strip().lower()[:64]
    source = source[:64]
    _refuse_if_locked(session, name, source, now, config)
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        burn_time(password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        session.add(LoginFailure(at=now, username=name, source=source))
        log.info("failed login for %s", name)
        raise Unauthorized("wrong user name or password")
    session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=config.session_ttl_s)
    session.add(AuthSession(token_sha256=token_hash(token), user_id=user.user_id, created_at=now,
                            expires_at=expires, source=source))
    log.info("user %s logged in", name)
    return LoginResult(token, user, expires)


def _refuse_if_locked(session: Session, username: str, source: str, now: datetime, config: AuthConfig) -> None:
    since = now - timedelta(seconds=config.failure_window_s)
    for column, value, limit, what in (
        (LoginFailure.username, username, config.max_failures_per_user, "this user name"),
        (LoginFailure.source, source, config.max_failures_per_address, "this address"),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == value, LoginFailure.at > since)
        ).one()
        if count >= limit:
            retry = max(1, int((oldest - since).total_seconds()) + 1)
            log.warning("login refused: too many failures for %s", what)
            raise TooManyAttempts(f"too many failed logins for {what}; try again in {retry} s", retry)


def resolve(session: Session, token: str, now: datetime) -> tuple[User, str] | None:
    """The active user of an unexpired session token, with the token's hash; None otherwise."""
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    row = session.get(AuthSession, digest)
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, digest


def logout(session: Session, token_sha256: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_sha256 == token_sha256))

