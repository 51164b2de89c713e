"""The ingest worker's side of remote commands: send the queued ones, take in the results.

An ingest worker is the hub process that holds an MQTT connection, so it
sends what the API queued (hub/devices/commands.py) and moves running
rollouts on (hub/devices/rollout.py, which queues update commands): every
``commands.poll_s`` it expires old commands, claims those of kiosks that are
online and publishes them (QoS 1) after the claim is committed. A result on
``cmd/result`` is recorded in one short transaction; an ``enrol`` result
changes a gallery, and the kiosks of that site are sent the delta at once
instead of at their next health message.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db import Device
from hub.devices import commands, rollout
from hub.enrolment.gallery import gallery_updates
from protocol import messages, topics
from protocol.errors import MessageInvalid

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


class CommandSender:
    """A thread that publishes queued commands of online kiosks until ``stop()``."""

    def __init__(self, config: HubConfig, session_factory: sessionmaker[Session], publish: Publish,
                 clock: Callable[[], datetime]) -> None:
        self.config = config
        self._session_factory = session_factory
        self._publish = publish
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"updates_queued": 0, "commands_sent": 0, "commands_expired": 0, "command_results": 0,
                      "command_results_refused": 0}

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hub-commands", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        """Never dies on a database error: logs it and tries again at the next tick."""
        while not self._stop.wait(self.config.commands.poll_s):
            try:
                self.advance_rollouts()
                self.send_due()
            except SQLAlchemyError:
                log.warning("sending queued commands failed; trying again in %.1f s", self.config.commands.poll_s,
                            exc_info=True)
            except Exception:
                log.exception("sending queued commands failed; trying again")

    def advance_rollouts(self) -> int:
        """Move the running rollouts on (hub/devices/rollout.py); the update commands it queues are sent
        by ``send_due`` like any other. Returns how many were queued."""
        with self._session_factory() as session:
            if not rollout.has_running(session):  # the usual case: one indexed read
                return 0
            queued = rollout.advance(session, self._clock(), self.config)
            session.commit()
        if queued:
            self.stats["updates_queued"] += queued
        return queued

    def send_due(self) -> int:
        """Expire, claim and publish; returns how many were published."""
        now = self._clock()
        with self._session_factory() as session:
            if not commands.has_queued(session):  # the usual case: a read only, no write lock every tick
                return 0
            expired = commands.expire_due(session, now)
            claimed = commands.claim_due(session, now, stale_after_s=self.config.health.stale_after_s)
            session.commit()
        if expired:
            self.stats["commands_expired"] += expired
            log.info("%d queued commands expired (their kiosks stayed offline)", expired)
        for device_id, command in claimed:
            self._publish(topics.device_topic(device_id, topics.CMD), command.to_json())
            self.stats["commands_sent"] += 1
            log.info("command %s (%s) sent to %s", command.id, command.name, device_id)
        return len(claimed)

    def take_result(self, topic: str, payload: bytes, received_at: datetime) -> commands.ResultOutcome:
        """Record one ``cmd/result`` message (the worker acks it afterwards, whatever happened)."""
        device_id = topics.parse_device_topic(topic).device_id
        try:
            data = messages.decode_json(payload, self.config.max_payload_bytes)
            result = messages.validate(messages.CommandResult, data)
        except MessageInvalid as exc:
            self.stats["command_results_refused"] += 1
            log.warning("command result from %s refused: %s", device_id, exc.reason)
            return commands.ResultOutcome("refused", exc.reason)
        with self._session_factory() as session:
            outcome = commands.record_result(session, device_id, data, result, received_at)
            session.commit()
            deltas = self._site_deltas(session, outcome.sites) if outcome.sites else []
        self.stats["command_results"] += 1
        for kiosk, delta in deltas:
            self._publish(topics.device_topic(kiosk, topics.GALLERY_DELTA), delta.to_json())
            log.info("gallery delta pushed to %s after a kiosk enrolment: %s -> %s", kiosk, delta.from_version,
                     delta.to_version)
        return outcome

    @staticmethod
    def _site_deltas(session: Session, site_ids: tuple[str, ...]) -> list[tuple[str, messages.GalleryDelta]]:
        """Deltas for the kiosks of these sites that confirmed a gallery and are now behind (after an enrolment)."""
        held = dict(session.execute(select(Device.device_id, Device.gallery_version).where(
            Device.site_id.in_(site_ids), Device.retired_at.is_(None), Device.gallery_version.is_not(None))).all())
        return gallery_updates(session, held) if held else []
