"""provision broker / retire: generated password file and ACL in a real Mosquitto.

Negative checks ("not delivered") never wait for a timeout: after the
forbidden message, a permitted one is sent on the same path, and once that
one has arrived the forbidden one would have arrived before it (Mosquitto
delivers one publisher's messages to a subscriber in order).
"""

import os
import queue
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devtools.mosquitto import MosquittoProcess
from protocol.topics import device_topic, subscription
from provisioning import broker
from provisioning.cli import main
from tests.fake_hub_api import FakeHub

HUB = "https://hub.example.org"
TIMEOUT_S = 20


# ---------- pure parts ----------


def test_acl_text_gives_devices_only_their_own_topics():
    text = broker.acl_text("hub")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "user hub",
        "topic readwrite att/v1/dev/#",
        "pattern write att/v1/dev/%u/punch",
        "pattern write att/v1/dev/%u/status",
        "pattern write att/v1/dev/%u/health",
        "pattern write att/v1/dev/%u/gallery/request",
        "pattern write att/v1/dev/%u/gallery/applied",
        "pattern write att/v1/dev/%u/gallery/key/request",
        "pattern write att/v1/dev/%u/cmd/result",
        "pattern read att/v1/dev/%u/ack",
        "pattern read att/v1/dev/%u/gallery/delta",
        "pattern read att/v1/dev/%u/gallery/key",
        "pattern read att/v1/dev/%u/cmd",
    ]


def test_password_hash_format_and_verification():
    hashed = broker.hash_password("s3cret-pass", b"\x01" * 12, iterations=101)
    assert hashed.startswith("$7$101$AQEBAQEBAQEBAQEB$")
    assert broker.verify_password("s3cret-pass", hashed)
    assert not broker.verify_password("other", hashed)
    assert not broker.verify_password("s3cret-pass", "$7$junk")


def test_plan_keeps_unchanged_hashes_and_leaves_out_retired_and_unknown():
    existing = {"K-1": broker.hash_password("pw-1", b"a" * 12), "K-OLD": broker.hash_password("x", b"b" * 12)}
    plan = broker.plan_entries(
        bundle_passwords={"K-1": "pw-1", "K-2": "pw-2", "K-3": "pw-3"},
        retired={"K-3"},
        existing=existing,
        hub_active={"K-1", "K-2", "K-3"},
        hub_user="hub",
        hub_password="hub-pw",
    )
    assert plan.devices == ["K-1", "K-2"]
    assert plan.entries["K-1"] == existing["K-1"]  # a rerun does not rewrite it
    assert broker.verify_password("pw-2", plan.entries["K-2"])
    assert broker.verify_password("hub-pw", plan.entries["hub"])
    assert dict(plan.left_out) == {"K-3": "retired", "K-OLD": "not an active device at the hub"}
    text = broker.password_file_text(plan.entries)
    assert broker.parse_password_file(text) == plan.entries


def test_hashes_use_mosquittos_iteration_count_and_older_ones_are_renewed():
    """Every login costs the broker the hash's iterations; random 192-bit passwords gain nothing
    from more than Mosquitto's own 101, so a rerun renews hashes made with another count."""
    assert broker.hash_iterations(broker.hash_password("pw", b"c" * 12)) == broker.PBKDF2_ITERATIONS == 101
    older = broker.hash_password("pw-1", b"a" * 12, iterations=1000)
    plan = broker.plan_entries(bundle_passwords={"K-1": "pw-1"}, retired=(), existing={"K-1": older},
                               hub_active=None, hub_user="hub", hub_password="hub-pw")
    assert plan.entries["K-1"] != older
    assert broker.hash_iterations(plan.entries["K-1"]) == 101
    assert broker.verify_password("pw-1", plan.entries["K-1"])
    assert broker.hash_iterations("$6$salt$hash") is None


# ---------- against a real Mosquitto ----------


class Client:
    """A paho client that records messages and its CONNACK, MQTT v5."""

    def __init__(self, port: int, username: str, password: str | None, client_id: str) -> None:
        self.messages: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        self.connack = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: self.subscribed.set()
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()
        assert self.connack.wait(TIMEOUT_S), "no CONNACK"
        self.c.reconnect_delay_set(60, 60)  # a refused client must not hammer the broker while we look

    def _on_connect(self, _c, _u, _flags, reason, _props) -> None:
        self.reason = reason
        self.connack.set()

    @property
    def connected(self) -> bool:
        return self.reason is not None and not self.reason.is_failure

    def subscribe(self, *topics: str) -> None:
        self.subscribed.clear()
        self.c.subscribe([(t, 1) for t in topics])
        assert self.subscribed.wait(TIMEOUT_S)

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT_S)

    def next(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=TIMEOUT_S)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def fleet(tmp_path):
    """Three provisioned devices, broker files made from their bundles, a Mosquitto using them."""
    hub = FakeHub()
    token = tmp_path / "token"
    token.write_text(hub.token)
    bundles = tmp_path / "bundles"
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("device_id,site_id\nK-A,S1\nK-B,S1\nK-C,S1\n")
    auth = ["--hub", HUB, "--token-file", str(token)]
    assert main(["batch", str(csv_path), "--out", str(bundles), *auth], transport=hub.transport()) == 0
    out = tmp_path / "broker"
    assert main(["broker", "--devices-from", str(bundles), "--out", str(out), *auth], transport=hub.transport()) == 0
    config = (out / broker.CONF_FILE).read_text()
    if os.geteuid() == 0:
        # Started as root, mosquitto drops to user "mosquitto", which cannot enter pytest's
        # 0700 temp folders. (On a broker host the files are installed readable by it.)
        config += "user root\n"
    mosquitto = MosquittoProcess(tmp_path / "mosquitto", extra_config=config)
    mosquitto.start()
    clients: list[Client] = []

    def connect(user: str, password: str | None = None, client_id: str | None = None) -> Client:
        if password is None:
            source = out / broker.HUB_PASSWORD_FILE if user == "hub" else bundles / user / "credentials/mqtt.password"
            password = source.read_text().strip()
        client = Client(mosquitto.port, user, password, client_id or f"{user}-{len(clients)}")
        clients.append(client)
        return client

    yield {"hub": hub, "auth": auth, "bundles": bundles, "out": out, "mosquitto": mosquitto, "connect": connect}
    for client in clients:
        client.close()
    mosquitto.stop()


@pytest.mark.broker
def test_generated_acl_confines_each_device_to_its_own_topics(fleet):
    connect = fleet["connect"]
    hub, a, b = connect("hub"), connect("K-A"), connect("K-B")
    assert hub.connected and a.connected and b.connected
    hub.subscribe(subscription("punch", shared_group="hub"), subscription("status"))

    # A publishes its punch; the hub (on a shared subscription) receives it.
    a.publish(device_topic("K-A", "punch"), b"a-1")
    assert hub.next() == (device_topic("K-A", "punch"), b"a-1")

    # A publishing into B's punch topic is dropped; A's next punch arrives first.
    a.publish(device_topic("K-B", "punch"), b"forged")
    a.publish(device_topic("K-B", "status"), b"forged")
    a.publish(device_topic("K-A", "punch"), b"a-2")
    assert hub.next() == (device_topic("K-A", "punch"), b"a-2")

    # A cannot read B's gallery or commands; B can, so the hub's messages did go out.
    a.subscribe(device_topic("K-B", "gallery/delta"), device_topic("K-B", "cmd"), device_topic("K-A", "cmd"),
                "att/v1/dev/+/ack")
    b.subscribe(device_topic("K-B", "gallery/delta"), device_topic("K-B", "cmd"))
    hub.publish(device_topic("K-B", "gallery/delta"), b"b-gallery")
    hub.publish(device_topic("K-B", "cmd"), b"b-cmd")
    hub.publish(device_topic("K-B", "ack"), b"b-ack")
    hub.publish(device_topic("K-A", "cmd"), b"a-cmd")
    assert b.next() == (device_topic("K-B", "gallery/delta"), b"b-gallery")
    assert b.next() == (device_topic("K-B", "cmd"), b"b-cmd")
    assert a.next() == (device_topic("K-A", "cmd"), b"a-cmd")
    assert a.messages.empty(), list(a.messages.queue)

    # A cannot even read its own punch topic (only the hub reads punches);
    # its ack comes through the wildcard subscription made above.
    a.subscribe(device_topic("K-A", "punch"))
    a.publish(device_topic("K-A", "punch"), b"a-3")
    hub.publish(device_topic("K-A", "ack"), b"a-ack")
    assert a.next() == (device_topic("K-A", "ack"), b"a-ack")
    assert a.messages.empty(), list(a.messages.queue)


@pytest.mark.broker
def test_wrong_unknown_and_anonymous_logins_are_refused(fleet):
    connect = fleet["connect"]
    for user, password in (("K-A", "wrong-password-123"), ("K-Z", "whatever-password"), ("", None)):
        client = connect(user, password or "", client_id=f"bad-{user or 'anon'}")
        assert not client.connected, user
        assert client.reason.is_failure


@pytest.mark.broker
def test_retired_device_cannot_connect_after_regeneration(fleet, capsys):
    connect, out = fleet["connect"], fleet["out"]
    assert connect("K-C").connected
    rc = main(["retire", "K-C", "--broker-dir", str(out), "--devices-from", str(fleet["bundles"]), *fleet["auth"]],
              transport=fleet["hub"].transport())
    assert rc == 0, capsys.readouterr().err
    assert "left out K-C: retired" in capsys.readouterr().out
    assert fleet["hub"].devices["K-C"]["retired_at"]
    assert "K-C" not in broker.parse_password_file((out / broker.PASSWORD_FILE).read_text())

    fleet["mosquitto"].restart()
    assert not connect("K-C", client_id="retired").connected
    assert connect("K-A", client_id="still-fine").connected

    # Regenerating later (from bundles and the hub) keeps K-C out.
    assert main(["broker", "--devices-from", str(fleet["bundles"]), "--out", str(out), *fleet["auth"]],
                transport=fleet["hub"].transport()) == 0
    assert "K-C" not in broker.parse_password_file((out / broker.PASSWORD_FILE).read_text())


def test_broker_files_modes_and_stable_rerun(fleet):
    out = fleet["out"]
    assert (out / broker.PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    assert (out / broker.HUB_PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["broker", "--devices-from", str(fleet["bundles"]), "--out", str(out), *fleet["auth"]],
                transport=fleet["hub"].transport()) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    conf = (out / broker.CONF_FILE).read_text()
    assert "allow_anonymous false" in conf
    assert f"password_file {Path(out).absolute() / 'passwd'}" in conf
