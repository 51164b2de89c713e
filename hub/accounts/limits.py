"""How many dashboard logins are let through to the password check: per (user name, address),
per address, and an account-wide slow-down instead of a lock-out.

An attempt is counted *before* its password is checked, each count by one
conditional ``UPDATE ... WHERE count < limit`` on a counter row: PostgreSQL
re-reads a row locked by a parallel update before deciding, SQLite runs one
writer at a time, so of 30 guesses sent at once no more than the limit reach
the password check. The counter rows live in the throttle table the phone
fallback uses (scopes ``dash:*``), so no table of their own is needed.

Why per (user name, address) rather than per user name: five wrong guesses
from anywhere used to lock the real admin out for the whole window, from
every address. Now the guesser's address is refused for that account, while
the account as a whole is only *slowed* once it collects many failures from
everywhere: one attempt per ``security.login_slowdown_s``, first come first
served, so the real user waits seconds, never the window.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, case, literal, or_, select, update
from sqlalchemy.orm import Session

from hub.config import AuthConfig, SecurityConfig
from hub.db import UTCDateTime
from hub.errors import TooManyAttempts
from hub.phone.guard import ensure_row
from hub.phone.models import PhoneThrottle

log = logging.getLogger(__name__)

PAIR, ADDRESS, ACCOUNT = "dash:pair", "dash:address", "dash:account"
_T = PhoneThrottle.__table__


def pair_key(username: str, source: str) -> str:
    return f"{username} {source}"[:128]


def _at(value: datetime):
    return literal(value, UTCDateTime())


def _where(scope: str, key: str):
    return and_(_T.c.scope == scope, _T.c.key == key)


def _count(session: Session, scope: str, key: str, limit: int, now: datetime, window_s: float) -> bool:
    """One more attempt on the key, if it is under ``limit`` in the current window (one statement)."""
    since = now - timedelta(seconds=window_s)
    expired = or_(_T.c.window_start.is_(None), _T.c.window_start <= _at(since))
    counted = session.execute(update(_T).where(_where(scope, key), or_(expired, _T.c.failures < limit)).values(
        failures=case((expired, 1), else_=_T.c.failures + 1),
        window_start=case((expired, _at(now)), else_=_T.c.window_start),
    )).rowcount
    return counted == 1


def _row(session: Session, scope: str, key: str):
    return session.execute(select(_T).where(_where(scope, key))).one()


def _refuse(session: Session, what: str, retry_s: float) -> None:
    session.rollback()  # a refused attempt is not counted anywhere
    retry = max(1, int(retry_s + 0.999))
    log.warning("login refused: %s", what)
    raise TooManyAttempts(f"too many failed logins {what}; try again in {retry} s", retry)


def claim_attempt(session: Session, username: str, source: str, now: datetime, auth: AuthConfig,
                  security: SecurityConfig) -> None:
    """Count this attempt or raise TooManyAttempts (with Retry-After); commits, so parallel
    requests see the count before any password is checked."""
    pair = pair_key(username, source)
    for scope, key in ((ADDRESS, source), (PAIR, pair), (ACCOUNT, username)):
        ensure_row(session, scope, key)
    for scope, key, limit, what in ((ADDRESS, source, auth.max_failures_per_address, "from this address"),
                                    (PAIR, pair, auth.max_failures_per_user, "for this user name from here")):
        if not _count(session, scope, key, limit, now, auth.failure_window_s):
            start = _row(session, scope, key).window_start
            _refuse(session, what, (start + timedelta(seconds=auth.failure_window_s) - now).total_seconds())
    _take_slot(session, username, now, auth, security)
    session.commit()


def _take_slot(session: Session, username: str, now: datetime, auth: AuthConfig, security: SecurityConfig) -> None:
    """Under attack (many failures in the window), the account takes one attempt per slot."""
    since = now - timedelta(seconds=auth.failure_window_s)
    under_attack = and_(_T.c.window_start > _at(since), _T.c.failures >= security.login_slowdown_after)
    slot_free = or_(_T.c.locked_until.is_(None), _T.c.locked_until <= _at(now))
    taken = session.execute(update(_T).where(_where(ACCOUNT, username), under_attack, slot_free).values(
        locked_until=_at(now + timedelta(seconds=security.login_slowdown_s)))).rowcount
    if taken:
        return
    row = _row(session, ACCOUNT, username)
    attacked = row.window_start is not None and row.window_start > since and \
        row.failures >= security.login_slowdown_after
    if attacked and row.locked_until is not None and row.locked_until > now:
        _refuse(session, "for this user name (slowed down)", (row.locked_until - now).total_seconds())


def record_failure(session: Session, username: str, now: datetime, auth: AuthConfig) -> None:
    """One more failure for the account (the pair and address counted it when claimed); caller commits."""
    since = now - timedelta(seconds=auth.failure_window_s)
    expired = or_(_T.c.window_start.is_(None), _T.c.window_start <= _at(since))
    session.execute(update(_T).where(_where(ACCOUNT, username)).values(
        failures=case((expired, 1), else_=_T.c.failures + 1),
        window_start=case((expired, _at(now)), else_=_T.c.window_start),
    ))


def record_success(session: Session, username: str, source: str) -> None:
    """The owner got in: their account and this (user name, address) start afresh; the address gets
    back the one attempt it paid (not its failures: a known account must not buy guesses at others)."""
    session.execute(update(_T).where(or_(_where(ACCOUNT, username), _where(PAIR, pair_key(username, source))))
                    .values(failures=0, window_start=None, locked_until=None))
    session.execute(update(_T).where(_where(ADDRESS, source), _T.c.failures > 0)
                    .values(failures=_T.c.failures - 1))
