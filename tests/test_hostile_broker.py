"""An attacker holding one kiosk's own MQTT credentials, against the broker `provision broker` sets up.

Mosquitto runs only the generated ``att.conf`` (dynamic security plugin,
TLS listener, the CA and server certificate); the hub is the real
IngestWorker and the victim kiosk the real MqttLink, both over TLS with the
files provisioning made. Negative checks never wait for a timeout: a
permitted message sent after the forbidden ones arrives last (Mosquitto
keeps one publisher's order), so once it is in, nothing else can come.
"""

import json
import secrets
import ssl
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.db import Employee, PunchRecord, init_db, make_engine, make_session_factory
from hub.devices import registry
from hub.ingest.worker import IngestWorker
from kiosk.config import KioskConfig
from kiosk.decision import PunchDecision
from kiosk.link import MqttLink
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import signing, topics
from provisioning import broker, bundle, tls
from tests.fleetkit import BROKER_NAME, Fleet, client_cert, provision_fleet
from tests.polling import wait_until
from tests.punchkit import signed_punch, to_payload

pytestmark = pytest.mark.broker

SITE, EMPLOYEE = "S1", "E1"
HUB_CLIENT_ID = "hub-ingest"
WAIT_S = 30


class Hub:
    """A hub database holding the fleet's devices (their bundles' keys) and the real ingest worker."""

    def __init__(self, tmp_path: Path, fleet: Fleet, device_ids: list[str], cert: dict[str, str] | None = None) -> None:
        token = tmp_path / "admin.token"
        token.write_text(secrets.token_urlsafe(32))
        self.engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        with self.sessions() as s:
            registry.add_site(s, SITE, "Office")
            for device_id in device_ids:
                public_key = bundle.read_meta(fleet.bundle(device_id))["public_key"]
                registry.register_device(s, device_id, SITE, public_key)
            s.add(Employee(employee_id=EMPLOYEE, name="E One", home_site_id=SITE))
            s.commit()
        config = HubConfig.model_validate({
            "database_url": self.engine.url.render_as_string(hide_password=False), "admin_token_file": str(token),
            "mqtt": {"host": BROKER_NAME, "port": fleet.mosquitto.port, "username": "hub",
                     "password_file": str(fleet.out / broker.HUB_PASSWORD_FILE), "ca_file": str(fleet.ca_file),
                     "client_id": HUB_CLIENT_ID, "shared_group": "hub", **(cert or {})},
        })
        self.worker = IngestWorker(config, self.sessions)

    def start(self) -> "Hub":
        self.worker.start()
        assert self.worker.ready.wait(WAIT_S), "ingest worker did not subscribe over TLS"
        return self

    def punch_count(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(PunchRecord))

    def close(self) -> None:
        self.worker.stop()
        self.engine.dispose()


class Kiosk:
    """The real kiosk link and outbox, configured with its bundle's password and CA."""

    def __init__(self, tmp_path: Path, fleet: Fleet, device_id: str, cert: dict[str, str] | None = None) -> None:
        folder = fleet.bundle(device_id)
        self.config = KioskConfig(
            device_id=device_id, site_id=SITE, state_dir=tmp_path / device_id,
            signing_key_file=folder / bundle.CREDENTIALS / bundle.DEVICE_KEY, liveness={"mode": "off"},
            mqtt={"host": BROKER_NAME, "port": fleet.mosquitto.port, "keepalive_s": 10, "reconnect_max_s": 1.0,
                  "password_file": str(folder / bundle.CREDENTIALS / bundle.MQTT_PASSWORD),
                  "ca_file": str(folder / bundle.CA_CERT), **(cert or {})})
        self.key = signing.load_private_key(self.config.signing_key_file)
        self.outbox = Outbox(self.config.state_dir / "outbox.sqlite")
        self.link = MqttLink(self.config, self.outbox, sw_version="test", gallery_version=lambda: 0)

    def start(self) -> "Kiosk":
        self.link.start()
        assert self.link.connected.wait(WAIT_S), "kiosk did not connect over TLS"
        return self

    def punch(self) -> None:
        decision = PunchDecision(EMPLOYEE, 0.31, 0.2, LivenessState(True, 0.0, None, "off"))
        self.outbox.add(lambda seq: make_signed_punch(
            self.key, device_id=self.config.device_id, site_id=SITE, decision=decision,
            ts=datetime.now(ZoneInfo("Asia/Kolkata")), gallery_version=0, seq=seq))
        self.link.wake()

    def unacked(self) -> int:
        return len(self.outbox.due(100_000, 0))

    def close(self) -> None:
        self.link.stop()
        self.outbox.close()


@pytest.fixture
def fleet(tmp_path):
    fleet = provision_fleet(tmp_path, ["K-A", "K-B", "K-C"])
    yield fleet
    fleet.close()


@pytest.fixture
def hub(tmp_path, fleet):
    hub = Hub(tmp_path, fleet, ["K-A", "K-B", "K-C"]).start()
    yield hub
    hub.close()


@pytest.fixture
def victim(tmp_path, fleet):
    kiosk = Kiosk(tmp_path, fleet, "K-B").start()
    yield kiosk
    kiosk.close()


def test_a_kiosk_cannot_take_over_another_kiosks_or_the_hubs_session(fleet, hub, victim):
    watcher = fleet.connect("hub")
    watcher.subscribe(topics.device_topic("K-B", topics.STATUS), topics.device_topic("K-B", topics.PUNCH))
    victim.punch()
    assert wait_until(lambda: victim.unacked() == 0 and hub.punch_count() == 1, WAIT_S), "first punch acked over TLS"

    for client_id in ("K-B", HUB_CLIENT_ID, f"{HUB_CLIENT_ID}-out"):
        thief = fleet.connect("K-A", client_id=client_id)
        assert thief.reason is not None and thief.reason.is_failure, client_id
        assert not thief.connected, client_id

    assert victim.link.connected.is_set() and hub.worker.ready.is_set()
    victim.punch()
    assert wait_until(lambda: victim.unacked() == 0 and hub.punch_count() == 2, WAIT_S), "later punch acked"
    seen = [watcher.next() for _ in range(3)]  # retained birth, then both punches; a last will would be among them
    assert [topic.rsplit("/", 1)[1] for topic, _ in seen] == ["status", "punch", "punch"]
    assert json.loads(seen[0][1])["state"] == "online"
    assert watcher.messages.empty(), list(watcher.messages.queue)


def test_a_kiosk_cannot_subscribe_to_other_kiosks_punches(fleet, hub):
    spy = fleet.connect("K-A")
    wanted = (topics.subscription(topics.PUNCH, "hub"), topics.subscription(topics.PUNCH), "#", "$share/x/#")
    assert all(code.is_failure for code in spy.subscribe(*wanted))
    publishers = {d: (fleet.connect(d), signing.load_private_key(fleet.bundle(d) / "credentials/device.key"))
                  for d in ("K-B", "K-C")}
    for _ in range(20):
        for device_id, (client, key) in publishers.items():
            client.publish(topics.device_topic(device_id, topics.PUNCH),
                           to_payload(signed_punch(key, device_id, SITE, EMPLOYEE)))
    assert wait_until(lambda: hub.punch_count() == 40, WAIT_S), "all 40 punches at the hub (none diverted to the spy)"
    own_ack = fleet.connect("hub")
    assert not spy.subscribe(topics.device_topic("K-A", topics.ACK))[0].is_failure
    own_ack.publish(topics.device_topic("K-A", topics.ACK), b"marker")
    assert spy.next() == (topics.device_topic("K-A", topics.ACK), b"marker")
    assert spy.messages.empty(), list(spy.messages.queue)


def test_tls_refuses_plaintext_a_foreign_ca_and_a_wrong_server_name(tmp_path, fleet):
    assert fleet.connect("K-A").connected

    plaintext = fleet.connect("K-A", plaintext=True)
    assert not plaintext.connected and plaintext.reason is None

    (tmp_path / "other-ca").mkdir()
    tls.ensure_ca(tmp_path / "other-ca")  # same name, another key: an impostor broker's CA
    wrong_ca = fleet.connect("K-A", ca_file=tmp_path / "other-ca" / tls.CA_CERT)
    assert isinstance(wrong_ca.error, ssl.SSLCertVerificationError), wrong_ca.error

    wrong_name = fleet.connect("K-A", host="127.0.0.1")  # the certificate names only "localhost"
    assert isinstance(wrong_name.error, ssl.SSLCertVerificationError), wrong_name.error
    assert "127.0.0.1" in str(wrong_name.error)


def test_client_certificates_when_the_broker_requires_them(tmp_path):
    fleet = provision_fleet(tmp_path, ["K-A"], "--client-certs")
    kiosk_cert, key = client_cert(fleet.bundle("K-A"))
    hub = kiosk = None
    try:
        assert "require_certificate true" in (fleet.out / broker.CONF_FILE).read_text().splitlines()
        installed = yaml.safe_load((fleet.bundle("K-A") / bundle.KIOSK_YAML).read_text())["mqtt"]
        assert installed["cert_file"] == "/etc/kiosk/credentials/mqtt-client.crt"
        assert not fleet.connect("K-A").connected  # the password alone no longer does
        hub = Hub(tmp_path, fleet, ["K-A"], {"cert_file": str(fleet.out / broker.HUB_CLIENT_CERT),
                                             "key_file": str(fleet.out / broker.HUB_CLIENT_KEY)}).start()
        kiosk = Kiosk(tmp_path, fleet, "K-A", {"cert_file": str(kiosk_cert), "key_file": str(key)}).start()
        kiosk.punch()
        assert wait_until(lambda: kiosk.unacked() == 0 and hub.punch_count() == 1, WAIT_S), "punch acked"
    finally:
        for part in (kiosk, hub, fleet):
            if part is not None:
                part.close()
