"""Storing decided punch messages, and reading punches and rejections back.

A punch id is unique: storing it again is a no-op reported as a duplicate
(the kiosk's resend after a lost ack), never a second row. A punch is stored
with the flags intake gave it (``hub.ingest.plausibility``): their kinds in
``flags``, why in ``flag_detail``.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.attendance.rules import FlagPolicy, punch_flags
from hub.db import PunchRecord, RejectedMessage
from hub.ingest.intake import INT64_MAX, Accepted, Rejected
from hub.ingest.plausibility import Flag, SeqBook
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
    """Insert a batch's accepted punches and rejected messages; no commit.

    The punches go in as one multi-row insert-or-ignore on id, so a batch
    costs one statement however many punches it holds. A punch is "stored"
    the first time its id appears in the batch and the database did not
    already have it; a repeat in the same batch, or an id already stored,
    is "duplicate" (the kiosk is acked again, nothing is written twice).
    """
    rows: dict[str, dict[str, Any]] = {}
    for message, decision in decisions:
        if isinstance(decision, Accepted):
            rows.setdefault(decision.punch.id, punch_row(message, decision))
    inserted = insert_new_punches(session, list(rows.values()))
    results: list[Stored] = []
    others: dict[str, list[Flag]] = {}  # stored punches a new one's flags also concern (a reused seq)
    for message, decision in decisions:
        if isinstance(decision, Accepted):
            stored = decision.punch.id in inserted
            results.append("stored" if stored else "duplicate")
            inserted.discard(decision.punch.id)  # a repeat later in the batch is a duplicate
            for flag in decision.flags if stored else ():
                if flag.also is not None:
                    others.setdefault(flag.also, []).append(Flag(flag.kind, f"seq reused by punch {decision.punch.id}"))
        else:
            session.add(rejected_row(message, decision, max_payload_bytes))
            results.append("rejected")
    session.flush()
    if others:
        add_flags(session, others)
    return results


def flags_columns(flags: Iterable[Flag]) -> dict[str, str | None]:
    """``flags`` (kinds, comma-separated, each once) and ``flag_detail`` ("kind: why", one a line)."""
    flags = list(flags)
    return {"flags": ",".join(dict.fromkeys(f.kind for f in flags)) or None,
            "flag_detail": "\n".join(f"{f.kind}: {f.detail}" for f in flags) or None}


def add_flags(session: Session, flags: dict[str, list[Flag]]) -> None:
    """Add flags to stored punches (punch id -> flags), keeping those they have; no commit."""
    for record in session.scalars(select(PunchRecord).where(PunchRecord.id.in_(sorted(flags)))):
        kinds = [k for k in (record.flags or "").split(",") if k]
        added = flags_columns(flags[record.id])
        record.flags = ",".join(dict.fromkeys([*kinds, *(added["flags"] or "").split(",")]))
        record.flag_detail = "\n".join(d for d in (record.flag_detail, added["flag_detail"]) if d)
    session.flush()


def seq_book(session: Session, pairs: Iterable[tuple[str, object]]) -> SeqBook:
    """The kiosks' highest stored seqs, and which of these (device, seq) pairs (seq as received:
    unchecked) are stored under which id, for ``hub.ingest.plausibility``.

    Only a seq at or below its kiosk's highest can be stored already, and a
    kiosk's new punches come above it: the second lookup runs only for
    resends and reused seqs. It asks ``device_id IN ... AND seq IN ...``,
    which SQLite answers from ``ix_punches_device_seq`` (a row-value IN it
    answers by scanning the table), and keeps the pairs asked for.
    """
    wanted = {(d, s) for d, s in pairs if isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= INT64_MAX}
    highest = highest_seqs(session, (d for d, _ in wanted))
    maybe_stored = {(d, s) for d, s in wanted if d in highest and s <= highest[d]}
    used: dict[tuple[str, int], str] = {}
    if maybe_stored:
        query = select(PunchRecord.device_id, PunchRecord.seq, PunchRecord.id).where(
            PunchRecord.device_id.in_(sorted({d for d, _ in maybe_stored})),
            PunchRecord.seq.in_(sorted({s for _, s in maybe_stored})))
        for device_id, seq, punch_id in session.execute(query):
            key = (device_id, seq)
            if key in maybe_stored and (key not in used or punch_id < used[key]):  # the first stored (UUIDv7)
                used[key] = punch_id
    return SeqBook(highest, used)


def insert_new_punches(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose id is not stored yet, in one statement; returns the ids inserted.

    ``rows`` must have distinct ids and the same keys. RETURNING names a row
    only when it was inserted (rowcount is not reliable for ON CONFLICT
    across drivers); SQLite has it since 3.35. The rows go in id order, so
    two workers storing overlapping batches take the key locks in the same
    order (PostgreSQL would otherwise be able to deadlock them).

    SQLite gets a multi-row VALUES list (SQLAlchemy's "insertmanyvalues").
    PostgreSQL gets the rows as one JSON array (``json_populate_recordset``):
    a constant statement with one parameter, instead of one whose 3,000
    placeholders psycopg would parse again for every batch (that cost more
    than the rest of storing the batch); per-column arrays would have
    psycopg escape every quote of every payload in Python.
    """
    if not rows:
        return set()
    rows = sorted(rows, key=lambda row: row["id"])
    table = PunchRecord.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[table.c.id]).returning(table.c.id)
        return set(session.execute(stmt, rows).scalars())
    if dialect == "postgresql":
        names = list(rows[0])
        records = func.json_populate_recordset(literal_column(f"NULL::{table.name}"),
                                               cast(bindparam("rows", type_=Text), postgresql.JSON))
        source = select(*(literal_column(name) for name in names)).select_from(records)
        stmt = (postgresql.insert(table).from_select(names, source)
                .on_conflict_do_nothing(index_elements=[table.c.id]).returning(table.c.id))
        return set(session.execute(stmt, {"rows": json.dumps(rows, default=_json_value)}).scalars())
    raise NotImplementedError(f"insert-or-ignore is not written for {dialect}")


def _json_value(value: Any) -> str:
    """What ``json.dumps`` cannot write itself, for PostgreSQL to read back: aware datetimes as ISO 8601."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.isoformat()
    raise TypeError(f"not stored as JSON: {type(value).__name__}")


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
        **flags_columns(accepted.flags),
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


def highest_seqs(session: Session, device_ids: Iterable[str]) -> dict[str, int]:
    """The highest seq stored from each of these kiosks (``ix_punches_device_seq``); absent: none stored."""
    wanted = sorted(set(device_ids))
    if not wanted:
        return {}
    query = (select(PunchRecord.device_id, func.max(PunchRecord.seq)).where(PunchRecord.device_id.in_(wanted))
             .group_by(PunchRecord.device_id))
    return {device_id: seq for device_id, seq in session.execute(query)}


def list_punches(session: Session, *, limit: int = 100, **filters: Any) -> list[PunchRecord]:
    """Newest first (device time); filters as in ``punch_query``."""
    query = punch_query(**filters).order_by(PunchRecord.device_ts.desc(), PunchRecord.id.desc()).limit(limit)
    return list(session.scalars(query))


def count_punches(session: Session, **filters: Any) -> int:
    return session.scalar(select(func.count()).select_from(punch_query(**filters).subquery())) or 0


def may_be_flagged(policy: FlagPolicy) -> ColumnElement[bool]:
    """Punches ``rules.punch_flags`` may flag: a superset, in cheap tests only (the rules decide).

    A device time later than the receive time stands in for "more than
    ``clock_ahead_s`` later".
    """
    return or_(
        PunchRecord.flags.is_not(None),
        PunchRecord.margin < policy.low_margin_below,
        PunchRecord.liveness_passed.is_not(True),
        PunchRecord.device_ts > PunchRecord.received_at,
    )


def list_flagged(session: Session, policy: FlagPolicy, *, limit: int, device_id: str | None = None,
                 since: datetime | None = None) -> list[tuple[PunchRecord, tuple[str, ...]]]:
    """Flagged punches, newest received first, each with its flags as the reports see them
    (``rules.punch_flags``: those stored at intake and those its numbers imply)."""
    query = select(PunchRecord).where(may_be_flagged(policy))
    if device_id is not None:
        query = query.where(PunchRecord.device_id == device_id)
    if since is not None:
        query = query.where(PunchRecord.received_at >= since)
    query = query.order_by(PunchRecord.received_at.desc(), PunchRecord.id.desc())
    out: list[tuple[PunchRecord, tuple[str, ...]]] = []
    offset = 0
    while len(out) < limit:  # the superset holds some the rules do not flag: read on until enough
        rows = list(session.scalars(query.offset(offset).limit(limit)))
        for row in rows:
            flags = punch_flags(stored=row.flags, margin=row.margin, liveness_passed=row.liveness_passed,
                                ahead_s=(row.device_ts - row.received_at).total_seconds(), policy=policy)
            if flags and len(out) < limit:
                out.append((row, flags))
        if len(rows) < limit:
            break
        offset += limit
    return out


def list_rejected(session: Session, *, limit: int = 100, device_id: str | None = None) -> list[RejectedMessage]:
    """Newest first; ``device_id``: only what that kiosk sent (its device page)."""
    query = select(RejectedMessage).order_by(RejectedMessage.id.desc()).limit(limit)
    if device_id is not None:
        query = query.where(RejectedMessage.device_id == device_id)
    return list(session.scalars(query))
