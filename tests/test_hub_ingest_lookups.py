"""What a batch looks up and stores in bulk (issue 8) answers as the one-at-a-time rules do.

SQLite, and PostgreSQL when it answers.
"""

import json
from datetime import datetime, timezone

from sqlalchemy import select

from hub.db import Employee, PunchRecord, make_session_factory
from hub.devices import registry
from hub.enrolment.gallery import allowed_sites
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import signing, topics
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.punchkit import signed_punch
from tests.test_hub_ingest_batch import (
    DEVICE,
    KEY,
    SITE,
    Statements,
    decide,
    seed_people,
)

RECEIVED = datetime(2026, 11, 22, 3, 45, 0, 123456, tzinfo=timezone.utc)


def test_allowed_sites_of_a_batch_in_one_query(any_engine):
    sessions = make_session_factory(any_engine)
    seed_people(sessions)  # E1 home site-a; E2 home site-b, allowed at site-a; E3 site-b only; E4 has left
    with sessions() as session, Statements(any_engine) as sql:
        allowed = allowed_sites(session, ["E1", "E2", "E3", "E4", "E404", "E1"])
    assert allowed == {"E1": {SITE}, "E2": {"site-b", SITE}, "E3": {"site-b"}}
    assert len(sql.sql) == 1, sql.sql


def test_lookup_devices_follows_lookup_device(any_engine):
    sessions = make_session_factory(any_engine)
    seed_people(sessions)
    with sessions() as session:
        registry.register_device(session, "kiosk-02", SITE, signing.public_key_b64(signing.generate_private_key()))
        registry.retire_device(session, "kiosk-02")
        session.commit()
        wanted = [DEVICE, "kiosk-02", "kiosk-404"]
        found = registry.lookup_devices(session, wanted * 2)
        assert found == {d: registry.lookup_device(session, d) for d in wanted[:2]}
    assert found["kiosk-02"].retired and not found[DEVICE].retired


def test_a_stored_punch_keeps_every_value_and_the_payload_exactly(any_engine):
    """The PostgreSQL insert sends a batch as JSON: quotes, backslashes, non-ASCII text, offsets
    and microseconds must come back as they went in."""
    sessions = make_session_factory(any_engine)
    seed_people(sessions)
    with sessions() as session:
        session.add(Employee(employee_id='É"\\ü 1', name="Quoted", home_site_id=SITE))
        session.commit()
    punch = signed_punch(KEY, DEVICE, SITE, 'É"\\ü 1', ts="2026-11-22T09:14:03.512+05:30", seq=2**62,
                         liveness={"passed": False})
    payload = json.dumps(punch, ensure_ascii=False, indent=1).encode("utf-8")
    topic = topics.device_topic(DEVICE, topics.PUNCH)
    with sessions() as session:
        assert store_decisions(session, [(ReceivedMessage(topic, payload, RECEIVED), decide(payload))],
                               max_payload_bytes=4096) == ["stored"]
        session.commit()
    with sessions() as session:
        row = session.scalars(select(PunchRecord)).one()
    assert row.payload == payload.decode("utf-8")
    assert (row.employee_id, row.seq, row.gallery_version) == ('É"\\ü 1', 2**62, 1)
    assert row.device_ts == datetime(2026, 11, 22, 3, 44, 3, 512000, tzinfo=timezone.utc)
    assert row.device_utc_offset_min == 330 and row.received_at == RECEIVED
    assert (row.distance, row.margin, row.liveness_passed, row.liveness_score) == (0.38, 0.12, False, None)
