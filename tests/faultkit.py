"""Real processes for the delivery fault tests: a `hub ingest` and camera-less kiosks.

Nothing is faked: the hub is the `hub ingest` command on SQLite, the kiosk is
the real outbox and MQTT link (devtools/punch_burst.py), the broker is the
`broker` fixture's Mosquitto. Counting is done in the hub's database.
"""

import json
import secrets
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from hub.db import Employee, make_engine, make_session_factory
from hub.devices.health import alarms_of
from hub.devices.registry import add_site, register_device
from kiosk.app import OUTBOX_FILE
from kiosk.outbox import Outbox
from protocol import signing
from tests import polling

SITE = "site-faults"
EMPLOYEES = [f"E{i:03d}" for i in range(20)]


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class HubIngest:
    """`hub ingest` over SQLite in ``workdir``, seeded with a site, employees and devices."""

    def __init__(self, workdir: Path, broker_port: int) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = workdir / "hub.sqlite"
        (workdir / "admin.token").write_text(secrets.token_urlsafe(32))
        self.config = workdir / "hub.yaml"
        self.config.write_text(yaml.safe_dump({
            "database_url": f"sqlite:///{self.db_path}",
            "admin_token_file": str(workdir / "admin.token"),
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": "hub-faults"},
        }))
        subprocess.run([tool("hub"), "init-db", "--config", str(self.config)], check=True, capture_output=True)
        self.engine = make_engine(f"sqlite:///{self.db_path}")
        with make_session_factory(self.engine).begin() as session:
            add_site(session, SITE, "Fault office")
            session.add_all(Employee(employee_id=e, name=e, home_site_id=SITE) for e in EMPLOYEES)
        self.proc: subprocess.Popen | None = None
        self._log = open(workdir / "ingest.log", "a")

    def register(self, device_id: str, public_key_b64: str) -> None:
        with make_session_factory(self.engine).begin() as session:
            register_device(session, device_id, SITE, public_key_b64)

    def start(self) -> None:
        self.proc = subprocess.Popen([tool("hub"), "ingest", "--config", str(self.config)],
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
        self.engine.dispose()

    def seqs(self, device_id: str) -> list[int]:
        """Every stored punch's seq for the device, duplicates included."""
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return [r[0] for r in db.execute("SELECT seq FROM punches WHERE device_id = ?", (device_id,))]

    def alarm_kinds(self, device_id: str) -> set[str]:
        """The alarm kinds of the device's latest health as the hub stored it (empty before any health)."""
        with sqlite3.connect(self.db_path, timeout=30) as db:
            row = db.execute("SELECT telemetry FROM device_health WHERE device_id = ?", (device_id,)).fetchone()
        return {a["kind"] for a in alarms_of(json.loads(row[0]))} if row and row[0] else set()

    def flags(self, device_id: str) -> dict[int, str | None]:
        """Each stored punch's flags (comma-separated kinds, or None) by seq."""
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return dict(db.execute("SELECT seq, flags FROM punches WHERE device_id = ?", (device_id,)))

    def log_text(self) -> str:
        return (self.workdir / "ingest.log").read_text()


class BurstKiosk:
    """A camera-less kiosk process: the real outbox and link, punches made on demand."""

    def __init__(self, workdir: Path, device_id: str, broker_port: int, hub: HubIngest,
                 ack_timeout_s: float = 5.0, inflight_max: int = 100) -> None:
        self.workdir = workdir
        self.device_id = device_id
        workdir.mkdir(parents=True, exist_ok=True)
        key = signing.generate_private_key()
        signing.write_private_key(key, workdir / "device.key")
        hub.register(device_id, signing.public_key_b64(key))
        self.config = workdir / "kiosk.yaml"
        self.config.write_text(yaml.safe_dump({
            "device_id": device_id, "site_id": SITE, "state_dir": str(workdir / "state"),
            "signing_key_file": str(workdir / "device.key"),
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "ack_timeout_s": ack_timeout_s,
                     "inflight_max": inflight_max, "reconnect_max_s": 2},
        }))
        self.proc: subprocess.Popen | None = None

    def start(self, count: int, rate: float = 0.0, drain_timeout_s: float = 120.0, offline: bool = False) -> None:
        args = [sys.executable, "-m", "devtools.punch_burst", "--config", str(self.config), "--count", str(count),
                "--rate", str(rate), "--employees", ",".join(EMPLOYEES), "--drain-timeout-s", str(drain_timeout_s)]
        if offline:
            args.append("--offline")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.workdir / "kiosk.log", "a"),
                                     text=True)

    def wait(self, timeout_s: float = 300.0) -> dict:
        out, _ = self.proc.communicate(timeout=timeout_s)
        assert self.proc.returncode == 0, (self.workdir / "kiosk.log").read_text()
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def outbox(self) -> tuple[int, int]:
        """(last seq ever made, rows still waiting) from the kiosk's own database."""
        box = Outbox(self.workdir / "state" / OUTBOX_FILE)
        try:
            return box.last_seq(), box.depth()
        finally:
            box.close()


def wait_until(condition, timeout_s: float, what: str) -> None:
    """Poll until ``condition`` holds; fail the test naming ``what`` otherwise."""
    assert polling.wait_until(condition, timeout_s, interval_s=0.2), f"timed out after {timeout_s:.0f} s waiting for {what}"


def assert_exactly_once(seqs: list[int], last_seq: int) -> None:
    """Every punch 1..last_seq stored, none twice."""
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} punches stored twice"
    missing = set(range(1, last_seq + 1)) - set(seqs)
    assert not missing, f"{len(missing)} punches lost, e.g. seq {sorted(missing)[:10]}"
    assert len(seqs) == last_seq
