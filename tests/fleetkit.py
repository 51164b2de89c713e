"""A provisioned fleet and a real Mosquitto configured only from what ``provision broker`` wrote.

The operator's order: ``provision broker`` (makes the CA), ``provision batch
--ca-file broker/ca.crt`` (bundles that trust it), ``provision broker
--devices-from`` again (their logins). The broker then runs the generated
``att.conf`` and nothing else (``plain_listener=False``).
"""

import queue
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from devtools.mosquitto import MosquittoProcess, free_port
from provisioning import broker, bundle, tls
from provisioning.cli import main
from tests.fake_hub_api import FakeHub

HUB_URL = "https://hub.example.org"
TIMEOUT_S = 20
# The name the broker's certificate carries; clients dial it, so paho checks it.
BROKER_NAME = "localhost"


class Client:
    """A paho client (MQTT v5) that records messages and how its connection attempt ended."""

    def __init__(self, host: str, port: int, username: str, password: str | None, client_id: str,
                 ca_file: Path | None = None, cert: tuple[Path, Path] | None = None) -> None:
        self.messages: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        self.answered = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.error: Exception | None = None
        self.suback: list[mqtt.ReasonCode] = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(username, password)
        if ca_file is not None:
            certfile, keyfile = cert or (None, None)
            self.c.tls_set(ca_certs=str(ca_file), certfile=certfile, keyfile=keyfile)
        self.c.on_connect = self._on_connect
        self.c.on_connect_fail = self._on_connect_fail
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.reconnect_delay_set(60, 60)  # a refused client must not hammer the broker while we look
        try:
            self.c.connect(host, port)
        except (OSError, ssl.SSLError) as exc:  # TLS refusals surface here, during the handshake
            self.error = exc
            self.answered.set()
            return
        self.c.loop_start()
        assert self.answered.wait(TIMEOUT_S), "neither CONNACK nor disconnect"

    def _on_connect(self, _c, _u, _flags, reason, _props) -> None:
        self.reason = reason
        self.answered.set()

    def _on_connect_fail(self, _c, _u) -> None:
        self.answered.set()

    def _on_disconnect(self, _c, _u, _flags, _reason, _props) -> None:
        self.answered.set()

    def _on_message(self, _c, _u, msg) -> None:
        self.messages.put((msg.topic, msg.payload))

    def _on_subscribe(self, _c, _u, _mid, reason_codes, _props) -> None:
        self.suback = list(reason_codes)
        self.subscribed.set()

    @property
    def connected(self) -> bool:
        return self.reason is not None and not self.reason.is_failure and self.c.is_connected()

    def subscribe(self, *topics: str) -> list[mqtt.ReasonCode]:
        self.subscribed.clear()
        self.c.subscribe([(t, 1) for t in topics])
        assert self.subscribed.wait(TIMEOUT_S)
        return self.suback

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT_S)

    def next(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=TIMEOUT_S)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@dataclass
class Fleet:
    hub: FakeHub
    auth: list[str]
    bundles: Path
    out: Path
    mosquitto: MosquittoProcess
    tls: bool
    clients: list[Client] = field(default_factory=list)

    @property
    def ca_file(self) -> Path:
        return self.out / tls.CA_CERT

    def password(self, user: str) -> str:
        path = self.out / broker.HUB_PASSWORD_FILE if user == "hub" else self.bundle(user) / "credentials/mqtt.password"
        return path.read_text().strip()

    def bundle(self, device_id: str) -> Path:
        return self.bundles / device_id

    def broker(self, *args: str) -> int:
        """Run ``provision broker`` on this fleet's folders with ``args`` added."""
        return main(["broker", "--devices-from", str(self.bundles), "--out", str(self.out), *self.auth, *args],
                    transport=self.hub.transport())

    def default_client_id(self, user: str) -> str:
        """A device's own id (the broker binds it); any other id for the hub user."""
        return f"hub-test-{len(self.clients)}" if user == "hub" else user

    def connect(self, user: str, password: str | None = None, client_id: str | None = None, *,
                host: str = BROKER_NAME, ca_file: Path | None = None, plaintext: bool = False,
                cert: tuple[Path, Path] | None = None) -> Client:
        """Log in as ``user`` (its own password unless given), over TLS with the fleet's CA by default."""
        use_tls = self.tls and not plaintext
        client = Client(host, self.mosquitto.port, user, self.password(user) if password is None else password,
                        client_id or self.default_client_id(user), (ca_file or self.ca_file) if use_tls else None,
                        cert)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.mosquitto.stop()


def provision_fleet(tmp_path: Path, device_ids: list[str], *broker_args: str, use_tls: bool = True) -> Fleet:
    """Devices provisioned at a fake hub, broker files made from their bundles, Mosquitto started on them.

    With ``use_tls`` the broker listens only on its generated TLS listener; otherwise only on the
    generated plaintext (loopback) one. ``broker_args`` go to both ``provision broker`` runs.
    """
    hub = FakeHub()
    token = tmp_path / "token"
    token.write_text(hub.token)
    auth = ["--hub", HUB_URL, "--token-file", str(token)]
    port = free_port()
    listener = ["--tls-port", str(port)] if use_tls else ["--tls-port", str(free_port()), "--plaintext-port", str(port)]
    fleet = Fleet(hub, auth, tmp_path / "bundles", tmp_path / "broker", MosquittoProcess(
        tmp_path / "mosquitto", port=port, plain_listener=False), use_tls)
    fleet.bundles.mkdir()
    assert fleet.broker("--broker-host", BROKER_NAME, *listener, *broker_args) == 0
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("device_id,site_id\n" + "".join(f"{d},S1\n" for d in device_ids))
    assert main(["batch", str(csv_path), "--out", str(fleet.bundles), "--ca-file", str(fleet.ca_file), *auth],
                transport=hub.transport()) == 0
    assert fleet.broker(*broker_args) == 0
    fleet.mosquitto.extra_config = (fleet.out / broker.CONF_FILE).read_text()
    fleet.mosquitto.start()
    return fleet


def client_cert(bundle_dir: Path) -> tuple[Path, Path]:
    """The TLS client certificate and key ``provision broker --client-certs`` put into a bundle."""
    return bundle_dir / bundle.CREDENTIALS / bundle.CLIENT_CERT, bundle_dir / bundle.CREDENTIALS / bundle.CLIENT_KEY
