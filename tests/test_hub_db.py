"""hub.db and hub.ingest.punches against a real database: SQLite, and PostgreSQL when it answers."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from hub.db import (
    Employee,
    FaceTemplate,
    PunchRecord,
    RejectedMessage,
    init_db,
    make_session_factory,
)
from hub.devices import registry
from hub.ingest import punches
from hub.ingest.intake import DeviceRecord, check_punch
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import signing, topics
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)
from tests.punchkit import IST, signed_punch, to_payload

KEY = signing.generate_private_key()
DEVICE = DeviceRecord("kiosk-01", "site-a", signing.public_key_b64(KEY))
TOPIC = topics.device_topic("kiosk-01", topics.PUNCH)
RECEIVED = datetime(2026, 11, 22, 3, 45, 0, tzinfo=timezone.utc)


def decide(payload: bytes):
    return check_punch(TOPIC, payload, max_bytes=4096, device_lookup={"kiosk-01": DEVICE}.get,
                       is_allowed=lambda e, s: True)


def test_sqlite_connections_are_durable_and_enforce_foreign_keys(tmp_path):
    engine = sqlite_engine(tmp_path)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    with make_session_factory(engine)() as session:
        session.add(Employee(employee_id="E1", name="x", home_site_id="no-such-site"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_punch_round_trip_keeps_time_offset_payload_and_ignores_duplicates(any_engine):
    factory = make_session_factory(any_engine)
    local_ts = datetime(2026, 11, 22, 9, 14, 3, 512000, tzinfo=IST)
    fields = signed_punch(KEY, "kiosk-01", "site-a", "E1", ts=local_ts.isoformat(timespec="milliseconds"),
                          liveness={"passed": True, "score": 0.93})
    payload = to_payload(fields)
    message = ReceivedMessage(TOPIC, payload, RECEIVED)
    with factory() as session:
        assert store_decisions(session, [(message, decide(payload))] * 2, max_payload_bytes=4096) == [
            "stored", "duplicate"]
        session.commit()
    with factory() as session:  # a redelivery in a later batch
        assert store_decisions(session, [(message, decide(payload))], max_payload_bytes=4096) == ["duplicate"]
        session.commit()
    with factory() as session:
        rows = session.scalars(select(PunchRecord)).all()
        assert len(rows) == 1
        row = rows[0]
        assert row.device_ts == local_ts and row.device_ts.tzinfo is not None
        assert row.device_ts.utcoffset() == timedelta(0)
        assert row.device_utc_offset_min == 330
        assert row.received_at == RECEIVED
        assert (row.distance, row.margin, row.gallery_version, row.seq) == (0.38, 0.12, 1, 1)
        assert (row.liveness_passed, row.liveness_score) == (True, 0.93)
        assert row.payload.encode() == payload  # exactly as received, so the signature can be re-checked


def test_rejected_messages_are_kept_truncated_with_device_from_topic(any_engine):
    factory = make_session_factory(any_engine)
    forged = to_payload(signed_punch(signing.generate_private_key(), "kiosk-01", "site-a", "E1", pad="y" * 3000))
    garbage = b"\xff" * 5000
    with factory() as session:
        store_decisions(session, [
            (ReceivedMessage(TOPIC, forged, RECEIVED), decide(forged)),
            (ReceivedMessage(TOPIC, garbage, RECEIVED), decide(garbage)),
        ], max_payload_bytes=4096)
        session.commit()
    with factory() as session:
        rows = session.scalars(select(RejectedMessage).order_by(RejectedMessage.id)).all()
    assert [(r.device_id, r.reason[:13], r.payload_size) for r in rows] == [
        ("kiosk-01", "bad signature", len(forged)), ("kiosk-01", "payload too l", 5000)]
    assert rows[0].payload == forged and rows[1].payload == garbage[:4096]
    assert rows[0].punch_id is not None and rows[1].punch_id is None
    assert rows[0].received_at == RECEIVED


def test_listing_filters_and_counts_newest_first(any_engine):
    factory = make_session_factory(any_engine)
    base = datetime(2026, 11, 22, 9, 0, tzinfo=IST)
    made = []
    with factory() as session:
        for i, employee in enumerate(["E1", "E2", "E1"]):
            payload = to_payload(signed_punch(KEY, "kiosk-01", "site-a", employee,
                                              ts=(base + timedelta(minutes=i)).isoformat()))
            made.append(decide(payload).punch.id)
            store_decisions(session, [(ReceivedMessage(TOPIC, payload, RECEIVED), decide(payload))],
                            max_payload_bytes=4096)
        session.commit()
    with factory() as session:
        assert [p.id for p in punches.list_punches(session)] == made[::-1]
        assert [p.id for p in punches.list_punches(session, employee_id="E1")] == [made[2], made[0]]
        assert [p.id for p in punches.list_punches(session, limit=1)] == [made[2]]
        assert punches.count_punches(session) == 3
        assert punches.count_punches(session, employee_id="E2") == 1
        assert punches.count_punches(session, since=base + timedelta(minutes=1)) == 2
        assert punches.count_punches(session, site_id="elsewhere") == 0


def test_naive_datetimes_are_refused(any_engine):
    with make_session_factory(any_engine)() as session:
        registry.add_site(session, "site-a", "A")
        session.add(Employee(employee_id="E1", name="x", home_site_id="site-a"))
        session.add(FaceTemplate(employee_id="E1", encoding=b"\0" * 512, source="1.jpg",
                                 created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_init_db_is_idempotent(any_engine):
    init_db(any_engine)
    with make_session_factory(any_engine)() as session:
        assert registry.list_sites(session) == []
