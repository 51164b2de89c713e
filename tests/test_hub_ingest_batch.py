"""Batched storing (issues 7/8): a batch of punches costs a fixed number of statements and keeps
every guarantee of storing them one by one. SQLite, and PostgreSQL when it answers.

The worker tests put a whole backlog into ONE batch: the punches are published
while the hub's persistent session exists but no worker is connected, then a
worker with a long ``batch_wait_s`` takes them all at once (one ack message
per kiosk per batch shows that it did).
"""

from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from hub.db import (
    DeviceHealth,
    Employee,
    EmployeeAllowedSite,
    PunchRecord,
    make_session_factory,
)
from hub.devices import registry
from hub.ingest.intake import NOT_ALLOWED, DeviceRecord, check_punch
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import signing, topics
from tests.hub_db import any_engine, postgres_database  # noqa: F401  (fixture)
from tests.punchkit import KioskLink, signed_punch, to_payload
from tests.test_hub_ingest import DEVICE, KEY, SITE, Hub

RECEIVED = datetime(2026, 11, 22, 3, 45, 0, tzinfo=timezone.utc)
TOPIC = topics.device_topic(DEVICE, topics.PUNCH)


class Statements:
    """Counts the SQL statements an engine sends to the database while active."""

    def __init__(self, engine) -> None:
        self.engine, self.sql = engine, []

    def _record(self, _conn, _cursor, statement, _params, _context, _executemany) -> None:
        self.sql.append(" ".join(statement.split()))

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.sql if s.upper().startswith(prefix)]


def seed_people(sessions) -> None:
    """site-a with kiosk-01 and E1 (from Hub); E2 lives at site-b but may punch at site-a;
    E3 lives at site-b only; E4 has left."""
    with sessions() as s:
        if s.get(Employee, "E1") is None:  # a bare database (store-level tests)
            registry.add_site(s, SITE, "Office A")
            registry.register_device(s, DEVICE, SITE, signing.public_key_b64(KEY))
            s.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
        registry.add_site(s, "site-b", "Office B")
        s.add_all([Employee(employee_id="E2", name="E Two", home_site_id="site-b"),
                   Employee(employee_id="E3", name="E Three", home_site_id="site-b"),
                   Employee(employee_id="E4", name="E Four", home_site_id=SITE, active=False)])
        s.flush()
        s.add(EmployeeAllowedSite(employee_id="E2", site_id=SITE))
        s.commit()


# --- store level ------------------------------------------------------------------------------


def decide(payload: bytes):
    device = DeviceRecord(DEVICE, SITE, signing.public_key_b64(KEY))
    return check_punch(TOPIC, payload, max_bytes=4096, device_lookup={DEVICE: device}.get,
                       is_allowed=lambda e, s: True)


def test_a_batch_is_one_insert_and_reports_each_punch_in_order(any_engine):
    sessions = make_session_factory(any_engine)
    seed_people(sessions)
    old, *new = [signed_punch(KEY, DEVICE, SITE, "E1", seq=i) for i in range(41)]
    with sessions() as session:
        store_decisions(session, [(ReceivedMessage(TOPIC, to_payload(old), RECEIVED), decide(to_payload(old)))],
                        max_payload_bytes=4096)
        session.commit()
    forged = signed_punch(signing.generate_private_key(), DEVICE, SITE, "E1")
    batch = [*new[:20], old, new[3], forged, *new[20:], new[39]]
    decisions = [(ReceivedMessage(TOPIC, to_payload(p), RECEIVED), decide(to_payload(p))) for p in batch]
    with Statements(any_engine) as sql, sessions() as session:
        results = store_decisions(session, decisions, max_payload_bytes=4096)
        session.commit()
    assert results == ["stored"] * 20 + ["duplicate", "duplicate", "rejected"] + ["stored"] * 20 + ["duplicate"]
    assert len(sql.starting("INSERT INTO PUNCHES")) == 1, sql.sql
    assert len(sql.sql) <= 2, sql.sql  # the punches, and the one audit row
    with sessions() as session:
        ids = list(session.scalars(select(PunchRecord.id)))
    assert sorted(ids) == sorted(p["id"] for p in [old, *new])


# --- the worker, through a real broker ----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request, tmp_path, broker):
    database = postgres_database() if request.param == "postgresql" else None
    h = Hub(tmp_path, broker.port, database_url=next(database) if database else None, batch_wait_s=2.0)
    try:
        yield h
    finally:
        h.close()
        if database is not None:
            database.close()


@pytest.fixture
def kiosk(broker):
    with KioskLink(broker.port, DEVICE) as link:
        yield link


def publish_while_down(hub: Hub, kiosk: KioskLink, payloads: list[bytes]):
    """Queue ``payloads`` at the broker for the hub's session, then start a worker: one batch."""
    for payload in payloads:
        kiosk.publish(topics.PUNCH, payload)
    return hub.start_worker()


@pytest.mark.broker
def test_the_same_punch_twice_in_one_batch_is_stored_once_and_both_are_acked(hub, kiosk):
    hub.start_worker().stop()  # the hub's persistent session now exists at the broker
    punch = signed_punch(KEY, DEVICE, SITE, "E1")
    worker = publish_while_down(hub, kiosk, [to_payload(punch), to_payload(punch)])
    assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]]), kiosk.received
    assert len(kiosk.acks()) == 1 and kiosk.acks()[0].rejected == []  # one batch, one ack naming the id
    assert {k: worker.stats[k] for k in ("received", "stored", "duplicates", "rejected")} == {
        "received": 2, "stored": 1, "duplicates": 1, "rejected": 0}
    assert hub.punch_count() == 1

    # Both deliveries were acked to the broker too: a new worker on the same session
    # gets no redelivery before a fresh punch.
    worker.stop()
    worker = hub.start_worker()
    fresh = signed_punch(KEY, DEVICE, SITE, "E1")
    kiosk.publish(topics.PUNCH, to_payload(fresh))
    assert kiosk.wait_for(lambda k: fresh["id"] in k.acked_ids()), kiosk.received
    assert worker.stats["received"] == 1 and hub.punch_count() == 2


@pytest.mark.broker
def test_a_mixed_batch_stores_exactly_the_new_punches_and_answers_for_every_one(hub, kiosk):
    seed_people(hub.sessions)
    first = hub.start_worker()
    stored_before = signed_punch(KEY, DEVICE, SITE, "E1", seq=1)
    kiosk.publish(topics.PUNCH, to_payload(stored_before))
    assert kiosk.wait_for(lambda k: k.acked_ids() == [stored_before["id"]]), kiosk.received
    first.stop()
    with hub.sessions() as s:  # the kiosk's clock is now known to be 15 min off: new punches get flagged
        s.add(DeviceHealth(device_id=DEVICE, clock_skew_s=-900.0, health_at=datetime.now(timezone.utc),
                           telemetry='{"outbox_depth": 0}'))
        s.commit()

    # each its own seq, as a kiosk counts (a reused seq is flagged too)
    new = [signed_punch(KEY, DEVICE, SITE, e, seq=i) for i, e in enumerate(("E1", "E1", "E2"), 2)]  # E2: allowed
    forged = signed_punch(signing.generate_private_key(), DEVICE, SITE, "E1", seq=5)
    refused = {e: signed_punch(KEY, DEVICE, SITE, e, seq=i)  # unknown, elsewhere, left
               for i, e in enumerate(("E404", "E3", "E4"), 6)}
    batch = [new[0], stored_before, forged, new[1], refused["E404"], new[0], refused["E3"], new[2], refused["E4"]]
    with Statements(hub.engine) as sql:
        worker = publish_while_down(hub, kiosk, [to_payload(p) for p in batch] + [b"not json at all"])
        assert kiosk.wait_for(lambda k: len(k.acks()) == 2), kiosk.received
    assert len(sql.starting("INSERT INTO PUNCHES")) == 1, sql.sql
    # one SELECT for the batch's employees with their allowed sites, even with an id no one has (E404)
    assert len([s for s in sql.sql if "FROM employees " in s]) == 1, sql.sql
    ack = kiosk.acks()[1]  # the one ack for the whole batch
    assert sorted(ack.ids) == sorted(p["id"] for p in [*new, stored_before])
    assert sorted((r.id, r.reason) for r in ack.rejected) == sorted(
        [(forged["id"], "bad signature")] + [(p["id"], NOT_ALLOWED) for p in refused.values()])
    assert {k: worker.stats[k] for k in ("received", "stored", "duplicates", "rejected")} == {
        "received": 10, "stored": 3, "duplicates": 2, "rejected": 5}

    with hub.sessions() as s:
        rows = {p.id: p.flags for p in s.scalars(select(PunchRecord))}
    assert rows == {stored_before["id"]: None, **{p["id"]: "clock_skew" for p in new}}
    audit = sorted((r.punch_id or "", r.reason[:8]) for r in hub.rejected())
    assert audit == sorted([("", "not JSON"), (forged["id"], "bad sign")]
                           + [(p["id"], NOT_ALLOWED[:8]) for p in refused.values()])
