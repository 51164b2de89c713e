"""Flagged punches for an admin's review, newest received first, filterable by kiosk.

"Flagged" is the reports' notion (``hub.attendance.rules.punch_flags``): the flags
intake stored with the punch (``hub.ingest.plausibility``: clock skew, back-dated,
seq reused or skipped) and those its numbers imply (low margin, liveness).
Each comes with what the flag means and, for flags set at intake, why.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from hub.api.deps import AdminDep, SessionDep
from hub.api.routes.punches import PunchOut
from hub.attendance import rules
from hub.db import PunchRecord
from hub.errors import InvalidInput
from hub.ingest import punches

router = APIRouter(prefix="/flagged", tags=["punches"])


class FlagOut(BaseModel):
    kind: str
    meaning: str  # hub.attendance.rules.FLAG_KINDS; "" for a kind this hub does not know


class FlaggedPunchOut(PunchOut):
    flags: list[FlagOut]
    detail: list[str]  # why intake flagged it ("kind: why"), one per flag it set

    @classmethod
    def flagged(cls, row: PunchRecord, flags: tuple[str, ...]) -> "FlaggedPunchOut":
        return cls(**PunchOut.of(row).model_dump(),
                   flags=[FlagOut(kind=k, meaning=rules.FLAG_KINDS.get(k, "")) for k in flags],
                   detail=row.flag_detail.splitlines() if row.flag_detail else [])


class FlaggedList(BaseModel):
    items: list[FlaggedPunchOut]


@router.get("")
def list_flagged(
    request: Request, session: SessionDep, _admin: AdminDep,
    device_id: str | None = None,
    since: Annotated[datetime | None, Query(description="only punches received at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FlaggedList:
    if since is not None and since.utcoffset() is None:
        raise InvalidInput("since needs a UTC offset, e.g. 2026-11-22T09:00:00+05:30")
    policy = request.app.state.config.attendance.flag_policy()
    found = punches.list_flagged(session, policy, limit=limit, device_id=device_id, since=since)
    return FlaggedList(items=[FlaggedPunchOut.flagged(row, flags) for row, flags in found])
