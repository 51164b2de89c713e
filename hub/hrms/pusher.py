"""The push loop: queue new punches, send what is due to each target, record the outcome.

Each send happens outside any database transaction and its outcome is
committed right after, so a pusher killed at any point loses nothing: a
punch whose outcome was not committed is sent again, and the target's own
duplicate check (see each client) makes that second send a no-op. Targets
are independent: one that is down only delays its own rows.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from hub.db import utcnow
from hub.hrms import TargetRefused, TargetUnavailable
from hub.hrms import queue
from hub.hrms.config import FrappeTarget, HrmsConfig, OdooTarget, Target, WebhookTarget
from protocol.settings import ConfigError

log = logging.getLogger(__name__)


class Client(Protocol):
    def send(self, punch: queue.PushPunch) -> str | None:
        """Deliver one punch; return the target's id of it, if any. Raise TargetUnavailable or TargetRefused."""

    def close(self) -> None: ...


def make_client(target: Target) -> Client:
    if isinstance(target, FrappeTarget):
        from hub.hrms.frappe import FrappeClient

        return FrappeClient(target)
    if isinstance(target, OdooTarget):
        from hub.hrms.odoo import OdooClient

        return OdooClient(target)
    if isinstance(target, WebhookTarget):
        from hub.hrms.webhook import WebhookClient

        return WebhookClient(target)
    raise TypeError(f"no client for {type(target).__name__}")


class Pusher:
    def __init__(self, sessions: sessionmaker[Session], config: HrmsConfig,
                 clients: dict[str, Client] | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions, self.config, self.clock = sessions, config, clock
        self.clients = clients if clients is not None else {t.name: make_client(t) for t in config.targets}

    def enqueue(self) -> int:
        with self.sessions.begin() as session:
            return sum(queue.enqueue_new(session, t.name, now=self.clock(), since=self.config.since,
                                         site_ids=t.site_ids) for t in self.config.targets)

    def push_due(self, target: Target) -> tuple[int, int]:
        """Send one round of ``target``'s due punches; (sent, failed or refused)."""
        with self.sessions() as session:
            batch = queue.due(session, target.name, now=self.clock(), limit=self.config.batch_size,
                              tz=ZoneInfo(target.time_zone))
        client, sent, failed = self.clients[target.name], 0, 0
        for punch in batch:
            try:
                external_id = client.send(punch)
            except TargetUnavailable as exc:
                failed += 1
                with self.sessions.begin() as session:
                    when = queue.mark_failed(session, target.name, punch.id, now=self.clock(), error=str(exc),
                                             initial_s=self.config.retry_initial_s, max_s=self.config.retry_max_s)
                log.warning("%s: punch %s not delivered, retry at %s: %s", target.name, punch.id, when, exc)
                break  # the target is down or busy: the rest of the batch waits for the next round
            except (TargetRefused, ConfigError) as exc:
                failed += 1
                with self.sessions.begin() as session:
                    queue.mark_refused(session, target.name, punch.id, now=self.clock(), error=str(exc))
                log.error("%s: punch %s refused for good: %s", target.name, punch.id, exc)
                continue
            with self.sessions.begin() as session:
                queue.mark_sent(session, target.name, punch.id, now=self.clock(), external_id=external_id)
            sent += 1
        return sent, failed

    def run_once(self) -> int:
        """Queue new punches, then push every target until nothing more is due now; returns punches sent."""
        self.enqueue()
        total = 0
        for target in self.config.targets:
            while True:
                sent, failed = self.push_due(target)
                total += sent
                if sent == 0:
                    break
        return total

    def run(self, stop: threading.Event) -> None:
        """Push until ``stop`` is set; a failing round is logged and retried after the poll interval."""
        log.info("hrms push: %d targets, every %g s", len(self.config.targets), self.config.poll_interval_s)
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the loop must outlive a database restart
                log.exception("hrms push round failed; next round in %.0f s", self.config.poll_interval_s)
            stop.wait(self.config.poll_interval_s)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
