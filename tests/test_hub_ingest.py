"""IngestWorker against a real Mosquitto and a SQLite file, with a plain paho client as the kiosk."""

import secrets
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder
from devtools.mosquitto import MosquittoProcess
from hub.config import HubConfig
from hub.db import (
    Device,
    Employee,
    PunchRecord,
    RejectedMessage,
    init_db,
    make_engine,
    make_session_factory,
)
from hub.devices import registry
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import enrol_folder
from hub.ingest.worker import IngestWorker
from protocol import messages, signing, topics
from tests.hub_db import postgres_database
from tests.polling import wait_until
from tests.punchkit import KioskLink, signed_punch, to_payload

pytestmark = pytest.mark.broker

SITE, DEVICE = "site-a", "kiosk-01"
KEY = signing.generate_private_key()


class Hub:
    """A database with a site, a registered device and an employee, and workers started on demand."""

    def __init__(self, tmp_path: Path, port: int, database_url: str | None = None, **ingest) -> None:
        token = tmp_path / "admin.token"
        token.write_text(secrets.token_urlsafe(32))
        self.engine = make_engine(database_url or f"sqlite:///{tmp_path / 'hub.sqlite'}", busy_timeout_ms=50)
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.config = HubConfig.model_validate({
            "database_url": self.engine.url.render_as_string(hide_password=False), "admin_token_file": str(token),
            "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"hub-test-{secrets.token_hex(4)}"},
            "ingest": {"retry_initial_s": 0.05, "retry_max_s": 0.2, **ingest},
        })
        with self.sessions() as s:
            registry.add_site(s, SITE, "Office A")
            registry.register_device(s, DEVICE, SITE, signing.public_key_b64(KEY))
            s.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
            s.commit()
        self.workers: list[IngestWorker] = []

    def start_worker(self) -> IngestWorker:
        worker = IngestWorker(self.config, self.sessions)
        self.workers.append(worker)
        worker.start()
        assert worker.ready.wait(20), "ingest worker did not subscribe"
        return worker

    def punch_count(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(PunchRecord))

    def rejected(self) -> list[RejectedMessage]:
        with self.sessions() as s:
            return list(s.scalars(select(RejectedMessage).order_by(RejectedMessage.id)))

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.engine.dispose()


@pytest.fixture
def hub(tmp_path, broker):
    h = Hub(tmp_path, broker.port)
    yield h
    h.close()


@pytest.fixture
def kiosk(broker):
    with KioskLink(broker.port, DEVICE) as link:
        yield link


def good_punch(**over) -> dict:
    return signed_punch(KEY, DEVICE, SITE, "E1", **over)


def test_punch_is_stored_once_acked_after_commit_and_acked_again_on_redelivery(hub, kiosk):
    worker = hub.start_worker()
    punch = good_punch(liveness={"passed": True, "score": 0.9})
    kiosk.publish(topics.PUNCH, to_payload(punch))
    assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]]), kiosk.received
    assert hub.punch_count() == 1

    kiosk.publish(topics.PUNCH, to_payload(punch))  # the kiosk lost the first ack and resends
    assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]] * 2), kiosk.received
    assert hub.punch_count() == 1
    assert kiosk.acks()[0].rejected == [] and kiosk.acks()[1].rejected == []
    assert {k: worker.stats[k] for k in ("received", "stored", "duplicates", "rejected")} == {
        "received": 2, "stored": 1, "duplicates": 1, "rejected": 0}


@pytest.mark.postgres
def test_punch_is_stored_once_on_postgresql(tmp_path, broker, kiosk):
    database = postgres_database()
    hub = Hub(tmp_path, broker.port, database_url=next(database))
    try:
        hub.start_worker()
        punch, forged = good_punch(), signed_punch(signing.generate_private_key(), DEVICE, SITE, "E1")
        for fields in (punch, punch, forged):
            kiosk.publish(topics.PUNCH, to_payload(fields))
        # one ack or several, depending on how the three fall into batches
        assert kiosk.wait_for(lambda k: k.rejections() and punch["id"] in k.acked_ids()), kiosk.received
        assert set(kiosk.acked_ids()) == {punch["id"]}
        assert kiosk.rejections() == [(forged["id"], "bad signature")]
        assert hub.punch_count() == 1 and len(hub.rejected()) == 1
    finally:
        hub.close()
        database.close()


def test_bad_signature_is_rejected_with_reason_and_kept_for_audit(hub, kiosk):
    worker = hub.start_worker()
    forged = signed_punch(signing.generate_private_key(), DEVICE, SITE, "E1")
    kiosk.publish(topics.PUNCH, to_payload(forged))
    assert kiosk.wait_for(lambda k: k.rejections() == [(forged["id"], "bad signature")]), kiosk.received
    assert kiosk.acked_ids() == [] and hub.punch_count() == 0
    [row] = hub.rejected()
    assert (row.punch_id, row.reason, row.device_id, row.payload) == (
        forged["id"], "bad signature", DEVICE, to_payload(forged))
    assert worker.stats["rejected"] == 1


def test_garbage_is_kept_and_the_worker_carries_on(hub, kiosk):
    worker = hub.start_worker()
    kiosk.publish(topics.PUNCH, b"\x00\x01 not json at all \xff")
    kiosk.publish(topics.PUNCH, b"x" * (hub.config.max_payload_bytes + 10))
    punch = good_punch(seq=2)
    kiosk.publish(topics.PUNCH, to_payload(punch))
    assert kiosk.wait_for(lambda k: punch["id"] in k.acked_ids()), kiosk.received
    assert worker.is_alive() and hub.punch_count() == 1
    reasons = [(r.reason.split(":")[0], r.payload_size, len(r.payload)) for r in hub.rejected()]
    big = hub.config.max_payload_bytes + 10
    assert reasons == [("not JSON", 20, 20), ("payload too large", big, hub.config.max_payload_bytes)]
    assert kiosk.rejections() == []  # nothing with an id to answer


def test_unknown_employee_is_refused_and_the_good_punch_beside_it_stored(hub, kiosk):
    hub.start_worker()
    unknown, known = signed_punch(KEY, DEVICE, SITE, "E404"), good_punch()
    kiosk.publish(topics.PUNCH, to_payload(unknown))
    kiosk.publish(topics.PUNCH, to_payload(known))
    assert kiosk.wait_for(lambda k: len(k.acked_ids()) + len(k.rejections()) == 2), kiosk.received
    assert kiosk.rejections() == [(unknown["id"], "employee not allowed at site")]
    assert kiosk.acked_ids() == [known["id"]] and hub.punch_count() == 1


@pytest.mark.parametrize("registered, reason", [(True, "topic/device mismatch"), (False, "unknown device")])
def test_punch_on_another_devices_topic_is_refused_to_that_topic(hub, kiosk, broker, registered, reason):
    if registered:
        with hub.sessions() as s:
            registry.register_device(s, "kiosk-02", SITE, signing.public_key_b64(signing.generate_private_key()))
            s.commit()
    hub.start_worker()
    with KioskLink(broker.port, "kiosk-02") as other:
        punch = good_punch()  # made by kiosk-01, published under kiosk-02's topic
        kiosk.publish(topics.PUNCH, to_payload(punch), device_id="kiosk-02")
        assert other.wait_for(lambda k: k.rejections() == [(punch["id"], reason)]), other.received
    assert kiosk.acks() == [] and hub.punch_count() == 0


def test_punches_sent_while_the_hub_is_down_wait_in_the_broker(hub, kiosk):
    hub.start_worker().stop()  # the hub's persistent session now exists at the broker
    punches = [good_punch(seq=i) for i in range(450)]  # a backlog larger than a batch and the inflight window
    for punch in punches:
        kiosk.publish(topics.PUNCH, to_payload(punch))
    worker = hub.start_worker()
    assert kiosk.wait_for(lambda k: sorted(k.acked_ids()) == sorted(p["id"] for p in punches), timeout_s=120)
    assert hub.punch_count() == 450 and worker.stats["stored"] == 450


def test_locked_database_means_no_ack_and_the_broker_redelivers_later(hub, kiosk):
    worker = hub.start_worker()
    lock = sqlite3.connect(hub.engine.url.database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        punch = good_punch()
        kiosk.publish(topics.PUNCH, to_payload(punch))
        assert wait_until(lambda: worker.stats["commit_failures"] >= 2)
        assert kiosk.acks() == []
        worker.stop()  # the hub goes away without having stored it
    finally:
        lock.rollback()
        lock.close()
    assert hub.punch_count() == 0
    worker = hub.start_worker()  # same client id: the broker resends the unacked punch
    assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]]), kiosk.received
    assert hub.punch_count() == 1 and worker.stats["stored"] == 1


def queue_backlog_while_away(hub: Hub, kiosk: KioskLink, count: int) -> list[dict]:
    """A worker's shared session made at the broker, then ``count`` punches queued for it while it
    is away, as after a hub outage; returns the punches."""
    hub.config.mqtt.shared_group = "hub"  # as state-wide workers run
    hub.start_worker().stop()  # its persistent session stays at the broker
    punches = [good_punch(seq=n) for n in range(1, count + 1)]
    for punch in punches:
        kiosk.publish(topics.PUNCH, to_payload(punch))
    return punches


def test_a_backlog_waits_at_the_broker_not_in_the_workers_memory(tmp_path, broker, kiosk):
    """A worker holds at most ``ingest.receive_max`` messages waiting, however big the backlog.

    Mosquitto 2.0.11 sends a backlog queued while the worker was away faster
    than the worker stores it, past the Receive Maximum the worker asked for
    (930 of these 1,000 waited in memory at once; a 1,000,000-punch backlog
    grew a worker to 870 MB), so the worker stops reading when its inbox is full.
    """
    hub = Hub(tmp_path, broker.port, batch_max=10, receive_max=20)
    try:
        punches = queue_backlog_while_away(hub, kiosk, 1000)
        worker = hub.start_worker()
        assert kiosk.wait_for(lambda k: len(k.acked_ids()) == 1000, timeout_s=60), len(kiosk.acked_ids())
        assert sorted(kiosk.acked_ids()) == sorted(p["id"] for p in punches)
        assert hub.punch_count() == 1000 and worker.stats["stored"] == 1000
        assert worker.stats["delivered"] == 1000
        assert worker.inbox_high_water() <= 20
    finally:
        hub.close()


def test_a_database_stall_in_the_middle_of_a_backlog_loses_nothing(tmp_path):
    """The inbox full, the backlog still at the broker, the database stalls: nothing is stored or
    acked meanwhile, nothing more piles up in the worker, and afterwards every punch is stored once
    and acked (paho's thread waiting on a full inbox must not hold up the worker or its acks)."""
    with MosquittoProcess(tmp_path / "mosquitto", extra_config="max_queued_messages 10000\n") as broker, \
            KioskLink(broker.port, DEVICE) as kiosk:
        hub = Hub(tmp_path, broker.port, batch_max=10, receive_max=20)
        try:
            punches = queue_backlog_while_away(hub, kiosk, 3000)
            worker = hub.start_worker()
            assert wait_until(lambda: worker.stats["stored"] >= 50, interval_s=0.005)
            lock = sqlite3.connect(hub.engine.url.database, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")  # the database stalls mid-drain
            try:
                assert wait_until(lambda: worker.stats["commit_failures"] >= 1)
                stored_before = worker.stats["stored"]
                assert stored_before < 3000, "the backlog drained before the stall: nothing was tested"
                time.sleep(2)
                assert worker.stats["stored"] == stored_before
                assert worker.inbox_high_water() <= 20
            finally:
                lock.rollback()
                lock.close()
            assert kiosk.wait_for(lambda k: set(k.acked_ids()) == {p["id"] for p in punches}, timeout_s=60), \
                len(set(kiosk.acked_ids()))
            assert hub.punch_count() == 3000 and worker.stats["stored"] == 3000
        finally:
            hub.close()


def test_receive_window_must_hold_a_batch(tmp_path):
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    with pytest.raises(ValueError, match="receive_max .* must be at least ingest.batch_max"):
        HubConfig.model_validate({"database_url": "sqlite:///x.sqlite", "admin_token_file": str(token),
                                  "ingest": {"batch_max": 500, "receive_max": 100}})


def test_commit_is_retried_until_the_lock_goes(hub, kiosk):
    worker = hub.start_worker()
    lock = sqlite3.connect(hub.engine.url.database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    punch = good_punch()
    try:
        kiosk.publish(topics.PUNCH, to_payload(punch))
        assert wait_until(lambda: worker.stats["commit_failures"] >= 1)
        assert kiosk.acks() == []
    finally:
        lock.rollback()
        lock.close()
    assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]]), kiosk.received
    assert hub.punch_count() == 1


def test_a_punch_the_database_refuses_is_kept_for_audit_and_does_not_stall_the_batch(hub, kiosk):
    """A permanent store failure (here a real trigger) is narrowed down to its message."""
    with hub.sessions() as s:
        s.add(Employee(employee_id="E-poison", name="P", home_site_id=SITE))
        s.commit()
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON punches WHEN NEW.employee_id = 'E-poison' "
                             "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    hub.config.ingest.batch_wait_s = 1.0  # let both punches land in one batch
    worker = hub.start_worker()
    poison, good = signed_punch(KEY, DEVICE, SITE, "E-poison"), good_punch()
    kiosk.publish(topics.PUNCH, to_payload(poison))
    kiosk.publish(topics.PUNCH, to_payload(good))
    assert kiosk.wait_for(lambda k: good["id"] in k.acked_ids()), kiosk.received
    assert wait_until(lambda: len(hub.rejected()) == 1)
    [row] = hub.rejected()
    assert (row.punch_id, row.reason) == (poison["id"], "internal error: could not store (IntegrityError)")
    assert row.payload == to_payload(poison)
    assert poison["id"] not in kiosk.acked_ids() and kiosk.rejections() == []  # the kiosk keeps it and resends
    assert hub.punch_count() == 1 and worker.is_alive()


def test_shared_subscription_group(tmp_path, broker, kiosk):
    hub = Hub(tmp_path, broker.port)
    hub.config.mqtt.shared_group = "hub"
    try:
        hub.start_worker()
        punch = good_punch()
        kiosk.publish(topics.PUNCH, to_payload(punch))
        assert kiosk.wait_for(lambda k: k.acked_ids() == [punch["id"]]), kiosk.received
    finally:
        hub.close()


@pytest.mark.faces
def test_gallery_request_gets_the_enrolled_people_and_applied_is_recorded(hub, kiosk, faces_dir, tmp_path):
    people = tmp_path / "people"
    for name in ("Barack_Obama", "Benazir_Bhutto"):
        (people / name).mkdir(parents=True)
        for photo in sorted((faces_dir / "dev" / name).glob("*.jpg"))[:2]:
            (people / name / photo.name).symlink_to(photo)
    with hub.sessions() as s:
        report = enrol_folder(s, FaceEncoder(), people, SITE, consent_taken=ConsentTaken("paper", "test"))
        s.commit()
    assert report.gallery_version == 1 and report.photos_accepted == 4

    worker = hub.start_worker()
    with KioskLink(kiosk.port, "kiosk-unknown") as unknown:
        request = messages.GalleryRequest(site_id=SITE, have_version=0).to_json()
        kiosk.publish(topics.GALLERY_REQUEST, request, device_id="kiosk-unknown")  # not registered: ignored
        kiosk.publish(topics.GALLERY_REQUEST, request)
        assert kiosk.wait_for(lambda k: len(k.deltas()) == 1), kiosk.received
        assert worker.stats["gallery_requests"] == 2 and unknown.deltas() == []
    delta = kiosk.deltas()[0]
    assert (delta.site_id, delta.full, delta.from_version, delta.to_version) == (SITE, True, 0, 1)
    assert {p.employee_id: (p.name, len(p.encodings)) for p in delta.upserts} == {
        "Barack_Obama": ("Barack Obama", 2), "Benazir_Bhutto": ("Benazir Bhutto", 2)}
    assert messages.decode_template(delta.upserts[0].encodings[0]).shape == (128,)

    kiosk.publish(topics.GALLERY_REQUEST, messages.GalleryRequest(site_id=SITE, have_version=1).to_json())
    assert kiosk.wait_for(lambda k: len(k.deltas()) == 2)
    assert kiosk.deltas()[1].upserts == [] and (kiosk.deltas()[1].full, kiosk.deltas()[1].to_version) == (False, 1)

    kiosk.publish(topics.GALLERY_APPLIED, messages.GalleryApplied(site_id=SITE, version=1).to_json())

    def confirmed() -> int | None:
        with hub.sessions() as s:
            return s.get(Device, DEVICE).gallery_version

    assert wait_until(lambda: confirmed() == 1)
