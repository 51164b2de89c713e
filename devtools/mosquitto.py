"""A throwaway Mosquitto on a free loopback port, for tests and the demo.

Tests own the process so they can stop, kill and restart it on the same port
to prove the no-loss guarantees against a real broker. By default it listens
in plaintext on loopback; with ``plain_listener=False`` the listeners are
only those of ``extra_config`` (e.g. the TLS listener ``provision broker``
writes) and ``port`` is the one of them to wait for.
"""

import logging
import shutil
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).exists()), None
    )
    if not found:
        raise BrokerError("mosquitto not found; install it with: sudo apt-get install -y mosquitto")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class MosquittoProcess:
    """One mosquitto process with its own config, persistence and log in ``workdir``."""

    def __init__(
        self, workdir: Path, port: int | None = None, extra_config: str = "", plain_listener: bool = True
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.extra_config = extra_config
        self.plain_listener = plain_listener
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1"] if self.plain_listener else []
        lines += [
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0 and "\nuser " not in "\n" + self.extra_config:
            # Started as root, mosquitto drops to user "mosquitto", which cannot write its
            # log and persistence into a private work dir (pytest's tmp_path is 0700).
            lines.append("user root")
        if "allow_anonymous" not in self.extra_config:
            lines.append("allow_anonymous true")
        self.config_path.write_text("\n".join(lines) + "\n" + self.extra_config + "\n")

    def start(self, timeout_s: float = 10.0) -> "MosquittoProcess":
        if self.is_running():
            return self
        self.write_config()
        self._proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not wait_for_port(self.port, timeout_s):
            err = b""
            if self._proc.poll() is not None and self._proc.stderr:
                err = self._proc.stderr.read()
            self.stop()
            raise BrokerError(f"mosquitto did not listen on {self.port}: {err.decode(errors='replace')}")
        log.info("mosquitto started on %s:%s (pid %s)", self.host, self.port, self._proc.pid)
        return self

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop: mosquitto saves its persistence file on SIGTERM."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def kill(self) -> None:
        """Crash: SIGKILL, nothing saved."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "MosquittoProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
