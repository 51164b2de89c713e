"""A stolen kiosk card yields no gallery, and a retired kiosk's key gets nothing from the hub (issue 17).

A kiosk is provisioned as the project does it (``provision device`` against
the real hub API, the bundle installed where first boot puts it), runs as
``KioskApp`` against the real ingest worker over a real Mosquitto, fetches
its gallery key and saves its gallery. Then only the files of its card
(config, credentials, state) are searched for anything that opens the
cache; the same kiosk restarted with the hub up opens it. Someone on the
network records the kiosk's key request and the hub's answer: the answer
opens with nothing on the card, a replay of the request gets an answer
nothing on the card opens, a request signed with another device's key
gets no answer, and after ``provision retire`` the card's own key gets
neither a gallery key nor a stored punch.
"""

import base64
import hashlib
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from devtools.mosquitto import MosquittoProcess, free_port
from hardware.replay import ReplayCamera
from hub.db import FaceTemplate
from hub.enrolment.gallery import sync_members
from hub.enrolment.gallery_keys import device_gallery_key, load_or_create_secret
from hub.ingest.worker import IngestWorker
from kiosk.app import GALLERY_FILE, OUTBOX_FILE, KioskApp, RunOptions
from kiosk.config import KioskConfig
from kiosk.decision import PunchDecision
from kiosk.gallery_key import HubGalleryKey, derive_card_key
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import messages, signing, topics
from protocol.settings import load_config
from provisioning.broker import CONF_FILE, DYNSEC_FILE, HUB_PASSWORD_FILE
from provisioning.cli import main as provision
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine
from tests.punchkit import signed_punch, to_payload

pytestmark = pytest.mark.broker

DEVICE, SITE = "K-STOLEN-1", "S-PHC1"
PEOPLE = ("H001",)  # the one person of seed_org at the site
WAIT_S = 30.0
HUB_URL = "http://testserver"


class Wire:
    """Someone on the network: sees every message of the device, and publishes as it (anonymous test broker)."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="wire", protocol=mqtt.MQTTv5)
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._client.subscribe(f"{topics.PREFIX}/dev/{DEVICE}/#", qos=1)
        assert self._subscribed.wait(WAIT_S), "the listener could not subscribe"

    def _on_subscribe(self, *_args) -> None:
        self._subscribed.set()

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def payloads(self, kind: str) -> list[bytes]:
        with self._cond:
            return [p for t, p in self.received if t == topics.device_topic(DEVICE, kind)]

    def wait_for(self, kind: str, count: int) -> list[bytes]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.payloads(kind)) >= count, WAIT_S), \
                f"expected {count} messages on {kind}, saw {len(self.payloads(kind))}"
        return self.payloads(kind)

    def publish(self, kind: str, payload: bytes) -> None:
        info = self._client.publish(topics.device_topic(DEVICE, kind), payload, qos=1)
        info.wait_for_publish(WAIT_S)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def hub_api(tmp_path: Path, engine, port: int, **mqtt) -> HubApi:
    """The real hub API on ``engine``; the site's gallery holds one person with three templates."""
    api = HubApi(tmp_path, engine, mqtt={"port": port, "client_id": "hub-stolen-card", **mqtt},
                 gallery_key_secret_file=str(tmp_path / "hub-etc" / "gallery-key.secret"))
    rng = np.random.default_rng(17)
    with api.sessions() as session:
        seed_org(session)
        for employee_id in PEOPLE:
            for n in range(3):
                template = rng.standard_normal(128).astype("<f4")
                session.add(FaceTemplate(employee_id=employee_id, encoding=(template / np.linalg.norm(template))
                                         .astype("<f4").tobytes(), source=f"{n}.jpg"))
        session.flush()
        sync_members(session, PEOPLE)
        session.commit()
    return api


def start_worker(api: HubApi) -> IngestWorker:
    worker = IngestWorker(api.config, api.sessions)
    worker.start()
    assert worker.ready.wait(WAIT_S), "ingest worker did not subscribe"
    return worker


@pytest.fixture
def hub(tmp_path, broker):
    """The real API and ingest worker on the test broker (anonymous, no ACL)."""
    engine = sqlite_engine(tmp_path)
    api = hub_api(tmp_path, engine, broker.port)
    worker = start_worker(api)
    yield api, worker
    worker.stop()
    api.close()
    engine.dispose()


def hub_transport(api: HubApi) -> httpx.MockTransport:
    """``provision`` talks HTTP to the real hub app (in-process)."""
    client = api.client()

    def forward(request: httpx.Request) -> httpx.Response:
        response = client.request(request.method, request.url.path, params=request.url.params,
                                  headers=request.headers, content=request.content)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    return httpx.MockTransport(forward)


def provision_card(api: HubApi, tmp_path: Path, port: int) -> Path:
    """``provision device``, then what first boot installs on the SD card: the bundle as /etc/kiosk and an
    empty /var/lib/kiosk, here under ``card/``. Returns the installed kiosk.yaml."""
    bundle, card = tmp_path / "bundles" / DEVICE, tmp_path / "card"
    # plaintext on loopback: these tests are about logins and keys, tests/test_provision_tls.py about TLS
    assert provision(["device", "--device-id", DEVICE, "--site", SITE, "--hub", HUB_URL, "--token-file",
                      str(tmp_path / "admin.token"), "--out", str(bundle), "--mqtt-host", "127.0.0.1",
                      "--mqtt-port", str(port), "--camera", "replay", "--plaintext-mqtt"],
                     transport=hub_transport(api)) == 0
    shutil.copytree(bundle, card / "etc" / "kiosk")
    path = card / "etc" / "kiosk" / "kiosk.yaml"
    config = yaml.safe_load(path.read_text())

    def on_card(pi_path: str) -> str:
        return str(card / pi_path.lstrip("/"))

    config["state_dir"] = on_card(config["state_dir"])
    config["signing_key_file"] = on_card(config["signing_key_file"])
    config["mqtt"]["password_file"] = on_card(config["mqtt"]["password_file"])
    config["mqtt"]["reconnect_max_s"] = 1
    config["indicators"] = None
    path.write_text(yaml.safe_dump(config))
    assert load_config(path, KioskConfig).gallery.key_source == "hub"   # the default the bundle gets
    return path


def run_kiosk(config_path: Path, tmp_path: Path) -> dict:
    """The kiosk as `kiosk run` starts it, over one blank frame (nobody in front of it)."""
    frames = tmp_path / "frames"
    frames.mkdir(exist_ok=True)
    cv2.imwrite(str(frames / "empty.png"), np.zeros((120, 160, 3), np.uint8))
    app = KioskApp(load_config(config_path, KioskConfig), ReplayCamera(frames, pace=False))
    return app.run(RunOptions(exit_when_done=True, wait_gallery_s=WAIT_S))


def candidate_keys(card: Path) -> Iterator[tuple[str, bytes]]:
    """Every key a thief could make from the card's files: the old card-derived key of each file, its raw
    32-byte windows, its hash, and the device key's seed, public key and X25519 forms."""
    for path in sorted(p for p in card.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if len(data.strip()) >= 32:
            yield f"old derivation from {path.name}", derive_card_key(path)
        yield f"sha256 of {path.name}", hashlib.sha256(data).digest()
        if len(data) <= 4096:
            for i in range(0, max(len(data) - 31, 0)):
                yield f"bytes {i}..{i + 32} of {path.name}", data[i:i + 32]
        if path.name == "device.key":
            key = signing.load_private_key(path)
            seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
            public = signing.public_key_bytes(signing.public_key_b64(key))
            yield "device key seed", seed
            yield "device public key", public
            yield "device key as X25519", sodium.crypto_sign_ed25519_sk_to_curve25519(seed + public)


def opens_cache(cache: bytes, key: bytes) -> bool:
    """Decrypt the cache file (format 2: magic, format, scheme, version, site) with ``key``."""
    fixed = struct.Struct("<8sHBQH")
    header_len = fixed.size + fixed.unpack_from(cache)[4]
    nonce, sealed = cache[header_len:header_len + 12], cache[header_len + 12:]
    try:
        AESGCM(key).decrypt(nonce, sealed, cache[:header_len])
    except InvalidTag:
        return False
    return True


def card_device_key(card: Path):
    return signing.load_private_key(card / "etc" / "kiosk" / "credentials" / "device.key")


def opens_answer(answer: bytes, card: Path) -> bool:
    """Whether the card opens a sealed gallery key the hub sent: as a kiosk started from the card
    would try, and with the device key turned into an X25519 key."""
    sealed = messages.parse(messages.GalleryKey, answer)
    if HubGalleryKey(DEVICE, card_device_key(card)).accept(sealed):
        return True
    x25519 = dict((label, key) for label, key in candidate_keys(card) if label == "device key as X25519")
    try:
        SealedBox(PrivateKey(x25519["device key as X25519"])).decrypt(base64.b64decode(sealed.sealed))
    except CryptoError:
        return False
    return True


def wait_stat(worker: IngestWorker, name: str, count: int) -> None:
    deadline = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if worker.stats[name] >= count:
            return
        deadline.wait(0.05)
    raise AssertionError(f"hub {name} is {worker.stats[name]}, expected {count}")


def test_the_card_alone_does_not_open_the_gallery_and_a_retired_key_gets_nothing(hub, broker, tmp_path):
    api, worker = hub
    config_path = provision_card(api, tmp_path, broker.port)
    card = tmp_path / "card"
    wire = Wire(broker.port)
    try:
        # 1. the kiosk starts, gets its key from the hub and saves the site's gallery
        first = run_kiosk(config_path, tmp_path)
        assert (first["gallery_version"], first["gallery_people"]) == (1, len(PEOPLE))
        assert worker.stats["gallery_keys_sent"] == 1
        request, answer = wire.payloads(topics.GALLERY_KEY_REQUEST)[0], wire.payloads(topics.GALLERY_KEY)[0]
        cache = (card / "var" / "lib" / "kiosk" / GALLERY_FILE).read_bytes()

        # 2. the card alone: nothing on it, and no old derivation from it, opens the cache ...
        tried = 0
        for label, key in candidate_keys(card):
            assert not opens_cache(cache, key), f"the cache opens with the {label}"
            tried += 1
        assert tried > 100
        # ... which the hub's key does (so the attempts above were real attempts)
        secret = load_or_create_secret(tmp_path / "hub-etc" / "gallery-key.secret")
        public = signing.public_key_bytes(signing.public_key_b64(card_device_key(card)))
        assert opens_cache(cache, device_gallery_key(secret, DEVICE, public))
        # ... and the recorded answer of the hub opens with nothing on the card either
        assert not opens_answer(answer, card)

        # 3. the same kiosk restarted with the hub up opens its cache: it asks for changes since version 1
        again = run_kiosk(config_path, tmp_path)
        assert (again["gallery_version"], again["gallery_people"]) == (1, len(PEOPLE))
        asked = [messages.parse(messages.GalleryRequest, p).have_version
                 for p in wire.payloads(topics.GALLERY_REQUEST)]
        assert asked == [0, 1]

        # 4. the recorded request replayed: the hub seals the key to a box key nobody holds any more
        wire.publish(topics.GALLERY_KEY_REQUEST, request)
        replayed = wire.wait_for(topics.GALLERY_KEY, 3)[2]
        assert not opens_answer(replayed, card)

        # 5. a request on this kiosk's topic signed with another device's key gets no answer
        wire.publish(topics.GALLERY_KEY_REQUEST, HubGalleryKey(DEVICE, signing.generate_private_key()).request())
        wait_stat(worker, "gallery_keys_refused", 1)
        assert len(wire.payloads(topics.GALLERY_KEY)) == 3

        # 6. reported stolen: `provision retire`; then the card's own key gets no gallery key ...
        auth = ["--hub", HUB_URL, "--token-file", str(tmp_path / "admin.token")]
        assert provision(["broker", "--devices-from", str(tmp_path / "bundles"), "--out", str(tmp_path / "broker"),
                          "--broker-host", "localhost", *auth], transport=hub_transport(api)) == 0
        assert DEVICE in (tmp_path / "broker" / DYNSEC_FILE).read_text()
        assert provision(["retire", DEVICE, *auth, "--devices-from", str(tmp_path / "bundles"),
                          "--broker-dir", str(tmp_path / "broker")], transport=hub_transport(api)) == 0
        thief = HubGalleryKey(DEVICE, card_device_key(card))
        wire.publish(topics.GALLERY_KEY_REQUEST, thief.request())
        wire.publish(topics.GALLERY_KEY_REQUEST, request)
        wait_stat(worker, "gallery_keys_refused", 3)
        assert len(wire.payloads(topics.GALLERY_KEY)) == 3 and not thief.ready.is_set()
        # ... and what it signs is not stored
        punch = signed_punch(card_device_key(card), DEVICE, SITE, "H001")
        wire.publish(topics.PUNCH, to_payload(punch))
        ack = messages.parse(messages.Ack, wire.wait_for(topics.ACK, 1)[0])
        assert [(r.id, r.reason) for r in ack.rejected] == [(punch["id"], "retired device")]
        assert DEVICE not in (tmp_path / "broker" / DYNSEC_FILE).read_text()  # and the broker files leave it out
    finally:
        wire.close()


def test_a_kiosk_booting_while_the_hub_is_away_waits_drains_its_outbox_and_decides_nothing(hub, broker, tmp_path):
    api, worker = hub
    config_path = provision_card(api, tmp_path, broker.port)
    assert run_kiosk(config_path, tmp_path)["gallery_version"] == 1     # a cache saved under the hub's key
    worker.stop()                                                        # the hub goes away; the broker stays

    config = load_config(config_path, KioskConfig)
    outbox = Outbox(config.state_dir / OUTBOX_FILE)                     # a punch still waiting from before
    outbox.add(lambda seq: make_signed_punch(
        card_device_key(tmp_path / "card"), device_id=DEVICE, site_id=SITE, ts=datetime.now(timezone.utc),
        decision=PunchDecision("H001", 0.3, 0.2, LivenessState(True, 0.0, None, "off")), gallery_version=1, seq=seq))
    outbox.close()
    wire = Wire(broker.port)
    app = KioskApp(config, ReplayCamera(tmp_path / "frames", pace=False))
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(app.run(RunOptions(
        exit_when_done=True, wait_gallery_s=WAIT_S, drain_timeout_s=WAIT_S))))
    runner.start()
    try:
        wire.wait_for(topics.PUNCH, 1)                                   # the outbox drains meanwhile
        wire.wait_for(topics.GALLERY_KEY_REQUEST, 2)                     # and it keeps asking
        assert app.link.is_gallery_locked() and app.gallery.version == 0 and len(app.gallery.gallery) == 0
        assert app.counts["frames"] == 0                                 # no frame looked at, nobody refused
        assert wire.payloads(topics.GALLERY_REQUEST) == []
        # a delta pushed meanwhile (here by someone on the wire) is not applied: nothing could save it
        wire.publish(topics.GALLERY_DELTA, messages.GalleryDelta(site_id=SITE, from_version=0, to_version=9,
                                                                 full=True).to_json())
        wire.wait_for(topics.GALLERY_DELTA, 1)

        hub_again = start_worker(api)                                    # the hub is back
        runner.join(WAIT_S * 3)
        assert not runner.is_alive()
        hub_again.stop()
    finally:
        app.stop()
        runner.join(WAIT_S)
        wire.close()
    assert (summary["gallery_version"], summary["gallery_people"], summary["frames"]) == (1, len(PEOPLE), 1)
    assert summary["punches_acked"] == 1 and summary["outbox_depth"] == 0
    assert [messages.parse(messages.GalleryRequest, p).have_version
            for p in wire.payloads(topics.GALLERY_REQUEST)] == [1]       # its own cache opened, nothing refetched
    assert [messages.parse(messages.GalleryApplied, p).version for p in wire.payloads(topics.GALLERY_APPLIED)] == [1]


def test_on_the_fleet_broker_a_retired_kiosk_is_refused_its_login(tmp_path):
    """The broker as `provision broker` makes it (per-device logins, ACL): the kiosk gets its key through
    it; after `provision retire` and a broker reload its login is refused."""
    port, broker_dir = free_port(), tmp_path / "broker"
    engine = sqlite_engine(tmp_path)
    api = hub_api(tmp_path, engine, port, username="hub", password_file=str(broker_dir / HUB_PASSWORD_FILE))
    config_path = provision_card(api, tmp_path, port)
    auth = ["--hub", HUB_URL, "--token-file", str(tmp_path / "admin.token")]
    # the kiosk's card speaks plaintext on loopback: this test is about logins, tests/test_hostile_broker.py about TLS
    assert provision(["broker", "--devices-from", str(tmp_path / "bundles"), "--out", str(broker_dir), *auth,
                      "--broker-host", "localhost", "--tls-port", str(free_port()), "--plaintext-port", str(port)],
                     transport=hub_transport(api)) == 0
    config = (broker_dir / CONF_FILE).read_text() + ("user root\n" if os.geteuid() == 0 else "")
    mosquitto = MosquittoProcess(tmp_path / "mosquitto", port=port, extra_config=config, plain_listener=False)
    mosquitto.start()
    worker = start_worker(api)
    try:
        assert run_kiosk(config_path, tmp_path)["gallery_version"] == 1
        assert worker.stats["gallery_keys_sent"] == 1
        card_password = (tmp_path / "card" / "etc" / "kiosk" / "credentials" / "mqtt.password").read_text().strip()
        assert login(port, DEVICE, card_password) == "Success"

        assert provision(["retire", DEVICE, *auth, "--devices-from", str(tmp_path / "bundles"),
                          "--broker-dir", str(broker_dir)], transport=hub_transport(api)) == 0
        mosquitto.restart()                                      # the broker reads the rewritten files
        assert login(port, DEVICE, card_password) == "Not authorized"
    finally:
        worker.stop()
        mosquitto.stop()
        api.close()
        engine.dispose()


def login(port: int, username: str, password: str) -> str:
    """The broker's answer to a login: its CONNACK reason."""
    answered, reason = threading.Event(), []

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        reason.append(str(reason_code))
        answered.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(WAIT_S), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return reason[0]
