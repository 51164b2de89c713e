"""Storing decided punch messages, and reading punches and rejections back.

A punch id is unique: storing it again is a no-op reported as a duplicate
(the kiosk's resend after a lost ack), never a second row.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.db import PunchRecord, RejectedMessage
from hub.intake import Accepted, Rejected
from protocol.topics import parse_device_topic

Stored = Literal["stored", "duplicate", "rejected"]


@dataclass(frozen=True)
class ReceivedMessage:
    topic: str
    payload: bytes
    received_at: datetime


def store_decisions(
    session: Session,
    decisions: list[tuple[ReceivedMessage, Accepted | Rejected]],
    *,
    max_payload_bytes: int,
) -> list[Stored]:
    """Insert accepted punches (insert-or-ignore on id) and rejected messages; no commit."""
    results: list[Stored] = []
    for message, decision in decisions:
        if isinstance(decision, Accepted):
            inserted = _insert_or_ignore(session, punch_row(message, decision))
            results.append("stored" if inserted else "duplicate")
        else:
            session.add(rejected_row(message, decision, max_payload_bytes))
            results.append("rejected")
    session.flush()
    return results


def punch_row(message: ReceivedMessage, accepted: Accepted) -> dict[str, Any]:
    punch = accepted.punch
    offset = punch.ts.utcoffset()
    return {
        "id": punch.id,
        "device_id": punch.device_id,
        "site_id": punch.site_id,
        "employee_id": punch.employee_id,
        "device_ts": punch.ts,
        "device_utc_offset_min": int(offset.total_seconds() // 60) if offset is not None else 0,
        "received_at": message.received_at,
        "method": punch.method,
        "distance": punch.match.distance,
        "margin": punch.match.margin,
        "gallery_version": punch.match.gallery_version,
        "liveness_passed": punch.liveness.passed if punch.liveness else None,
        "liveness_score": punch.liveness.score if punch.liveness else None,
        "seq": punch.seq,
        "payload": message.payload.decode(json.detect_encoding(message.payload)),
    }


def rejected_row(message: ReceivedMessage, rejected: Rejected, max_payload_bytes: int) -> RejectedMessage:
    try:
        device_id: str | None = parse_device_topic(message.topic).device_id
    except ValueError:
        device_id = None
    return RejectedMessage(
        received_at=message.received_at,
        topic=message.topic,
        device_id=device_id,
        punch_id=rejected.punch_id,
        reason=rejected.reason,
        payload_size=len(message.payload),
        payload=message.payload[:max_payload_bytes],
    )


def _insert_or_ignore(session: Session, row: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stmt = sqlite.insert(PunchRecord).values(**row).on_conflict_do_nothing(index_elements=["id"])
    elif dialect == "postgresql":
        stmt = postgresql.insert(PunchRecord).values(**row).on_conflict_do_nothing(index_elements=["id"])
    else:
        raise NotImplementedError(f"insert-or-ignore is not written for {dialect}")
    # RETURNING names the row only when it was inserted (rowcount is not
    # reliable for ON CONFLICT across drivers); SQLite has it since 3.35.
    return session.execute(stmt.returning(PunchRecord.id)).first() is not None


def punch_query(
    *,
    employee_id: str | None = None,
    site_id: str | None = None,
    device_id: str | None = None,
    since: datetime | None = None,
):
    query = select(PunchRecord)
    if employee_id is not None:
        query = query.where(PunchRecord.employee_id == employee_id)
    if site_id is not None:
        query = query.where(PunchRecord.site_id == site_id)
    if device_id is not None:
        query = query.where(PunchRecord.device_id == device_id)
    if since is not None:
        query = query.where(PunchRecord.device_ts >= since)
    return query


def list_punches(session: Session, *, limit: int = 100, **filters: Any) -> list[PunchRecord]:
    """Newest first (device time); filters as in ``punch_query``."""
    query = punch_query(**filters).order_by(PunchRecord.device_ts.desc(), PunchRecord.id.desc()).limit(limit)
    return list(session.scalars(query))


def count_punches(session: Session, **filters: Any) -> int:
    return session.scalar(select(func.count()).select_from(punch_query(**filters).subquery())) or 0


def list_rejected(session: Session, *, limit: int = 100) -> list[RejectedMessage]:
    query = select(RejectedMessage).order_by(RejectedMessage.id.desc()).limit(limit)
    return list(session.scalars(query))
