"""kiosk.sdnotify against a real AF_UNIX datagram socket standing in for systemd."""

import os
import socket
import tempfile
from pathlib import Path

import pytest

from protocol.sdnotify import SdNotifier, WatchdogPetter, watchdog_interval_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def notify_socket():
    """A bound datagram socket, as systemd's notify socket; yields (path, socket).

    Made in a short /tmp directory: AF_UNIX paths are limited to 107 bytes.
    """
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as d:
        path = str(Path(d) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        yield path, sock
        sock.close()


def received(sock: socket.socket) -> list[str]:
    """Every datagram queued so far. A datagram sent to a unix socket is queued
    before sendto() returns, so an empty list means nothing was sent."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_ready_status_stopping_reach_the_socket_named_by_notify_socket(notify_socket, monkeypatch):
    path, sock = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    n = SdNotifier().start()
    assert n.enabled
    assert n.ready()
    assert n.status("camera ok\nbacklog 3")
    assert n.stopping()
    n.close()
    assert received(sock) == ["READY=1", "STATUS=camera ok backlog 3", "STOPPING=1"]


def test_abstract_socket_address():
    name = f"sdnotify-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        n = SdNotifier(env={"NOTIFY_SOCKET": "@" + name}).start()
        assert n.ready()
        assert received(sock) == ["READY=1"]
    finally:
        sock.close()


def test_without_notify_socket_everything_is_a_noop():
    n = SdNotifier(env={}).start()
    assert not n.enabled
    assert n.ready() is False
    assert n.watchdog_ping() is False
    petter = WatchdogPetter(n, 5.0, FakeClock())
    petter.frame_seen()
    assert petter.maybe_ping() is False


def test_a_vanished_socket_does_not_raise(notify_socket):
    path, sock = notify_socket
    n = SdNotifier(socket_path=path).start()
    sock.close()
    os.unlink(path)
    assert n.watchdog_ping() is False


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(env, expected):
    assert watchdog_interval_s(env, pid=4242) == expected


def test_watchdog_pings_while_frames_flow_and_stops_when_they_stop(notify_socket):
    path, sock = notify_socket
    clock = FakeClock()
    n = SdNotifier(env={"NOTIFY_SOCKET": path}).start()
    petter = WatchdogPetter.from_env(n, {"WATCHDOG_USEC": "10000000"}, clock)  # pings every 5 s
    assert petter.interval_s == 5.0
    n.ready()
    assert received(sock) == ["READY=1"]

    # No frame yet (camera not delivering): no ping, however long we wait.
    clock.now += 60
    assert petter.maybe_ping() is False
    assert received(sock) == []

    # Frames flow at 10 fps for 20 s; the loop asks to ping on every frame.
    pings = 0
    for _ in range(200):
        clock.now += 0.1
        petter.frame_seen()
        pings += petter.maybe_ping()
    assert pings == 4  # one at once, then one per 5 s
    assert received(sock) == ["WATCHDOG=1"] * 4

    # The camera stalls: the loop keeps running but sees no frame.
    clock.now += 5
    assert petter.maybe_ping() is True  # the last frames came after the last ping
    assert received(sock) == ["WATCHDOG=1"]
    for _ in range(100):
        clock.now += 1
        assert petter.maybe_ping() is False
    assert received(sock) == []

    # Frames come back: pings resume.
    clock.now += 0.1
    petter.frame_seen()
    assert petter.maybe_ping() is True
    assert received(sock) == ["WATCHDOG=1"]
