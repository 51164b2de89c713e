"""The audit log of admin actions, newest first (admin only)."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.accounts import audit
from hub.accounts.models import AuditEntry
from hub.api.deps import MAX_ROW_ID, AdminDep, SessionDep

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


@router.get("")
def list_audit(
    session: SessionDep,
    _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
    target: str | None = None,
    actor: str | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> AuditList:
    rows = audit.list_entries(session, limit=limit, action=action, target=target, actor=actor, before_id=before_id)
    return AuditList(items=[AuditOut.of(r) for r in rows])
