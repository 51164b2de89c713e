"""Real processes for live tests: `hub run` on SQLite and `kiosk run` on the replay camera, over a real broker.

Used by the remote-command tests and the office-setup story; each process
logs to a file in the test's tmp_path, shown when something fails.
"""

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from devtools.mosquitto import free_port

WAIT_S = 120.0  # the longest any condition is waited for; the machine is shared and dlib is slow


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def check(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S, logs: tuple[Path, ...] = ()) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` (and the logs' tails)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.25)


class LiveHub:
    """`hub run` with its own config, token and SQLite file; ``api`` is a client with the admin token."""

    def __init__(self, tmp_path: Path, broker_port: int, tls: tuple[Path, Path, Path] | None = None,
                 **config: Any) -> None:
        """``tls``: (certificate, key, CA) to serve HTTPS with, the client checking it against the CA."""
        self.dir = tmp_path / "hub"
        self.dir.mkdir()
        self.token = secrets.token_urlsafe(32)
        (self.dir / "admin.token").write_text(self.token)
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.config_file = self.dir / "hub.yaml"
        self.log_file = self.dir / "hub.log"
        api: dict[str, Any] = {"host": "127.0.0.1", "port": self.port}
        if tls:
            api |= {"tls_cert_file": str(tls[0]), "tls_key_file": str(tls[1])}
        self.config_file.write_text(yaml.safe_dump({
            "database_url": f"sqlite:///{self.dir / 'hub.sqlite'}",
            "admin_token_file": str(self.dir / "admin.token"),
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": "hub-live"},
            "api": api,
            **config,
        }))
        self.api = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30,
                                verify=str(tls[2]) if tls else True)
        self._proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        return check([tool("hub"), *args, "--config", str(self.config_file)])

    def start(self) -> "LiveHub":
        self.cli("init-db")
        self._log = open(self.log_file, "w")
        self._proc = subprocess.Popen([tool("hub"), "run", "--config", str(self.config_file)], stdout=self._log,
                                      stderr=subprocess.STDOUT)

        def healthy() -> bool:
            assert self._proc.poll() is None, self.log_file.read_text()
            try:
                return self.api.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, "the hub to answer /healthz", logs=(self.log_file,))
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(60)
        self.api.close()
        if self._proc is not None:
            self._log.close()
            self._proc = None


class LiveKiosk:
    """`kiosk run` on a replay camera looping over ``frames``, until ``stop()``."""

    def __init__(self, tmp_path: Path, hub: LiveHub, broker_port: int, device_id: str, site_id: str,
                 frames: Path, **config: Any) -> None:
        self.dir = tmp_path / device_id
        self.dir.mkdir()
        self.device_id = device_id
        self.key_file = self.dir / "device.key"
        self.public_key = check([tool("kiosk"), "keygen", "--out", str(self.key_file)]).split()[-1]
        self.config_file = self.dir / "kiosk.yaml"
        self.log_file = self.dir / "kiosk.log"
        self.config_file.write_text(yaml.safe_dump({
            "device_id": device_id, "site_id": site_id, "state_dir": str(self.dir / "state"),
            "signing_key_file": str(self.key_file),
            "mqtt": {"host": "127.0.0.1", "port": broker_port},
            "camera": {"kind": "replay", "path": str(frames), "fps": 4, "repeat": 2, "loop": True},
            "liveness": {"mode": "off"},  # still photos cannot blink; liveness has its own tests
            "clock": {"require_sync": False},  # a test machine's kernel may not call its clock synchronised
            "voice": {"enabled": False},  # no sound card here; the voice has its own tests (fake sink)
            "health_interval_s": 5,
            **config,
        }))
        self._proc: subprocess.Popen | None = None

    def start(self) -> "LiveKiosk":
        self._log = open(self.log_file, "a")
        self._proc = subprocess.Popen([tool("kiosk"), "run", "--config", str(self.config_file), "--headless"],
                                      stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def show(self, frames: Path, repeat: int = 2) -> None:
        """Point the replay camera at another folder, each image ``repeat`` frames in a row (takes
        effect at the next ``start()``); a person must stay for several frames to be recognised."""
        config = yaml.safe_load(self.config_file.read_text())
        config["camera"]["path"] = str(frames)
        config["camera"]["repeat"] = repeat
        self.config_file.write_text(yaml.safe_dump(config))

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc is not None:
            self._log.close()
            self._proc = None
