"""``hub ingest --workers N``: N ingest worker processes splitting punches on one shared subscription.

Why processes and not threads: storing a punch is mostly Python work
(signature check, validation, SQLAlchemy), so threads of one process would
share one GIL; separate processes use every core. Each worker is exactly
what one ``hub ingest --client-id X`` (one ``hub-ingest@X`` unit) runs, with
its own MQTT client id ``<client_id>-<n>`` and so its own persistent broker
session on the MQTT v5 shared subscription ``$share/<group>/...``.

The pool restarts a worker that dies (as systemd's ``Restart=always`` would),
with the same client id: the broker keeps what it had queued for that
session (Mosquitto gives a shared-subscription message to one session, even
one that is offline), so a restarted worker picks it up; anything the dead
worker had not acked is delivered again and stored once (insert-or-ignore).
On SIGTERM/SIGINT the workers are asked to stop (SIGTERM), then killed if
they do not within ``stop_timeout_s``.
"""

import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.config import HubConfig

log = logging.getLogger(__name__)

RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 30.0  # a worker that ran this long resets the restart backoff


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the pool process dies, even by SIGKILL (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux/glibc: run under systemd (hub-ingest@N units), which stops the whole group


def worker_client_ids(base: str, count: int) -> list[str]:
    """``hub-ingest`` x 3 -> ``hub-ingest-1 .. hub-ingest-3``: fixed, so a restarted worker resumes its session."""
    return [f"{base}-{n}" for n in range(1, count + 1)]


def worker_command(config_path: Path, client_id: str, log_level: str) -> list[str]:
    """One worker: the same program and config, its own client id."""
    return [sys.executable, "-m", "hub.cli", "--log-level", log_level, "ingest", "--config", str(config_path),
            "--client-id", client_id]


@dataclass
class _Worker:
    client_id: str
    command: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_delay_s: float = RESTART_MIN_S
    restart_at: float | None = None
    restarts: int = field(default=0)


class IngestPool:
    """Starts, watches, restarts and stops the worker processes."""

    def __init__(self, commands: dict[str, list[str]], *, stop_timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
        self._workers = [_Worker(cid, cmd) for cid, cmd in commands.items()]
        self.stop_timeout_s = stop_timeout_s
        self.poll_s = poll_s

    def pids(self) -> dict[str, int | None]:
        return {w.client_id: (w.proc.pid if w.proc and w.proc.poll() is None else None) for w in self._workers}

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then stop every worker."""
        for worker in self._workers:
            self._spawn(worker)
        try:
            while not stop.wait(self.poll_s):
                self._watch(time.monotonic())
        finally:
            self.stop_all()

    def _spawn(self, worker: _Worker) -> None:
        worker.proc = subprocess.Popen(worker.command, preexec_fn=_die_with_parent)
        worker.started_at = time.monotonic()
        worker.restart_at = None
        log.info("ingest worker %s started (pid %d)", worker.client_id, worker.proc.pid)

    def _watch(self, now: float) -> None:
        for worker in self._workers:
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    worker.restarts += 1
                    self._spawn(worker)
                continue
            assert worker.proc is not None
            rc = worker.proc.poll()
            if rc is None:
                continue
            ran_s = now - worker.started_at
            worker.restart_delay_s = (RESTART_MIN_S if ran_s >= HEALTHY_AFTER_S
                                      else min(worker.restart_delay_s * 2, RESTART_MAX_S))
            worker.restart_at = now + worker.restart_delay_s
            log.error("ingest worker %s (pid %d) exited with %s after %.1f s; restarting in %.1f s "
                      "(its unacked punches wait in its broker session)", worker.client_id, worker.proc.pid, rc,
                      ran_s, worker.restart_delay_s)

    def stop_all(self) -> None:
        running = [w.proc for w in self._workers if w.proc is not None and w.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("ingest worker pid %d did not stop in %.0f s; killing it", proc.pid, self.stop_timeout_s)
                proc.kill()
                proc.wait()
        log.info("ingest workers stopped")


def run_pool(config_path: Path, config: "HubConfig", *, count: int, client_id: str | None, log_level: str) -> None:
    """``hub ingest --workers N``: run N workers until SIGTERM/SIGINT.

    Refuses to start without ``mqtt.shared_group``: without it every worker
    would get (and store, and ack) every punch, N times the work for nothing.
    """
    from hub.app import stop_on_signals
    from protocol.settings import ConfigError

    if config.mqtt.shared_group is None:
        raise ConfigError(config_path, [
            f"mqtt.shared_group: must be set (e.g. 'hub') to run {count} ingest workers; "
            "without a shared subscription every worker would receive every punch"])
    base = client_id or config.mqtt.client_id
    ids = worker_client_ids(base, count)
    pool = IngestPool({cid: worker_command(config_path, cid, log_level) for cid in ids})
    stop = threading.Event()
    stop_on_signals(stop)
    log.info("running %d ingest workers on $share/%s: %s", count, config.mqtt.shared_group, ", ".join(ids))
    pool.run(stop)
