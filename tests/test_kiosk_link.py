"""The kiosk's MQTT link against a real Mosquitto and a fake hub.

The fake hub is a plain paho client in the test: it subscribes to what
kiosks publish (``att/v1/dev/+/punch`` and the rest), records it, and
publishes acks, gallery deltas and commands as the real hub would. Nothing
in the link is mocked; waits have generous deadlines and assert on what
happened, never on how fast.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from hardware.replay import ReplayCamera
from kiosk import link as link_module
from kiosk.config import KioskConfig
from kiosk.decision import PunchDecision
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import CardGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore
from kiosk.link import MqttLink
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import messages, signing, topics

pytestmark = pytest.mark.broker

DEVICE, SITE = "kiosk-t1", "site-t1"
IST = ZoneInfo("Asia/Kolkata")
REPO = Path(__file__).resolve().parents[1]
WAIT_S = 30.0


def eventually(check: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class FakeHub:
    """The hub's side of the MQTT contract, reduced to recording and answering by hand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, str, bytes]] = []        # (device, kind, payload)
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.responders: list[Callable[[str, bytes], None]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-hub-{uuid.uuid4().hex[:6]}",
                                  clean_session=False)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def start(self) -> "FakeHub":
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "fake hub could not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, _rc, _props) -> None:
        client.subscribe([(topics.subscription(kind), 1) for kind in topics.KIOSK_PUBLISHES])

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        where = topics.parse_device_topic(msg.topic)
        with self.cond:
            self.received.append((where.device_id, where.kind, msg.payload))
            self.cond.notify_all()
        for respond in self.responders:
            respond(where.kind, msg.payload)

    # -- what arrived --------------------------------------------------------------

    def payloads(self, kind: str) -> list[bytes]:
        with self.cond:
            return [p for _d, k, p in self.received if k == kind]

    def punch_ids(self) -> list[str]:
        return [json.loads(p)["id"] for p in self.payloads(topics.PUNCH)]

    def requests(self) -> list[int]:
        return [messages.parse(messages.GalleryRequest, p).have_version
                for p in self.payloads(topics.GALLERY_REQUEST)]

    def kinds(self) -> list[str]:
        with self.cond:
            return [k for _d, k, _p in self.received]

    def wait(self, predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout_s):
                counts = {k: self.kinds().count(k) for k in set(self.kinds())}
                pytest.fail(f"fake hub: timed out waiting for {what}; received {counts}")

    # -- what the hub sends -----------------------------------------------------------

    def send(self, kind: str, payload: bytes, wait: bool = True) -> None:
        info = self.client.publish(topics.device_topic(DEVICE, kind), payload, qos=1)
        if wait:                                     # not from inside a callback: that would deadlock
            info.wait_for_publish(10)

    def ack(self, ids=(), rejected=(), wait: bool = True) -> None:
        ack = messages.Ack(ids=list(ids), rejected=[messages.Rejection(id=i, reason=r) for i, r in rejected])
        self.send(topics.ACK, ack.to_json(), wait)

    def auto_ack(self) -> None:
        """Ack every punch as it arrives, like the real hub after its commit."""
        def respond(kind: str, payload: bytes) -> None:
            if kind == topics.PUNCH:
                self.ack([json.loads(payload)["id"]], wait=False)
        self.responders.append(respond)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), path)
    return path


@pytest.fixture
def hub(broker):
    fake = FakeHub(broker.port).start()
    yield fake
    fake.stop()


def kiosk_config(tmp_path: Path, broker, key_file: Path, **mqtt_over) -> KioskConfig:
    mqtt_cfg = {"host": "127.0.0.1", "port": broker.port, "reconnect_max_s": 1.0, "keepalive_s": 10, **mqtt_over}
    return KioskConfig(device_id=DEVICE, site_id=SITE, state_dir=tmp_path / "state", signing_key_file=key_file,
                       mqtt=mqtt_cfg, liveness={"mode": "off"},
                       gallery={"key_source": "card"})  # the fake hub sends no gallery key


class Kiosk:
    """An outbox, a gallery cache and a link over one state dir, as the app wires them."""

    def __init__(self, config: KioskConfig, on_command=None) -> None:
        self.config = config
        self.key = signing.load_private_key(config.signing_key_file)
        self.outbox = Outbox(config.state_dir / "outbox.sqlite")
        self.gallery = GalleryCache(SITE, EncryptedGalleryStore(config.state_dir / "gallery.bin",
                                                                CardGalleryKey(config.signing_key_file)))
        self.gallery.load()
        self.link = MqttLink(config, self.outbox, sw_version="test", gallery_version=lambda: self.gallery.version,
                             on_gallery=self.gallery.apply, on_command=on_command)

    def punch(self, employee_id: str = "emp-1") -> str:
        decision = PunchDecision(employee_id, 0.31, 0.2, LivenessState(True, 0.0, None, "off"))
        row = self.outbox.add(lambda seq: make_signed_punch(
            self.key, device_id=DEVICE, site_id=SITE, decision=decision, ts=datetime.now(IST),
            gallery_version=self.gallery.version, seq=seq))
        self.link.wake()
        return row.id

    def rows(self) -> list[str]:
        return [r.id for r in self.outbox.due(100_000, 0)]

    def start(self, hub: FakeHub | None = None) -> "Kiosk":
        """Connect; with ``hub``, also wait until the kiosk's subscriptions are live.

        The kiosk subscribes, then asks for the gallery on the same connection;
        the broker handles one connection's packets in order, so once the hub
        has the request, what it sends to the kiosk is no longer dropped.
        """
        self.link.start()
        assert self.link.connected.wait(WAIT_S), "link did not connect"
        if hub is not None:
            hub.wait(lambda: len(hub.requests()) >= 1, "the kiosk's first gallery request")
        return self

    def stop(self) -> None:
        self.link.stop()
        self.outbox.close()


@pytest.fixture
def make_kiosk(tmp_path, broker, key_file):
    made: list[Kiosk] = []

    def make(on_command=None, **mqtt_over) -> Kiosk:
        k = Kiosk(kiosk_config(tmp_path, broker, key_file, **mqtt_over), on_command)
        made.append(k)
        return k

    yield make
    for k in made:
        k.stop()


def paho_unacked(client: mqtt.Client) -> int:
    """QoS 1 messages paho still waits a PUBACK for (paho internals: no public accessor exists)."""
    with client._out_message_mutex:
        return len(client._out_messages)


# -- punches and acks --------------------------------------------------------------------------


def test_rows_stay_after_the_broker_puback_until_the_hub_acks_them(hub, make_kiosk):
    kiosk = make_kiosk().start(hub)
    first, second = kiosk.punch(), kiosk.punch("emp-2")
    hub.wait(lambda: set(hub.punch_ids()) >= {first, second}, "both punches")
    assert hub.punch_ids()[:2] == [first, second]                      # in seq order
    eventually(lambda: paho_unacked(kiosk.link._client) == 0, "the broker's PUBACKs")
    assert kiosk.rows() == [first, second]                             # PUBACK is not the hub's ack

    hub.ack([str(uuid.uuid4())])                                       # an id we never sent: harmless
    hub.ack([second])
    eventually(lambda: kiosk.rows() == [first], "the acked row to leave")
    hub.ack([first, second])                                           # a repeated ack: harmless
    eventually(lambda: kiosk.outbox.depth() == 0, "the outbox to empty")
    assert kiosk.link.stats["punches_acked"] == 2
    punch = messages.parse(messages.Punch, hub.payloads(topics.PUNCH)[0])
    assert punch.device_id == DEVICE and punch.seq == 1


def test_an_unacked_punch_is_published_again_after_the_ack_timeout(hub, make_kiosk):
    kiosk = make_kiosk(ack_timeout_s=1.0).start(hub)
    punch_id = kiosk.punch()
    hub.wait(lambda: hub.punch_ids().count(punch_id) >= 2, "the same punch twice")
    assert kiosk.rows() == [punch_id]
    first, again = hub.payloads(topics.PUNCH)[:2]
    assert first == again                                              # the same signed bytes
    hub.ack([punch_id])
    eventually(lambda: kiosk.outbox.depth() == 0, "the outbox to empty")


def test_no_more_than_inflight_max_punches_wait_for_an_ack(hub, make_kiosk):
    kiosk = make_kiosk(inflight_max=5, ack_timeout_s=2.0)
    ids = [kiosk.punch(f"emp-{i}") for i in range(12)]                 # a backlog before we connect
    kiosk.start(hub)

    def first_resend() -> int | None:
        seen = hub.punch_ids()
        return next((i for i, p in enumerate(seen) if p in seen[:i]), None)

    hub.wait(lambda: first_resend() is not None, "a resend of the first window")
    assert hub.punch_ids()[:first_resend()] == ids[:5]                 # five, in order, then resends

    hub.ack(ids[:5])                                                   # room for the next five only
    hub.wait(lambda: set(hub.punch_ids()) >= set(ids[5:10]), "the second window")
    before = len(hub.punch_ids())
    hub.wait(lambda: any(p in ids[5:10] for p in hub.punch_ids()[before:]), "a resend of the second window")
    assert not set(hub.punch_ids()) & set(ids[10:])                     # never more than five unacked

    hub.auto_ack()
    hub.ack(ids[5:10])
    eventually(lambda: kiosk.outbox.depth() == 0, "the backlog to drain")
    assert set(hub.punch_ids()) == set(ids)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_every_punch_arrives_across_a_broker_restart(hub, make_kiosk, broker, how):
    """A graceful stop keeps the broker's sessions; a kill loses everything it queued."""
    hub.auto_ack()
    kiosk = make_kiosk(ack_timeout_s=2.0).start(hub)
    sent = [kiosk.punch() for _ in range(5)]
    eventually(lambda: kiosk.outbox.depth() == 0, "the first punches to be acked")

    sent += [kiosk.punch() for _ in range(5)]                          # some in flight as the broker goes
    getattr(broker, how)()
    eventually(lambda: not kiosk.link.connected.is_set(), "the link to notice")
    sent += [kiosk.punch() for _ in range(5)]                          # made while offline
    assert kiosk.outbox.depth() >= 5
    broker.start()

    eventually(lambda: kiosk.outbox.depth() == 0, "the outbox to drain after the restart")
    assert set(sent) <= set(hub.punch_ids())
    assert kiosk.link.stats["connects"] >= 2


def test_a_rejected_punch_moves_to_the_rejected_table(hub, make_kiosk):
    kiosk = make_kiosk().start(hub)
    bad, good = kiosk.punch(), kiosk.punch()
    hub.wait(lambda: set(hub.punch_ids()) >= {bad, good}, "both punches")
    hub.ack([good], rejected=[(bad, "bad signature")])
    eventually(lambda: kiosk.outbox.depth() == 0, "both rows to leave the outbox")
    assert kiosk.outbox.rejected() == [(bad, "bad signature")]
    assert kiosk.link.stats["punches_rejected"] == 1 and kiosk.link.stats["punches_acked"] == 1


def test_health_is_published_only_when_connected(hub, make_kiosk):
    kiosk = make_kiosk()
    health = messages.Health(ts=datetime.now(IST), uptime_s=1.0, outbox_depth=0, gallery_version=0,
                             sw_version="test")
    assert kiosk.link.publish_health(health) is False
    kiosk.start(hub)
    assert kiosk.link.publish_health(health) is True
    hub.wait(lambda: bool(hub.payloads(topics.HEALTH)), "health")
    assert messages.parse(messages.Health, hub.payloads(topics.HEALTH)[0]).outbox_depth == 0


# -- status: birth and last will ------------------------------------------------------------------


def retained_status(port: int, timeout_s: float = 3.0) -> messages.Status | None:
    """What a new subscriber to the status topic gets retained, or None.

    A status published live while the probe is subscribed arrives without the
    retain flag; it is skipped, and the next probe reads it retained (a kiosk
    that did not retain its status never gets there).
    """
    got: queue.Queue = queue.Queue()
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
    probe.on_connect = lambda c, *_: c.subscribe(topics.device_topic(DEVICE, topics.STATUS), qos=1)
    probe.on_message = lambda _c, _u, m: got.put(m.payload) if m.retain else None
    probe.connect("127.0.0.1", port)
    probe.loop_start()
    try:
        payload = got.get(timeout=timeout_s)
    except queue.Empty:
        return None
    finally:
        probe.disconnect()
        probe.loop_stop()
    return messages.parse(messages.Status, payload)


def status_becomes(port: int, state: str) -> messages.Status:
    def check():
        status = retained_status(port)
        return status if status is not None and status.state == state else None
    return eventually(check, f"retained status {state}")


def test_status_is_online_retained_and_offline_after_stop(make_kiosk, broker):
    kiosk = make_kiosk().start()
    online = status_becomes(broker.port, "online")
    assert online.sw_version == "test" and online.gallery_version == 0 and online.ts is not None
    kiosk.link.stop()
    offline = status_becomes(broker.port, "offline")
    assert offline.gallery_version is None


LINK_CHILD = r"""
import sys, threading
from kiosk.config import KioskConfig
from kiosk.link import MqttLink
from kiosk.outbox import Outbox

config = KioskConfig.model_validate_json(sys.argv[1])
link = MqttLink(config, Outbox(config.state_dir / "outbox.sqlite"), sw_version="child", gallery_version=lambda: 0)
link.start()
if not link.connected.wait(30):
    sys.exit("no connection")
print("up", flush=True)
threading.Event().wait()
"""


def test_the_last_will_says_offline_when_the_kiosk_dies(tmp_path, broker, key_file):
    config = kiosk_config(tmp_path, broker, key_file)
    proc = subprocess.Popen([sys.executable, "-c", LINK_CHILD, config.model_dump_json()], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up", proc.stderr.read() if proc.poll() is not None else ""
        assert status_becomes(broker.port, "online").sw_version == "child"
        os.kill(proc.pid, signal.SIGKILL)                              # no DISCONNECT: the broker sends the will
        proc.wait(10)
        offline = status_becomes(broker.port, "offline")
        assert offline.ts is None                                      # the will was written at connect time
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


# -- gallery sync ------------------------------------------------------------------------------------


def people(n: int, seed: int = 0) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Random unit 128-d templates: this tests sync, not recognition."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        templates = rng.normal(size=(1 + i % 2, 128)).astype(np.float32)
        out[f"emp-{seed}-{i}"] = (f"Person {i}", list(templates / np.linalg.norm(templates, axis=1, keepdims=True)))
    return out


def delta(to_version: int, upserts: dict, *, from_version: int = 0, full: bool = False, removed=(),
          site_id: str = SITE) -> bytes:
    return messages.GalleryDelta(
        site_id=site_id, from_version=from_version, to_version=to_version, full=full, removed=list(removed),
        upserts=[messages.GalleryPerson(employee_id=e, name=name,
                                        encodings=[messages.encode_template(t) for t in ts])
                 for e, (name, ts) in upserts.items()],
    ).to_json()


def applied_versions(hub: FakeHub) -> list[int]:
    return [messages.parse(messages.GalleryApplied, p).version for p in hub.payloads(topics.GALLERY_APPLIED)]


def serve_full_gallery(hub: FakeHub, version: int, content: dict, once: bool = True) -> None:
    answered = threading.Event()

    def respond(kind: str, payload: bytes) -> None:
        if kind == topics.GALLERY_REQUEST and not (once and answered.is_set()):
            request = messages.parse(messages.GalleryRequest, payload)
            if request.have_version != version:
                answered.set()
                hub.send(topics.GALLERY_DELTA, delta(version, content, full=True), wait=False)
    hub.responders.append(respond)


def test_a_full_gallery_is_applied_announced_and_cached_encrypted(hub, make_kiosk, tmp_path, key_file):
    content = people(3)
    serve_full_gallery(hub, 3, content)
    kiosk = make_kiosk().start(hub)
    hub.wait(lambda: 0 in hub.requests(), "the kiosk's gallery request")
    assert kiosk.link.gallery_applied.wait(WAIT_S)
    hub.wait(lambda: 3 in applied_versions(hub), "GalleryApplied 3")
    assert kiosk.gallery.version == 3 and len(kiosk.gallery.gallery) == 3
    assert kiosk.gallery.name_of("emp-0-1") == "Person 1"

    # after a reboot: a new cache over the same state dir recognises the same people
    cache = GalleryCache(SITE, EncryptedGalleryStore(tmp_path / "state" / "gallery.bin", CardGalleryKey(key_file)))
    assert cache.load() == 3
    assert sorted(cache.gallery.person_ids) == sorted(content)
    assert cache.name_of("emp-0-2") == "Person 2"
    for i, employee_id in enumerate(cache.gallery.person_ids):
        probe = np.mean(content[employee_id][1], axis=0)  # the gallery scores a person by their mean template
        assert cache.gallery.person_distances(probe)[i] == pytest.approx(0.0, abs=1e-3)
    assert b"Person 1" not in (tmp_path / "state" / "gallery.bin").read_bytes()   # encrypted at rest

    # an incremental delta on top of it: one removed, one added
    extra = people(1, seed=9)
    hub.send(topics.GALLERY_DELTA, delta(4, extra, from_version=3, removed=["emp-0-0"]))
    hub.wait(lambda: 4 in applied_versions(hub), "GalleryApplied 4")
    assert sorted(kiosk.gallery.gallery.person_ids) == sorted(["emp-0-1", "emp-0-2", *extra])
    reloaded = GalleryCache(SITE, EncryptedGalleryStore(tmp_path / "state" / "gallery.bin", CardGalleryKey(key_file)))
    assert reloaded.load() == 4


def test_a_delta_that_does_not_fit_makes_the_kiosk_ask_for_everything(hub, make_kiosk):
    serve_full_gallery(hub, 3, people(2))
    kiosk = make_kiosk().start(hub)
    hub.wait(lambda: 3 in applied_versions(hub), "GalleryApplied 3")
    asked = len(hub.requests())

    hub.send(topics.GALLERY_DELTA, delta(8, people(1, seed=5), from_version=7))     # we hold 3, not 7
    hub.wait(lambda: len(hub.requests()) > asked, "a new gallery request")
    assert hub.requests()[asked] == 0
    assert kiosk.gallery.version == 3 and len(kiosk.gallery.gallery) == 2
    assert 8 not in applied_versions(hub)


def test_a_delta_for_another_site_is_ignored(hub, make_kiosk):
    serve_full_gallery(hub, 3, people(2))
    kiosk = make_kiosk().start(hub)
    hub.wait(lambda: 3 in applied_versions(hub), "GalleryApplied 3")
    hub.send(topics.GALLERY_DELTA, delta(9, people(4, seed=2), full=True, site_id="elsewhere"))
    hub.send(topics.GALLERY_DELTA, delta(4, {}, from_version=3, removed=["emp-0-0"]))
    hub.wait(lambda: 4 in applied_versions(hub), "GalleryApplied 4")
    assert 9 not in applied_versions(hub)
    assert kiosk.gallery.version == 4 and kiosk.gallery.gallery.person_ids == ["emp-0-1"]


def test_a_full_gallery_that_cannot_be_applied_is_not_asked_for_again_at_once(hub, make_kiosk):
    """Asking again at once would loop: the hub answers the same full gallery, which fails the same way."""
    kiosk = make_kiosk().start(hub)
    hub.wait(lambda: len(hub.requests()) >= 1, "the first gallery request")
    bad = json.loads(delta(5, people(2), full=True))
    bad["upserts"][0]["encodings"] = [messages.encode_template(np.zeros(64))]        # 64-d: not a template
    asked = len(hub.requests())
    hub.send(topics.GALLERY_DELTA, json.dumps(bad).encode())
    marker = messages.Command(id="after-bad-gallery", name="config")
    hub.send(topics.CMD, marker.to_json())
    hub.wait(lambda: bool(hub.payloads(topics.CMD_RESULT)), "the marker's command result")
    assert len(hub.requests()) == asked                                # no request between delta and marker
    assert kiosk.gallery.version == 0


# -- robustness ----------------------------------------------------------------------------------------


def test_malformed_messages_are_ignored_and_the_link_keeps_working(hub, make_kiosk):
    kiosk = make_kiosk().start(hub)
    punch_id = kiosk.punch()
    hub.wait(lambda: punch_id in hub.punch_ids(), "the punch")
    garbage = [
        (topics.ACK, b"not json"),
        (topics.ACK, b"[1, 2, 3]"),
        (topics.ACK, b'{"ids": 5}'),
        (topics.ACK, b'{"ids": [], "unexpected": true}'),
        (topics.ACK, b"\xff\xfe\x00"),
        (topics.GALLERY_DELTA, b"{"),
        (topics.GALLERY_DELTA, b'{"v": 1, "site_id": "site-t1", "from_version": -1, "to_version": 2}'),
        (topics.CMD, b'{"v": 1, "id": "x", "name": "selfdestruct"}'),
        ("gallery/unknown", b"{}"),
    ]
    for kind, payload in garbage:
        hub.send(kind, payload)
    hub.ack([punch_id])
    eventually(lambda: kiosk.outbox.depth() == 0, "the good ack to be applied")
    assert kiosk.link.stats["bad_messages"] >= 8
    assert kiosk.link.connected.is_set()
    later = kiosk.punch()                                              # and the sender still works
    hub.wait(lambda: later in hub.punch_ids(), "a later punch")


def test_a_gallery_that_cannot_be_saved_does_not_kill_the_link(hub, make_kiosk, tmp_path):
    kiosk = make_kiosk()
    (tmp_path / "state" / "gallery.bin").mkdir()                       # the save fails like a broken disk
    kiosk.start(hub)
    hub.send(topics.GALLERY_DELTA, delta(2, people(2), full=True))
    punch_id = kiosk.punch()
    hub.wait(lambda: punch_id in hub.punch_ids(), "the punch")
    hub.ack([punch_id])
    eventually(lambda: kiosk.outbox.depth() == 0, "the ack after the failed gallery save")
    assert kiosk.gallery.version == 0                                  # not swapped in unsaved
    assert applied_versions(hub) == []
    alarm, = kiosk.link.alarms.active()                                # and health says why (issue 21)
    assert alarm.kind == messages.ALARM_STORAGE_ERROR and "cannot save the gallery cache" in alarm.detail


def test_a_failing_command_handler_answers_with_an_error(hub, make_kiosk):
    def explode(command):
        raise RuntimeError("handler broke")

    make_kiosk(on_command=explode).start(hub)
    hub.send(topics.CMD, messages.Command(id="c-9", name="resync").to_json())
    hub.wait(lambda: bool(hub.payloads(topics.CMD_RESULT)), "a command result")
    result = messages.parse(messages.CommandResult, hub.payloads(topics.CMD_RESULT)[0])
    assert (result.id, result.ok) == ("c-9", False) and "handler broke" in result.detail


def test_resync_command_through_the_kiosk_app(hub, tmp_path, broker, key_file):
    """The app's own command handler: resync asks the hub for the full gallery."""
    from kiosk.app import KioskApp

    serve_full_gallery(hub, 6, people(2))
    config = kiosk_config(tmp_path, broker, key_file)
    app = KioskApp(config, ReplayCamera(tmp_path / "no-frames"))       # never opened: only the link runs
    app.link.start()
    try:
        hub.wait(lambda: 6 in applied_versions(hub), "GalleryApplied 6")
        asked = len(hub.requests())
        hub.send(topics.CMD, messages.Command(id="cmd-1", name="resync").to_json())
        hub.wait(lambda: bool(hub.payloads(topics.CMD_RESULT)), "the command result")
        result = messages.parse(messages.CommandResult, hub.payloads(topics.CMD_RESULT)[0])
        assert (result.id, result.ok) == ("cmd-1", True)
        hub.wait(lambda: 0 in hub.requests()[asked:], "a request for the full gallery")

        hub.send(topics.CMD, messages.Command(id="cmd-2", name="config", args={"fps": 5}).to_json())
        hub.wait(lambda: len(hub.payloads(topics.CMD_RESULT)) >= 2, "the second result")
        second = messages.parse(messages.CommandResult, hub.payloads(topics.CMD_RESULT)[1])
        assert (second.id, second.ok) == ("cmd-2", False) and "not supported" in second.detail
    finally:
        app.link.stop()
        app.outbox.close()


def test_reconnect_backoff_starts_over_after_a_good_connection(hub, make_kiosk, broker, monkeypatch):
    """A blip after hours online must not wait as long as the tenth failed attempt in a row."""
    calls: list[tuple[int, int]] = []
    kiosk = make_kiosk()

    def quick(attempt: int, initial_s: float, max_s: float) -> float:
        calls.append((kiosk.link.stats["connects"], attempt))
        return 0.05

    monkeypatch.setattr(link_module, "backoff_delay", quick)
    kiosk.start()
    for n in range(3):
        broker.stop()
        eventually(lambda: not kiosk.link.connected.is_set(), "the link to notice")
        broker.start()
        eventually(lambda n=n: kiosk.link.stats["connects"] >= n + 2 and kiosk.link.connected.is_set(),
                   "a reconnect")
    first_after = {}
    for connects, attempt in calls:
        first_after.setdefault(connects, attempt)
    assert first_after == {1: 0, 2: 0, 3: 0}, calls
