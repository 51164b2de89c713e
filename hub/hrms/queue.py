"""The push queue in ``hrms_outbox``: new punches in, due punches out (in order per employee), outcomes back.

New punches are found by an anti-join of ``punches`` against the target's
outbox rows, limited to punches received since the target's high-water
mark less ``LOOKBACK`` (ingest workers commit out of receive order by at
most a batch; an hour covers any of them), so each round reads a few
recent punches, not the whole table.

An employee's punches go to a target in time order, and a later one waits
while an earlier one is still pending: Odoo's check_out must follow its
check_in, and Frappe's in/out pairing reads the order too.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, insert, literal, select
from sqlalchemy.orm import Session

from hub.db import PunchRecord
from hub.hrms.models import HrmsOutbox

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=1)
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class PushPunch:
    """What a target is told about one punch."""

    id: str
    employee_id: str
    ts: datetime  # UTC
    site_id: str
    device_id: str
    log_type: str  # "IN" (first punch of the employee's local day) or "OUT" (any later one)


def enqueue_new(session: Session, target: str, *, now: datetime, since: datetime | None,
                site_ids: list[str] | None = None) -> int:
    """Queue every punch not yet queued for ``target``; returns how many were queued."""
    mark = session.scalar(select(func.max(HrmsOutbox.received_at)).where(HrmsOutbox.target == target))
    floors = [d for d in (since, mark - LOOKBACK if mark is not None else None) if d is not None]
    floor = max(floors) if floors else None
    queued = exists().where(HrmsOutbox.punch_id == PunchRecord.id, HrmsOutbox.target == target)
    query = select(PunchRecord.id, literal(target), PunchRecord.employee_id, PunchRecord.device_ts,
                   PunchRecord.received_at, literal(now), literal(0), literal(now)).where(~queued)
    if floor is not None:
        query = query.where(PunchRecord.received_at >= floor)
    if site_ids:
        query = query.where(PunchRecord.site_id.in_(site_ids))
    result = session.execute(insert(HrmsOutbox).from_select(
        ["punch_id", "target", "employee_id", "device_ts", "received_at", "queued_at", "attempts", "next_attempt_at"],
        query))
    count = result.rowcount or 0
    if count:
        log.info("queued %d new punches for %s", count, target)
    return count


def _pending(target: str) -> list:
    return [HrmsOutbox.target == target, HrmsOutbox.sent_at.is_(None), HrmsOutbox.refused_at.is_(None)]


def due(session: Session, target: str, *, now: datetime, limit: int, tz: ZoneInfo) -> list[PushPunch]:
    """Up to ``limit`` punches to send now, oldest first, each the earliest pending one of its employee."""
    rows = session.execute(
        select(HrmsOutbox.employee_id, HrmsOutbox.device_ts, PunchRecord)
        .join(PunchRecord, PunchRecord.id == HrmsOutbox.punch_id)
        .where(*_pending(target), HrmsOutbox.next_attempt_at <= now)
        .order_by(HrmsOutbox.device_ts, HrmsOutbox.punch_id).limit(limit)).all()
    if not rows:
        return []
    employees = sorted({r[0] for r in rows})
    earliest = dict(session.execute(
        select(HrmsOutbox.employee_id, func.min(HrmsOutbox.device_ts))
        .where(*_pending(target), HrmsOutbox.employee_id.in_(employees)).group_by(HrmsOutbox.employee_id)).all())
    out, taken = [], set()
    for employee_id, device_ts, punch in rows:
        if employee_id in taken or device_ts > earliest[employee_id]:
            continue  # an earlier punch of this employee is still pending (waiting to be retried)
        taken.add(employee_id)  # one per employee per round: its next one may become due after this one
        out.append(PushPunch(punch.id, punch.employee_id, punch.device_ts, punch.site_id, punch.device_id,
                             log_type(session, punch, tz)))
    return out


def log_type(session: Session, punch: PunchRecord, tz: ZoneInfo) -> str:
    """IN for the employee's first punch of the local day, OUT for every later one (the hub's own rule:
    first = in, last = out; an HRMS keeps the last OUT of the day)."""
    local = punch.device_ts.astimezone(tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    earlier = session.scalar(select(func.count()).select_from(PunchRecord).where(
        PunchRecord.employee_id == punch.employee_id, PunchRecord.device_ts >= day_start,
        PunchRecord.device_ts < punch.device_ts))
    return "IN" if not earlier else "OUT"


def _row(session: Session, target: str, punch_id: str) -> HrmsOutbox:
    row = session.get(HrmsOutbox, (punch_id, target))
    if row is None:
        raise LookupError(f"punch {punch_id} is not queued for {target}")
    return row


def mark_sent(session: Session, target: str, punch_id: str, *, now: datetime, external_id: str | None) -> None:
    row = _row(session, target, punch_id)
    row.attempts += 1
    row.sent_at, row.external_id, row.last_error = now, external_id, None


def mark_refused(session: Session, target: str, punch_id: str, *, now: datetime, error: str) -> None:
    row = _row(session, target, punch_id)
    row.attempts += 1
    row.refused_at, row.last_error = now, error[:MAX_ERROR_CHARS]


def mark_failed(session: Session, target: str, punch_id: str, *, now: datetime, error: str,
                initial_s: float, max_s: float) -> datetime:
    """Count a failed attempt and schedule the next one (doubling, capped); returns when."""
    row = _row(session, target, punch_id)
    row.attempts += 1
    row.last_error = error[:MAX_ERROR_CHARS]
    row.next_attempt_at = now + timedelta(seconds=min(max_s, initial_s * 2 ** (row.attempts - 1)))
    return row.next_attempt_at


def counts(session: Session, target: str) -> dict[str, int]:
    """Queued rows of ``target`` by state: pending, sent, refused (for the CLI and admins)."""
    rows = session.execute(select(
        func.count().filter(HrmsOutbox.sent_at.is_(None), HrmsOutbox.refused_at.is_(None)),
        func.count().filter(HrmsOutbox.sent_at.is_not(None)),
        func.count().filter(HrmsOutbox.refused_at.is_not(None))).where(HrmsOutbox.target == target)).one()
    return {"pending": rows[0], "sent": rows[1], "refused": rows[2]}
