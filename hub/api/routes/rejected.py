"""The audit trail of refused messages, newest first."""

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.api.deps import AdminDep, SessionDep
from hub.db import RejectedMessage
from hub.ingest import punches

router = APIRouter(prefix="/rejected", tags=["rejected"])


class RejectedOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    punch_id: str | None
    reason: str
    payload_size: int
    payload_b64: str  # the first max_payload_bytes bytes as received

    @classmethod
    def of(cls, row: RejectedMessage) -> "RejectedOut":
        return cls(
            id=row.id, received_at=row.received_at, topic=row.topic, device_id=row.device_id,
            punch_id=row.punch_id, reason=row.reason, payload_size=row.payload_size,
            payload_b64=base64.b64encode(row.payload).decode("ascii"),
        )


class RejectedList(BaseModel):
    items: list[RejectedOut]


@router.get("")
def list_rejected(
    session: SessionDep, _admin: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    device_id: Annotated[str | None, Query(description="only messages from this kiosk")] = None,
) -> RejectedList:
    return RejectedList(items=[RejectedOut.of(r) for r in punches.list_rejected(session, limit=limit,
                                                                                 device_id=device_id)])
