"""The hub under systemd's notify protocol: READY=1 once serving, WATCHDOG=1 only while it makes progress.

The processes run with ``NOTIFY_SOCKET`` pointing at a real datagram socket (standing in for
systemd) and ``WATCHDOG_USEC`` set, as ``hub-api.service`` and ``hub-ingest@.service`` give them.
"""

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devtools.mosquitto import free_port
from hub.config import HubConfig
from hub.db import make_session_factory
from hub.ingest.worker import IngestWorker
from tests.hub_db import sqlite_engine
from tests.test_hub_cli import HUB, write_config


@pytest.fixture
def notify_socket():
    with tempfile.TemporaryDirectory(prefix="hwd", dir="/tmp") as d:  # AF_UNIX paths are short
        path = str(Path(d) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(1.0)
        yield path, sock
        sock.close()


def wait_for_messages(sock: socket.socket, wanted: list[str], timeout_s: float = 90) -> list[str]:
    """Datagrams until each of ``wanted`` has been seen (in order of first sight), or the time is up."""
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(any(w in m for m in got) for w in wanted):
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def start(command: list[str], notify_path: str) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}  # pings every ~1 s
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.mark.broker
def test_ingest_says_ready_once_subscribed_and_pets_the_watchdog(tmp_path, broker, notify_socket):
    path, sock = notify_socket
    config = write_config(tmp_path, mqtt={"port": broker.port, "client_id": "hub-wd-ingest"})
    subprocess.run([HUB, "init-db", "--config", str(config)], check=True, capture_output=True)
    proc = start([HUB, "ingest", "--config", str(config)], path)
    try:
        got = wait_for_messages(sock, ["READY=1", "WATCHDOG=1"])
        assert any("READY=1" in m for m in got), got
        ready_at = next(i for i, m in enumerate(got) if "READY=1" in m)
        assert any(m == "WATCHDOG=1" for m in got[ready_at:]), got
        pings = wait_for_messages(sock, ["WATCHDOG=1"])  # and it keeps petting
        assert "WATCHDOG=1" in pings
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out


def test_the_api_says_ready_once_listening_and_pets_the_watchdog(tmp_path, notify_socket):
    path, sock = notify_socket
    config = write_config(tmp_path, api={"port": free_port()})
    subprocess.run([HUB, "init-db", "--config", str(config)], check=True, capture_output=True)
    proc = start([HUB, "serve", "--config", str(config)], path)
    try:
        got = wait_for_messages(sock, ["READY=1", "WATCHDOG=1"])
        assert "READY=1" in got and "WATCHDOG=1" in got[got.index("READY=1"):], got
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out


def test_a_worker_stuck_in_one_batch_is_not_progressing_but_a_waiting_one_is(tmp_path):
    engine = sqlite_engine(tmp_path)
    worker = IngestWorker(HubConfig.model_validate({"admin_token_file": "/x"}), make_session_factory(engine))
    assert not worker.is_progressing(60)  # never started: no thread
    release = threading.Event()
    worker._thread = threading.Thread(target=release.wait, daemon=True)  # a live worker thread
    worker._thread.start()
    try:
        assert worker.is_progressing(60)  # idle, waiting for messages
        worker._working_since = time.monotonic() - 61
        assert not worker.is_progressing(60)  # one batch in hand for longer than the stall bound
        worker._working_since = time.monotonic() - 5
        assert worker.is_progressing(60)
    finally:
        release.set()
        worker._thread.join()
    assert not worker.is_progressing(60)  # the thread died
