"""Database side of throttling, and the audit row kept for every refused phone request.

A throttle row is created if missing and locked before it is read (an
insert-or-ignore, which on SQLite takes the database's write lock, then
``SELECT ... FOR UPDATE`` on PostgreSQL), so concurrent requests count one
after the other instead of overwriting each other's count.

``charge`` counts an attempt *before* the guess is checked and refuses once
the key is locked: of many guesses sent at once, no more than the limit are
ever checked. ``fail`` counts after the fact (per address, where a success
must not use up the allowance).
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.phone import throttle
from hub.phone.config import ThrottleRule
from hub.phone.models import PhoneRefusal, PhoneThrottle
from hub.phone.reasons import Refused

log = logging.getLogger(__name__)

Key = tuple[str, str | None]                    # (scope, key); a None key (unknown staff number) is skipped
Charge = tuple[str, str | None, ThrottleRule]   # (scope, key, rule)
_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def ensure_row(session: Session, scope: str, key: str) -> None:
    """Insert the throttle row of (scope, key) unless it exists (one statement; never a duplicate key)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERT:
        raise NotImplementedError(f"throttle rows are not written for {dialect}")
    session.execute(_INSERT[dialect](PhoneThrottle).values(scope=scope, key=key, failures=0)
                    .on_conflict_do_nothing(index_elements=["scope", "key"]))


def _locked_row(session: Session, scope: str, key: str) -> PhoneThrottle:
    ensure_row(session, scope, key)
    return session.scalars(
        select(PhoneThrottle).where(PhoneThrottle.scope == scope, PhoneThrottle.key == key)
        .with_for_update().execution_options(populate_existing=True)
    ).one()


def _state(row: PhoneThrottle) -> throttle.ThrottleState:
    return throttle.ThrottleState(row.failures or 0, row.window_start, row.locked_until)


def _store(row: PhoneThrottle, state: throttle.ThrottleState) -> None:
    row.failures, row.window_start, row.locked_until = state.failures, state.window_start, state.locked_until


def check(session: Session, keys: Iterable[Key], now: datetime, code: str = "locked_out") -> None:
    """Refuse when any of ``keys`` is locked (a plain read: a quick answer, not a guarantee)."""
    for scope, key in keys:
        if key is None:
            continue
        row = session.get(PhoneThrottle, (scope, key))
        if row is not None:
            throttle.check_not_locked(_state(row), now, code)


def charge(session: Session, charges: Iterable[Charge], now: datetime, code: str = "locked_out") -> None:
    """Count one attempt against each key, refusing if one is locked; the caller commits."""
    for scope, key, rule in charges:
        if key is not None:
            row = _locked_row(session, scope, key)
            throttle.check_not_locked(_state(row), now, code)
            _store(row, throttle.record_failure(_state(row), rule, now))
    session.flush()


def fail(session: Session, charges: Iterable[Charge], now: datetime) -> None:
    """Count one failure against each key, whatever its state; the caller commits."""
    for scope, key, rule in charges:
        if key is not None:
            row = _locked_row(session, scope, key)
            _store(row, throttle.record_failure(_state(row), rule, now))
    session.flush()


def succeed(session: Session, scope: str, key: str) -> None:
    """Clear a staff number's count after a success (a lock it has stays)."""
    row = session.get(PhoneThrottle, (scope, key))
    if row is not None:
        _store(row, throttle.record_success(_state(row)))


@dataclass
class Context:
    """What is known about a request when it is refused; filled in as the step learns it."""

    step: str
    address: str | None
    employee_id: str | None = None
    site_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None


def record_refusal(factory: sessionmaker[Session], context: Context, refused: Refused, now: datetime) -> None:
    """Keep an audit row in its own transaction; a failure to write it is logged, not raised,
    so the person still gets the real reason."""
    try:
        with factory() as session:
            session.add(PhoneRefusal(
                at=now, step=context.step, reason=refused.code, employee_id=context.employee_id,
                address=(context.address or "")[:64] or None, site_id=context.site_id, lat=context.lat,
                lon=context.lon, accuracy_m=context.accuracy_m,
                details=json.dumps(refused.details, sort_keys=True, default=str) if refused.details else None,
            ))
            session.commit()
    except SQLAlchemyError as exc:
        log.error("phone refusal (%s, %s) could not be audited: %s", context.step, refused.code, type(exc).__name__)
    log.info("phone %s refused: %s (employee %s)", context.step, refused.code, context.employee_id or "-")
