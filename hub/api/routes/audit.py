"""The audit log of admin actions, newest first (admin only)."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.accounts import audit
from hub.accounts.models import AuditEntry
from hub.api.deps import MAX_ROW_ID, AdminDep, SessionDep
from hub.errors import InvalidInput, on_field

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    source: str | None

    @classmethod
    def of(cls, row: AuditEntry) -> "AuditOut":
        return cls(id=row.id, at=row.at, actor=row.actor, action=row.action, target=row.target,
                   before=json.loads(row.before) if row.before else None,
                   after=json.loads(row.after) if row.after else None, source=row.source)


class AuditList(BaseModel):
    items: list[AuditOut]
    next_before_id: int | None = None  # pass as before_id for the next (older) page; None: no more


@router.get("")
def list_audit(
    session: SessionDep,
    _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
    target: str | None = None,
    actor: str | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    since: Annotated[datetime | None, Query(description="entries at or after this time (with its UTC offset)")] = None,
    until: Annotated[datetime | None, Query(description="entries before this time (with its UTC offset)")] = None,
) -> AuditList:
    """Newest first, ``limit`` a page; filters: who (actor), what (action, ``user.*`` for a prefix), when."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise on_field(InvalidInput(f"{name} needs a UTC offset, e.g. 2026-11-22T09:00:00+05:30"), name)
    if since is not None and until is not None and until <= since:
        raise on_field(InvalidInput("the end must come after the start"), "until")
    rows = audit.list_entries(session, limit=limit + 1, action=action, target=target, actor=actor,
                              before_id=before_id, since=since, until=until)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditList(items=[AuditOut.of(r) for r in rows], next_before_id=rows[-1].id if more else None)
