"""The audit log: every admin action with who, what, when, and the record before and after;
every read or export of personal data; every login and failed login.

``record`` is called by the data-changing endpoints and CLI commands in the
same transaction as the change, so the log and the data never disagree.
Reads have no transaction of their own to join: ``record_apart`` writes
their entry in a short one (hub/api/audited.py calls it after a successful
read). ``record_login`` notes a dashboard or phone login, or a failed one,
with the name tried and the address, never the password.
"""

import json
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from hub.accounts.models import AuditEntry
from hub.accounts.principal import Principal
from hub.db import utcnow

# never copied into the log: secrets, photos, face templates, uploaded files
HIDDEN = {"password_hash", "encoding", "content", "token_sha256"}


def snapshot(row: Any, **extra: Any) -> dict[str, Any]:
    """The row's column values as JSON-friendly data (hidden columns left out), plus ``extra``."""
    values = {
        attr.key: _plain(getattr(row, attr.key))
        for attr in inspect(row).mapper.column_attrs
        if attr.key not in HIDDEN
    }
    values.update({k: _plain(v) for k, v in extra.items()})
    return values


def record(
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(), actor=actor.username[:100], actor_user_id=actor.user_id, action=action, target=target[:200],
        before=_dump(before), after=_dump(after), source=actor.source,
    )
    session.add(entry)
    return entry


def record_apart(
    session_factory: Callable[[], Session], actor: Principal, action: str, target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """``record`` in a transaction of its own, committed at once (for reads, which change nothing)."""
    with session_factory() as session:
        record(session, actor, action, target, None, detail)
        session.commit()


def record_login(session: Session, username: str, *, ok: bool, source: str | None, kind: str = "dashboard",
                 user_id: int | None = None, why: str | None = None) -> AuditEntry:
    """``auth.login`` / ``auth.login_failed`` (``kind`` "dashboard" or "phone"): who tried, from where, and
    for a failure the reason given; the caller commits (also after a failure)."""
    entry = AuditEntry(at=utcnow(), actor=username[:100], actor_user_id=user_id,
                       action="auth.login" if ok else "auth.login_failed", target=f"{kind}:{username}"[:200],
                       after=_dump({"kind": kind, **({"reason": why} if why else {})}), source=source)
    session.add(entry)
    return entry


def list_entries(
    session: Session, *, limit: int = 100, action: str | None = None, target: str | None = None,
    actor: str | None = None, before_id: int | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    """Newest first; ``before_id`` pages back. ``action`` ending in ``*`` matches a prefix
    (``user.*``: every user action); ``since`` / ``until`` bound ``at`` (until excluded)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None and action.endswith("*"):
        prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEntry.action.like(f"{prefix}%", escape="\\"))
        action = None
    for column, value in ((AuditEntry.action, action), (AuditEntry.target, target), (AuditEntry.actor, actor)):
        if value is not None:
            query = query.where(column == value)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    return list(session.scalars(query))


def _dump(data: dict[str, Any] | None) -> str | None:
    return None if data is None else json.dumps(data, sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
