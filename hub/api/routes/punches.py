"""Stored punches, newest first, with device-local time and hub receive time.

Admins see all; a unit officer the punches of employees in their units; an
employee their own (asking for someone else's is 403).
"""

from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, field_validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub.accounts.principal import EMPLOYEE, Principal
from hub.api.audited import AuditedReads
from hub.api.deps import (
    CurrentUser,
    SessionDep,
    check_employee_visible,
    visible_unit_ids,
)
from hub.db import Employee, PunchRecord
from hub.ingest import punches

router = APIRouter(prefix="/punches", tags=["punches"], dependencies=[AuditedReads("punches")])
EARLIEST_SINCE, LATEST_SINCE = datetime(1970, 1, 1), datetime(9998, 12, 31)


class PunchOut(BaseModel):
    id: str
    device_id: str
    site_id: str
    employee_id: str
    ts: datetime  # device time with the device's UTC offset
    received_at: datetime
    method: str
    distance: float
    margin: float | None
    gallery_version: int
    liveness_passed: bool | None
    liveness_score: float | None
    seq: int

    @classmethod
    def of(cls, row: PunchRecord) -> "PunchOut":
        local = row.device_ts.astimezone(timezone(timedelta(minutes=row.device_utc_offset_min)))
        return cls(
            id=row.id, device_id=row.device_id, site_id=row.site_id, employee_id=row.employee_id, ts=local,
            received_at=row.received_at, method=row.method, distance=row.distance, margin=row.margin,
            gallery_version=row.gallery_version, liveness_passed=row.liveness_passed,
            liveness_score=row.liveness_score, seq=row.seq,
        )


class PunchList(BaseModel):
    items: list[PunchOut]


class PunchCount(BaseModel):
    count: int


class PunchFilter(BaseModel):
    employee_id: str | None = None
    site_id: str | None = None
    device_id: str | None = None
    since: datetime | None = None  # device time; without an offset it is taken as UTC

    @field_validator("since")
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        """Years 1 and 9999 with an offset overflow when turned into UTC for the query."""
        if value is not None and not EARLIEST_SINCE.year <= value.year <= LATEST_SINCE.year:
            raise ValueError(f"since must be between the years {EARLIEST_SINCE.year} and {LATEST_SINCE.year}")
        return value

    def as_kwargs(self) -> dict:
        since = self.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return {"employee_id": self.employee_id, "site_id": self.site_id, "device_id": self.device_id,
                "since": since}


def scoped(user: Principal, session: Session, where: PunchFilter) -> Select:
    """The filtered punch query, narrowed to what ``user`` may see."""
    if where.employee_id is not None and not user.is_admin:
        check_employee_visible(user, session, where.employee_id)
    query = punches.punch_query(**where.as_kwargs())
    if user.role == EMPLOYEE:
        return query.where(PunchRecord.employee_id == user.employee_id)
    units = visible_unit_ids(user, session)
    if units is not None:
        staff = select(Employee.employee_id).where(Employee.unit_id.in_(sorted(units)))
        query = query.where(PunchRecord.employee_id.in_(staff))
    return query


@router.get("")
def list_punches(
    session: SessionDep,
    user: CurrentUser,
    where: Annotated[PunchFilter, Query()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> PunchList:
    query = scoped(user, session, where).order_by(PunchRecord.device_ts.desc(), PunchRecord.id.desc()).limit(limit)
    return PunchList(items=[PunchOut.of(r) for r in session.scalars(query)])


@router.get("/count")
def count_punches(session: SessionDep, user: CurrentUser, where: Annotated[PunchFilter, Query()]) -> PunchCount:
    query = scoped(user, session, where)
    return PunchCount(count=session.scalar(select(func.count()).select_from(query.subquery())) or 0)
