"""The broker fixture itself: a real Mosquitto that can be restarted on its port."""

import threading

import paho.mqtt.client as mqtt
import pytest

pytestmark = pytest.mark.broker


def _roundtrip(port: int) -> bytes:
    got = threading.Event()
    box: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-check")
    c.on_message = lambda _c, _u, m: (box.append(m.payload), got.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.subscribe("t/x", qos=1)[0]
        # subscribe is asynchronous; publish until the message comes back
        for _ in range(50):
            c.publish("t/x", b"hello", qos=1).wait_for_publish(2)
            if got.wait(0.1):
                break
    finally:
        c.loop_stop()
        c.disconnect()
    return box[0]


def test_broker_carries_messages_and_survives_restart(broker):
    assert _roundtrip(broker.port) == b"hello"
    broker.restart()
    assert _roundtrip(broker.port) == b"hello"
    broker.kill()
    assert not broker.is_running()
