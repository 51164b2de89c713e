"""Deliver a dead kiosk's unacked punches to the hub as they were signed, under its own identity.

Why re-send the old signed bytes and not re-sign them as the replacement:
the hub checks each punch's signature against the key of the device named
on its topic and in its payload (``hub.ingest.intake``), so a re-signed punch
would have to change ``device_id`` (and its ``seq`` would then collide with
or jump the new kiosk's counter: ``seq_reused``/``seq_gap`` in
``hub.ingest.plausibility``), and the record would claim the new kiosk saw
someone it never saw. Sent as they were, by the old device's login from its
bundle on the IT laptop, they pass every check unchanged; one already stored
(its ack was lost) is a duplicate by ``id``, stored once and acked again.
This has to happen *before* the old identity is retired: the hub refuses a
retired device's punches, and the regenerated broker files shut it out.

The connection is the kiosk's own: client id = user = device id (the broker
binds them), TLS with the bundle's CA (and client certificate, if issued),
subscribed only to its own ack topic. It publishes no status or health.
"""

import logging
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.errors import MessageInvalid
from protocol.messages import Ack, parse
from provisioning import bundle as bundles
from provisioning.errors import ProvisionError

log = logging.getLogger(__name__)


class HandoverError(ProvisionError, ConnectionError):
    """The old device's punches could not be delivered (broker unreachable, login refused, no ack in time)."""


@dataclass
class Delivery:
    """What the hub answered: stored (or already stored) ids, refused ones with the reason."""

    acked: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


class _Session:
    """One MQTT v5 connection as the old device, collecting acks until every sent id is answered."""

    def __init__(self, device_id: str, waiting: set[str]) -> None:
        self.device_id = device_id
        self.waiting = waiting
        self.delivery = Delivery()
        self.ready = threading.Event()
        self.done = threading.Event()
        self.refused: str | None = None
        self.lock = threading.Lock()

    def on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            self.refused = f"the broker refused {self.device_id}'s login: {reason}"
            self.ready.set()
            return
        client.subscribe(topics.device_topic(self.device_id, topics.ACK), qos=1)

    def on_subscribe(self, _c: object, _u: object, _mid: int, codes: list[mqtt.ReasonCode], _p: object) -> None:
        if any(code.is_failure for code in codes):
            self.refused = f"the broker refused {self.device_id}'s subscription to its ack topic"
        self.ready.set()

    def on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            ack = parse(Ack, message.payload)
        except MessageInvalid as exc:
            log.warning("ignoring an ack that does not parse: %s", exc)
            return
        with self.lock:
            for punch_id in ack.ids:
                if punch_id in self.waiting:
                    self.waiting.discard(punch_id)
                    self.delivery.acked.append(punch_id)
            for rejection in ack.rejected:
                if rejection.id in self.waiting:
                    self.waiting.discard(rejection.id)
                    self.delivery.rejected.append((rejection.id, rejection.reason))
            if not self.waiting:
                self.done.set()


def deliver(bundle_dir: Path, rows: list[tuple[str, bytes]], host: str, port: int, timeout_s: float = 60.0) -> Delivery:
    """Publish ``rows`` (punch id, payload as stored) as the bundle's device; wait for the hub's acks."""
    meta = bundles.read_meta(bundle_dir)
    device_id = meta["device_id"]
    session = _Session(device_id, {punch_id for punch_id, _ in rows})
    if not rows:
        return session.delivery
    client = _client(bundle_dir, device_id, session)
    try:
        client.connect(host, port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        raise HandoverError(f"cannot reach the broker at {host}:{port} as {device_id}: {exc}") from exc
    client.loop_start()
    try:
        if not session.ready.wait(timeout_s) or session.refused:
            raise HandoverError(session.refused or f"no answer from the broker at {host}:{port} in {timeout_s:.0f} s")
        topic = topics.device_topic(device_id, topics.PUNCH)
        for _punch_id, payload in rows:
            client.publish(topic, payload, qos=1)
        session.done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    with session.lock:
        session.delivery.unanswered = sorted(session.waiting)
    return session.delivery


def _client(bundle_dir: Path, device_id: str, session: _Session) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
    password = (bundle_dir / bundles.CREDENTIALS / bundles.MQTT_PASSWORD).read_text(encoding="utf-8").strip()
    client.username_pw_set(device_id, password)
    ca = bundle_dir / bundles.CA_CERT
    if ca.exists():
        cert = bundle_dir / bundles.CREDENTIALS / bundles.CLIENT_CERT
        key = bundle_dir / bundles.CREDENTIALS / bundles.CLIENT_KEY
        client.tls_set(ca_certs=str(ca), certfile=str(cert) if cert.exists() else None,
                       keyfile=str(key) if key.exists() else None)
    client.on_connect = session.on_connect
    client.on_subscribe = session.on_subscribe
    client.on_message = session.on_message
    client.reconnect_delay_set(1, 5)
    return client
