"""Test helpers: signed punches, and a plain paho client acting as a kiosk.

Shared by the hub tests and the end-to-end test; nothing here fakes the hub
or the broker.
"""

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import messages, signing, topics
from protocol.ids import new_punch_id

IST = ZoneInfo("Asia/Kolkata")


def punch_fields(device_id: str, site_id: str, employee_id: str, **over: Any) -> dict[str, Any]:
    """An unsigned punch as a kiosk builds it; ``over`` replaces or adds fields."""
    fields = {
        "v": 1,
        "id": new_punch_id(),
        "device_id": device_id,
        "site_id": site_id,
        "employee_id": employee_id,
        "ts": messages.device_time(datetime.now(IST)),
        "method": "face",
        "match": {"distance": 0.38, "margin": 0.12, "gallery_version": 1},
        "seq": 1,
    }
    fields.update(over)
    return fields


def signed_punch(key: Ed25519PrivateKey, device_id: str, site_id: str, employee_id: str, **over: Any) -> dict[str, Any]:
    return signing.sign_fields(punch_fields(device_id, site_id, employee_id, **over), key)


def to_payload(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode("utf-8")


class KioskLink:
    """A device's side of MQTT: publishes under its own topics and collects
    what the hub sends to it (acks, gallery deltas), so a test can wait on them."""

    def __init__(self, port: int, device_id: str, host: str = "127.0.0.1") -> None:
        self.port, self.host, self.device_id = port, host, device_id
        self.received: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{device_id}",
                                   protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message

    def _on_connect(self, client, _u, _f, reason_code, _p) -> None:
        if not reason_code.is_failure:
            client.subscribe([(topics.device_topic(self.device_id, k), 1) for k in (topics.ACK, topics.GALLERY_DELTA)])

    def _on_message(self, _c, _u, msg) -> None:
        with self._cond:
            self.received.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def start(self, timeout_s: float = 10.0) -> "KioskLink":
        self._client.connect(self.host, self.port)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError(f"{self.device_id}: no SUBACK within {timeout_s} s")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, kind: str, payload: bytes, timeout_s: float = 10.0, device_id: str | None = None) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK (not the hub's ack)."""
        info = self._client.publish(topics.device_topic(device_id or self.device_id, kind), payload, qos=1)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise TimeoutError(f"broker did not acknowledge a publish to {kind}")

    def payloads(self, kind: str) -> list[bytes]:
        topic = topics.device_topic(self.device_id, kind)
        with self._cond:
            return [p for t, p in self.received if t == topic]

    def acks(self) -> list[messages.Ack]:
        return [messages.parse(messages.Ack, p) for p in self.payloads(topics.ACK)]

    def deltas(self) -> list[messages.GalleryDelta]:
        return [messages.parse(messages.GalleryDelta, p, max_bytes=1 << 26) for p in self.payloads(topics.GALLERY_DELTA)]

    def wait_for(self, condition: Callable[["KioskLink"], bool], timeout_s: float = 20.0) -> bool:
        """Wait until ``condition(self)`` holds; False after ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: condition(self), timeout_s)

    def acked_ids(self) -> list[str]:
        return [i for ack in self.acks() for i in ack.ids]

    def rejections(self) -> list[tuple[str, str]]:
        return [(r.id, r.reason) for ack in self.acks() for r in ack.rejected]

    def __enter__(self) -> "KioskLink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
