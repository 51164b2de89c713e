"""Hostile payloads through a real Mosquitto to the real ingest worker: none of them stalls ingest (issue 17).

One kiosk's credentials are enough to publish anything on its own topics.
Whatever it sends, every valid punch of every other kiosk is still acked
promptly; each bad message is refused with a reason, answered when it
carries an id fit to echo and otherwise counted in /metrics, and none is
left unacked at the broker, however many there are.
"""

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import metrics
from hub.db import FaceTemplate, GalleryMember, Site
from hub.devices import registry
from protocol import messages, signing, topics
from protocol.ids import new_punch_id
from tests.punchkit import KioskLink, punch_fields, signed_punch, to_payload
from tests.test_hub_ingest import DEVICE, SITE, Hub, good_punch

pytestmark = pytest.mark.broker

OTHERS = {"kiosk-02": signing.generate_private_key(), "kiosk-03": signing.generate_private_key()}
RECEIVE_MAX = 20
ACK_WITHIN_S = 2.0
DIGITS = "9" * 5000


@dataclass(frozen=True)
class Bad:
    """A bad message and what the hub must make of it: a rejection of ``punch_id`` in the
    kiosk's ack, or (``punch_id`` None) an audit row nobody is told about."""

    name: str
    payload: bytes
    reason: str  # how the reason begins
    punch_id: str | None = None


def spliced(fields: dict, marker: str, text: str) -> bytes:
    """``fields`` as JSON with the string ``marker`` replaced by raw JSON ``text`` (json cannot write it)."""
    return to_payload(fields).replace(json.dumps(marker).encode(), text.encode())


def nested(depth: int) -> bytes:
    """A JSON object holding arrays ``depth`` deep."""
    return b'{"id": "x", "deep": ' + b"[" * depth + b"]" * depth + b"}"


def unsigned(employee_id: str = "E1", **over) -> bytes:
    """A punch of the attacker's kiosk that json can write but nothing can sign."""
    return to_payload(punch_fields(DEVICE, SITE, employee_id, sig="x", **over))


def bad_messages() -> list[Bad]:
    """One of each kind the attacker found, on the attacker's own punch topic."""
    answered = {name: new_punch_id() for name in ("surrogate_employee", "nan", "distance", "seq", "passed")}
    return [
        Bad("int_in_seq", spliced(good_punch(seq="SEQ"), "SEQ", DIGITS), "not JSON: a number of more than"),
        Bad("int_in_distance", spliced(good_punch(match={"distance": "D", "gallery_version": 1}), "D", DIGITS),
            "not JSON: a number of more than"),
        Bad("int_at_top", DIGITS.encode(), "not JSON: a number of more than"),
        Bad("nested_32000", nested(32_000), "not JSON: nested too deeply"),
        Bad("nested_100000", nested(100_000), "not JSON: nested too deeply"),
        Bad("surrogate_id", unsigned(id="\ud800"), "not JSON: text with a lone surrogate"),
        Bad("surrogate_employee", unsigned("E\udc00", id=answered["surrogate_employee"]),
            "not JSON: text with a lone surrogate", answered["surrogate_employee"]),
        Bad("nan", spliced(good_punch(id=answered["nan"], match={"distance": "N", "gallery_version": 1}), "N", "NaN"),
            "not JSON: NaN", answered["nan"]),
        Bad("distance_true", to_payload(good_punch(id=answered["distance"],
                                                   match={"distance": True, "gallery_version": 1})),
            "schema: match.distance", answered["distance"]),
        Bad("seq_string", to_payload(good_punch(id=answered["seq"], seq="5")), "schema: seq", answered["seq"]),
        Bad("passed_yes", to_payload(good_punch(id=answered["passed"], liveness={"passed": "yes"})),
            "schema: liveness.passed", answered["passed"]),
        Bad("two_megabytes", b'{"id": "' + b"x" * (2 << 20) + b'"}', "payload too large"),
        Bad("not_json", b"\x00 not json \xff", "not JSON"),
        Bad("array", b"[1, 2, 3]", "not a JSON object"),
        Bad("empty", b"", "not JSON"),
    ]


@pytest.fixture
def hub(tmp_path, broker) -> Iterator[Hub]:
    """Kiosks 01 (the attacker's), 02 and 03 at one site; a worker with a small window (``RECEIVE_MAX``)."""
    h = Hub(tmp_path, broker.port, batch_max=10, receive_max=RECEIVE_MAX)
    h.config.max_payload_bytes = 256 * 1024  # so that 100,000 brackets reach the JSON parser
    with h.sessions() as s:
        for device_id, key in OTHERS.items():
            registry.register_device(s, device_id, SITE, signing.public_key_b64(key))
        s.commit()
    yield h
    h.close()


@pytest.fixture
def links(broker) -> Iterator[dict[str, KioskLink]]:
    with KioskLink(broker.port, DEVICE) as attacker, KioskLink(broker.port, "kiosk-02") as k2, \
            KioskLink(broker.port, "kiosk-03") as k3:
        yield {DEVICE: attacker, "kiosk-02": k2, "kiosk-03": k3}


def punch_of(device_id: str, **over) -> dict:
    return signed_punch(OTHERS[device_id], device_id, SITE, "E1", **over)


def send_and_wait_for_ack(link: KioskLink, punch: dict) -> float:
    """Publish a valid punch; the seconds until its ack arrived (polled), failing past ``ACK_WITHIN_S``."""
    started = time.monotonic()
    link.publish(topics.PUNCH, to_payload(punch))
    assert link.wait_for(lambda k: punch["id"] in k.acked_ids(), timeout_s=ACK_WITHIN_S), \
        f"{link.device_id}: no ack within {ACK_WITHIN_S} s"
    return time.monotonic() - started


def refuse_inserts(hub: Hub, table: str, when: str) -> None:
    """A real database fault, not a transient one: a trigger aborts each insert into ``table`` matching ``when``."""
    db = sqlite3.connect(hub.engine.url.database)
    with db:
        db.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {when} "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    db.close()


def unanswered(hub: Hub) -> dict[str, float]:
    """hub_punches_unanswered_total by reason, as /metrics shows it."""
    with hub.sessions() as s:
        text = metrics.render(s, hub.config, datetime.now(timezone.utc)).decode()
    return {sample.labels["reason"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "hub_punches_unanswered_total"}


def test_each_hostile_payload_is_refused_with_a_reason_and_other_kiosks_are_acked_meanwhile(hub, links):
    worker = hub.start_worker()
    bad = bad_messages()
    for n, message in enumerate(bad):
        links[DEVICE].publish(topics.PUNCH, message.payload)
        device_id = list(OTHERS)[n % 2]
        send_and_wait_for_ack(links[device_id], punch_of(device_id, seq=n + 1))
    answered = [(b.punch_id, b.reason) for b in bad if b.punch_id]
    attacker = links[DEVICE]
    assert attacker.wait_for(lambda k: len(k.rejections()) == len(answered)), attacker.rejections()
    assert [i for i, _ in attacker.rejections()] == [i for i, _ in answered]
    assert all(got.startswith(want) for (_, got), (_, want) in zip(attacker.rejections(), answered))
    assert attacker.acked_ids() == []
    rows = hub.rejected()  # in the order sent: each went before the valid punch that was acked after it
    assert [row.payload_size for row in rows] == [len(message.payload) for message in bad]
    for message, row in zip(bad, rows):
        assert row.reason.startswith(message.reason), (message.name, row.reason)
        assert row.punch_id == message.punch_id, message.name
    assert hub.punch_count() == len(bad) and worker.stats["rejected"] == len(bad) and worker.stats["dropped"] == 0
    counted = unanswered(hub)
    assert counted["not JSON"] == 8 and counted["payload too large"] == 1 and counted["not a JSON object"] == 1
    assert sum(counted.values()) == len(bad) - len(answered)


def test_a_poisoned_health_or_status_message_does_not_sink_the_punches_in_its_batch(hub, links):
    hub.config.ingest.batch_wait_s = 1.0  # the report and the punches after it share one batch
    worker = hub.start_worker()
    poisons = [
        (topics.HEALTH, b'{"ts": ' + DIGITS.encode() + b"}", "not JSON: a number of more than 4300 digits"),
        (topics.HEALTH, nested(32_000), "not JSON: nested too deeply"),
        (topics.HEALTH, json.dumps({"sw_version": "\ud800"}).encode(), "not JSON: text with a lone surrogate"),
        (topics.HEALTH, b'{"ts": "2026-11-22T09:14:03Z", "uptime_s": true, "outbox_depth": 0, "gallery_version": 0, '
                        b'"sw_version": "x"}', "schema: uptime_s: Input should be a valid number"),
        (topics.STATUS, b'{"state": "online", "gallery_version": ' + DIGITS.encode() + b"}",
         "not JSON: a number of more than 4300 digits"),
        (topics.STATUS, b'{"state": "online", "gallery_version": "7"}', "schema: gallery_version: Input should be"),
    ]
    for kind, poison, _ in poisons:
        punches = [punch_of(device_id) for device_id in OTHERS]
        links[DEVICE].publish(kind, poison)
        for punch in punches:
            links[punch["device_id"]].publish(topics.PUNCH, to_payload(punch))
        for punch in punches:
            assert links[punch["device_id"]].wait_for(lambda k, i=punch["id"]: i in k.acked_ids(), timeout_s=5), \
                (poison[:40], links[punch["device_id"]].received)
    assert worker.stats["device_reports_rejected"] == len(poisons) and worker.stats["dropped"] == 0
    rows = hub.rejected()
    assert [row.topic for row in rows] == [topics.device_topic(DEVICE, kind) for kind, _, _ in poisons]
    for row, (_, _, reason) in zip(rows, poisons):
        assert row.reason.startswith(reason), row.reason


def test_more_poison_than_the_receive_window_never_stalls_ingest_even_after_a_restart(hub, links):
    """60 bad messages, three times ``ingest.receive_max``: a worker that left them unacked
    would be granted no more messages by the broker, before a restart or after."""
    worker = hub.start_worker()
    unanswerable = [b for b in bad_messages() if b.punch_id is None and b.name != "two_megabytes"]
    poison = [unanswerable[n % len(unanswerable)].payload for n in range(3 * RECEIVE_MAX)]
    for payload in poison:
        links[DEVICE].publish(topics.PUNCH, payload)
    waits = [send_and_wait_for_ack(links[device_id], punch_of(device_id, seq=n))
             for n, device_id in enumerate([*OTHERS, *OTHERS])]
    assert worker.stats["rejected"] == len(poison) and worker.stats["stored"] == 4
    worker.stop()

    restarted = hub.start_worker()  # same client id: the broker would resend whatever was left unacked
    waits += [send_and_wait_for_ack(links[device_id], punch_of(device_id, seq=10 + n))
              for n, device_id in enumerate(OTHERS)]
    assert restarted.stats["delivered"] == 2 and restarted.stats["rejected"] == 0, "nothing was left unacked"
    assert len(hub.rejected()) == len(poison) and hub.punch_count() == 6
    assert max(waits) < ACK_WITHIN_S


def test_a_message_that_cannot_even_be_audited_is_dropped_and_its_batch_acked(hub, links):
    """A real database fault (a trigger) refuses both the punch and its audit row: the message is
    PUBACKed and counted, and the other kiosks' punches in its batch are stored and acked."""
    hub.config.ingest.batch_wait_s = 1.0
    poisoned = good_punch(seq=666)
    refuse_inserts(hub, "punches", "NEW.seq = 666")
    refuse_inserts(hub, "rejected_messages", f"NEW.punch_id = '{poisoned['id']}'")
    worker = hub.start_worker()
    others = [punch_of(device_id, seq=n) for n, device_id in enumerate(OTHERS, start=1)]
    links[DEVICE].publish(topics.PUNCH, to_payload(poisoned))
    for punch in others:
        links[punch["device_id"]].publish(topics.PUNCH, to_payload(punch))
    for punch in others:
        assert links[punch["device_id"]].wait_for(lambda k, i=punch["id"]: k.acked_ids() == [i], timeout_s=5), \
            links[punch["device_id"]].received
    assert worker.stats["dropped"] == 1 and hub.punch_count() == 2 and hub.rejected() == []
    assert links[DEVICE].acks() == [], "a hub fault is not answered: the kiosk keeps the punch and resends it"
    worker.stop()
    restarted = hub.start_worker()
    send_and_wait_for_ack(links["kiosk-02"], punch_of("kiosk-02", seq=10))
    assert restarted.stats["delivered"] == 1, "the dropped message was PUBACKed, not left for redelivery"


def test_a_hub_fault_is_kept_for_audit_and_counted_not_answered(hub, links):
    """The punch row is refused by the database, its audit row is not: kept, counted, not answered."""
    refuse_inserts(hub, "punches", "NEW.seq = 666")
    worker = hub.start_worker()
    poisoned = good_punch(seq=666)
    links[DEVICE].publish(topics.PUNCH, to_payload(poisoned))
    send_and_wait_for_ack(links["kiosk-02"], punch_of("kiosk-02"))
    [row] = hub.rejected()
    assert (row.punch_id, row.reason) == (poisoned["id"], "internal error: could not store (IntegrityError)")
    assert links[DEVICE].acks() == [] and worker.stats["dropped"] == 0
    assert unanswered(hub)["internal error"] == 1


def test_a_bug_after_the_reports_of_a_batch_does_not_leave_its_punches_unacked(hub, links):
    """A corrupt face template (3 bytes, not 512) makes the gallery push that follows a health
    message raise: the punches that came in the same batch are handled on their own and acked."""
    hub.config.ingest.batch_wait_s = 1.0
    with hub.sessions() as s:
        s.get(Site, SITE).gallery_version = 1
        s.add_all([GalleryMember(site_id=SITE, employee_id="E1", version=1),
                   FaceTemplate(employee_id="E1", encoding=b"\x00\x01\x02", source="corrupt.jpg")])
        s.commit()
    worker = hub.start_worker()
    behind = messages.Health(ts=datetime.now(timezone.utc), uptime_s=1.0, outbox_depth=0, gallery_version=0,
                             sw_version="0.1.0")
    punches = [punch_of(device_id) for device_id in OTHERS]
    links[DEVICE].publish(topics.HEALTH, behind.to_json())
    for punch in punches:
        links[punch["device_id"]].publish(topics.PUNCH, to_payload(punch))
    for punch in punches:
        assert links[punch["device_id"]].wait_for(lambda k, i=punch["id"]: k.acked_ids() == [i], timeout_s=5), \
            links[punch["device_id"]].received
    assert worker.stats["health"] == 1 and worker.stats["stored"] == 2 and worker.stats["dropped"] == 0
    worker.stop()
    restarted = hub.start_worker()
    send_and_wait_for_ack(links["kiosk-02"], punch_of("kiosk-02"))
    assert restarted.stats["delivered"] == 1, "nothing was left unacked"
