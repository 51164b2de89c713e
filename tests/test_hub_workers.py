"""``hub ingest --workers 2`` against a real Mosquitto: punches split over two worker
processes on the MQTT v5 shared subscription, each stored once and acked, also
when one worker is killed with SIGKILL in the middle of the stream.

The kiosks here are plain paho clients (tests/punchkit.py) that do what the
real kiosk link does about loss: keep every punch until the hub's ack names
it and publish it again when no ack came within a timeout.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from hub.db import Employee, PunchRecord, init_db, make_engine, make_session_factory
from hub.devices import registry
from hub.ingest.pool import worker_client_ids
from protocol import signing, topics
from tests.hub_db import postgres_database
from tests.polling import wait_until
from tests.punchkit import KioskLink, signed_punch, to_payload

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]
SITE = "site-w"
KIOSKS = ("kiosk-w1", "kiosk-w2", "kiosk-w3")
PUNCHES_PER_KIOSK = 80
RESEND_AFTER_S = 2.0   # the real kiosk waits ack_timeout_s (30 s); shorter here, same logic
GROUP, BASE_ID = "hub", "hub-test"


class ResendingKiosk:
    """A kiosk's no-loss rule on top of KioskLink: keep each punch until acked, resend after a timeout."""

    def __init__(self, port: int, device_id: str) -> None:
        self.device_id = device_id
        self.key = signing.generate_private_key()
        self.link = KioskLink(port, device_id)
        self.sent: dict[str, tuple[bytes, float]] = {}   # id -> (payload, last publish time)
        self.resends = 0

    def punch(self, employee_id: str) -> None:
        fields = signed_punch(self.key, self.device_id, SITE, employee_id, seq=len(self.sent) + 1)
        payload = to_payload(fields)
        self.sent[fields["id"]] = (payload, time.monotonic())
        self.link.publish(topics.PUNCH, payload)

    def unacked(self) -> set[str]:
        return set(self.sent) - set(self.link.acked_ids())

    def resend_due(self) -> None:
        now = time.monotonic()
        for punch_id in self.unacked():
            payload, last = self.sent[punch_id]
            if now - last >= RESEND_AFTER_S:
                self.sent[punch_id] = (payload, now)
                self.link.publish(topics.PUNCH, payload)
                self.resends += 1


def make_sessions(port: int, client_ids: list[str]) -> None:
    """The workers' persistent sessions on the shared subscription, as an earlier run of them leaves them,
    so the broker splits punches between both from the first one on (not only once both have connected)."""
    for cid in client_ids:
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        client.on_connect = lambda c, *_: c.subscribe(topics.subscription(topics.PUNCH, GROUP), qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
        client.loop_start()
        assert subscribed.wait(10), f"{cid}: no SUBACK"
        client.disconnect()
        client.loop_stop()


def worker_pids(supervisor: subprocess.Popen) -> dict[str, int]:
    """client id -> pid of the supervisor's live worker processes."""
    try:
        children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
    except OSError:
        return {}
    out = {}
    for pid in map(int, children):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--client-id" in argv:
            out[argv[argv.index(b"--client-id") + 1].decode()] = pid
    return out


def write_config(tmp_path: Path, database_url: str, port: int, shared_group: str | None = GROUP) -> Path:
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    config = {"database_url": database_url, "admin_token_file": str(token),
              "mqtt": {"host": "127.0.0.1", "port": port, "client_id": BASE_ID, "shared_group": shared_group},
              "ingest": {"retry_initial_s": 0.05, "retry_max_s": 0.5}}
    path = tmp_path / "hub.yaml"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
        return
    gen = postgres_database()
    yield next(gen)
    gen.close()


def test_two_workers_store_every_punch_once_and_a_sigkilled_worker_loses_nothing(tmp_path, broker, database_url):
    engine = make_engine(database_url)
    init_db(engine)
    sessions = make_session_factory(engine)
    kiosks = [ResendingKiosk(broker.port, d) for d in KIOSKS]
    with sessions() as s:
        registry.add_site(s, SITE, "Workers site")
        for k in kiosks:
            registry.register_device(s, k.device_id, SITE, signing.public_key_b64(k.key))
        s.add_all([Employee(employee_id=f"W{i}", name=f"W {i}", home_site_id=SITE) for i in range(20)])
        s.commit()
    ids = worker_client_ids(BASE_ID, 2)
    make_sessions(broker.port, ids)
    config = write_config(tmp_path, database_url, broker.port)
    log_path = tmp_path / "hub.log"
    with open(log_path, "wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--log-level", "INFO", "ingest", "--config", str(config), "--workers",
             "2"], cwd=REPO, stdout=log, stderr=log)
    try:
        assert wait_until(lambda: len(worker_pids(supervisor)) == 2, 20), log_path.read_text()
        first_pids = worker_pids(supervisor)
        assert set(first_pids) == set(ids)
        for k in kiosks:
            k.link.start()

        def all_acked() -> bool:
            for k in kiosks:
                k.resend_due()
            return all(not k.unacked() for k in kiosks)

        def publish(numbers: range, sent: threading.Event | None = None) -> None:
            for n in numbers:
                for k in kiosks:
                    k.punch(f"W{n % 20}")
                if sent is not None and n >= numbers.start + len(numbers) // 5:
                    sent.set()
                time.sleep(0.003)

        third = PUNCHES_PER_KIOSK // 3
        publish(range(third))                       # both workers up and storing
        assert wait_until(all_acked, 60), {k.device_id: len(k.unacked()) for k in kiosks}
        some_sent = threading.Event()
        stream = threading.Thread(target=publish, args=(range(third, PUNCHES_PER_KIOSK), some_sent))
        stream.start()
        assert some_sent.wait(30)
        os.kill(first_pids[ids[0]], signal.SIGKILL)    # mid-stream: punches keep coming
        stream.join(60)
        assert wait_until(all_acked, 60), {k.device_id: len(k.unacked()) for k in kiosks}

        total = len(KIOSKS) * PUNCHES_PER_KIOSK
        with sessions() as s:
            rows = s.scalar(select(func.count()).select_from(PunchRecord))
            distinct = s.scalar(select(func.count(func.distinct(PunchRecord.id))))
            stored_ids = set(s.scalars(select(PunchRecord.id)))
        assert rows == distinct == total
        for k in kiosks:
            assert set(k.sent) <= stored_ids
            assert set(k.link.acked_ids()) == set(k.sent)      # every id acked to its own kiosk
            assert k.link.rejections() == []
        # the pool restarted the killed worker under the same client id (its session, its queue)
        assert wait_until(lambda: set(worker_pids(supervisor)) == set(ids), 20)
        assert worker_pids(supervisor)[ids[0]] != first_pids[ids[0]]
    finally:
        for k in kiosks:
            k.link.stop()
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(30)
        except subprocess.TimeoutExpired:
            for pid in worker_pids(supervisor).values():
                os.kill(pid, signal.SIGKILL)
            supervisor.kill()
        engine.dispose()
    # both workers took part: each logs its counters when it stops
    stats = re.findall(r"ingest stopped: (\{.*\})", log_path.read_text())
    assert len(stats) == 2, log_path.read_text()[-3000:]
    received = [int(re.search(r"'received': (\d+)", s).group(1)) for s in stats]
    assert all(r > 0 for r in received), received


def test_workers_without_a_shared_group_is_refused_with_the_reason(tmp_path, capsys):
    from hub.cli import main

    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'hub.sqlite'}", 1883, shared_group=None)
    assert main(["ingest", "--config", str(config), "--workers", "3"]) == 1
    err = capsys.readouterr().err
    assert "mqtt.shared_group" in err and "every worker would receive every punch" in err


def test_worker_count_must_be_positive(tmp_path, capsys):
    from hub.cli import main

    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'hub.sqlite'}", 1883)
    with pytest.raises(SystemExit):
        main(["ingest", "--config", str(config), "--workers", "0"])
    assert "must be 1 or more" in capsys.readouterr().err
