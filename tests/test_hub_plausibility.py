"""Punches a stolen kiosk key could sign: judged at intake (hub.plausibility), pure and through a real broker.

The pure rules are tables; the broker tests run the real ingest worker
against a real Mosquitto and sign every punch with a real device key, as a
kiosk (or someone holding its card) would.
"""

import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from hub import registry
from hub.config import HubConfig
from hub.db import Employee, PunchRecord, RejectedMessage, init_db, make_engine, make_session_factory
from hub.ingest import IngestWorker
from protocol import messages, signing, topics
from tests.polling import wait_until
from tests.punchkit import KioskLink, signed_punch, to_payload

SITE, DEVICE = "site-a", "kiosk-01"
KEY = signing.generate_private_key()


# --- through the broker: the real ingest worker ----------------------------------


class Hub:
    """A SQLite hub with one site, kiosk and employee, and its ingest worker."""

    def __init__(self, tmp_path: Path, port: int, **config) -> None:
        token = tmp_path / "admin.token"
        token.write_text(secrets.token_urlsafe(32))
        self.engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}", busy_timeout_ms=50)
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.config = HubConfig.model_validate({
            "database_url": str(self.engine.url), "admin_token_file": str(token),
            "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"hub-test-{secrets.token_hex(4)}"},
            "ingest": {"retry_initial_s": 0.05, "retry_max_s": 0.2}, **config,
        })
        with self.sessions() as session:
            registry.add_site(session, SITE, "Office A")
            registry.register_device(session, DEVICE, SITE, signing.public_key_b64(KEY))
            session.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
            session.commit()
        self.worker = IngestWorker(self.config, self.sessions)
        self.worker.start()
        assert self.worker.ready.wait(20), "ingest worker did not subscribe"

    def punches(self) -> dict[str, PunchRecord]:
        with self.sessions() as session:
            return {p.id: p for p in session.scalars(select(PunchRecord))}

    def rejected(self) -> list[RejectedMessage]:
        with self.sessions() as session:
            return list(session.scalars(select(RejectedMessage).order_by(RejectedMessage.id)))

    def close(self) -> None:
        self.worker.stop()
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


def send(kiosk: KioskLink, *punches: dict) -> None:
    """Publish signed punches and wait until the hub has answered for each."""
    for fields in punches:
        kiosk.publish(topics.PUNCH, to_payload(fields))
    wanted = {p["id"] for p in punches}
    assert kiosk.wait_for(lambda k: wanted <= set(k.acked_ids()) | {i for i, _ in k.rejections()}), kiosk.received


@pytest.mark.broker
def test_acks_carry_the_highest_stored_seq_and_the_hub_time(hub, kiosk):
    before = datetime.now(timezone.utc)
    send(kiosk, signed_punch(KEY, DEVICE, SITE, "E1", seq=41), signed_punch(KEY, DEVICE, SITE, "E1", seq=42))
    acks = kiosk.acks()
    assert acks[-1].seq == 42
    assert all(before <= a.hub_ts <= datetime.now(timezone.utc) for a in acks)
    stranger = signed_punch(KEY, DEVICE, SITE, "E9", seq=43)  # refused (not allowed at the site): not stored
    send(kiosk, stranger)
    assert kiosk.acks()[-1].seq == 42 and kiosk.acks()[-1].rejected[0].id == stranger["id"]
