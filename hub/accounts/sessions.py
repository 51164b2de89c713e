"""Logging in and out: session tokens, expiry, and the limits on guessing (``hub.accounts.limits``).

An attempt is counted and committed before its password is checked, so
parallel guesses cannot outrun the limits; a guesser's address is refused
for the account it guesses at, the account itself is only slowed down.
Every failure also leaves a ``login_failures`` row (who, from where, when)
for the admins.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts import limits
from hub.accounts.models import AuthSession, LoginFailure, User
from hub.accounts.passwords import burn_time, verify_password
from hub.config import AuthConfig, SecurityConfig
from hub.errors import Unauthorized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    token: str  # shown to the client once; only its hash is stored
    user: User
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(session: Session, username: str, password: str, *, source: str, now: datetime,
          config: AuthConfig, security: SecurityConfig) -> LoginResult:
    """Check the password and open a session; the attempt is committed here before the check,
    the caller commits the outcome (also after a failure, so the failure is counted)."""
    name = username.strip().lower()[:64]
    source = source[:64]
    limits.claim_attempt(session, name, source, now, config, security)
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        burn_time(password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        limits.record_failure(session, name, now, config)
        session.add(LoginFailure(at=now, username=name, source=source))
        log.info("failed login for %s", name)
        raise Unauthorized("wrong user name or password")
    limits.record_success(session, name, source)
    session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=config.session_ttl_s)
    session.add(AuthSession(token_sha256=token_hash(token), user_id=user.user_id, created_at=now,
                            expires_at=expires, source=source))
    log.info("user %s logged in", name)
    return LoginResult(token, user, expires)


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

