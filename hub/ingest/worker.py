"""The MQTT ingest worker: punches in, one transaction per batch, acks after commit.

paho's network thread only enqueues (``hub.ingest.inbox``, at most
``ingest.receive_max`` messages: when it is full paho stops reading and a
backlog waits at the broker, not in memory); one worker thread takes batches
(up to ``ingest.batch_max`` messages or ``ingest.batch_wait_s`` after the
first), decides each punch (``hub.ingest.intake``; the batch's kiosks and
employees are loaded with one query each, and its signatures are checked on
``VERIFY_THREADS`` threads, where libsodium runs without the GIL, so a worker
uses a second core), stores the batch in ONE transaction (its
punches with one insert-or-ignore, so a repeated id is stored once and
acked again) and only after the commit publishes the kiosk acks and sends
the broker its PUBACKs (``manual_ack``). If the database is locked or unreachable the
batch is retried after a capped, jittered backoff and nothing is acked, so
the broker and the kiosk both still hold the punch; any other failure is
narrowed down to the one message that causes it, which is kept as an audit
row, so a poison message cannot stall ingest. No other message is left
unacked either: one that fails twice, or whose audit row cannot be written,
is PUBACKed and counted (``stats["dropped"]``), since each unacked message
holds one of the ``ingest.receive_max`` slots the broker grants, until a
reconnect where it would fail again. The session is persistent (fixed client id,
``clean_start=False``, a session expiry), so punches sent while the hub is
down wait in the broker.

Acks and gallery deltas go out on a second connection (``<client_id>-out``),
so their round trips with the broker never wait behind the punches coming in.
A PUBACK is only sent on the connection that delivered the message: after a
reconnect the broker resends unacked messages with the same packet ids, and
acking a stale id could acknowledge a different, not yet stored message.
"""

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.devices import health
from hub.devices.registry import lookup_device, lookup_devices
from hub.enrolment import gallery_keys
from hub.enrolment.gallery import (
    allowed_sites,
    build_delta,
    gallery_updates,
    record_applied,
)
from hub.ingest import plausibility
from hub.ingest.command_sender import CommandSender
from hub.ingest.inbox import Inbox
from hub.ingest.intake import (
    Accepted,
    DeviceRecord,
    Outcome,
    PunchMessage,
    Rejected,
    Screened,
    build_acks,
    finish_punch,
    parse_punch_message,
    punch_id_of,
    screen_punch,
)
from hub.ingest.plausibility import Flag
from hub.ingest.punches import ReceivedMessage, highest_seqs, seq_book, store_decisions
from protocol import messages, topics
from protocol.backoff import backoff_delay
from protocol.errors import MessageInvalid, ProtocolError
from protocol.settings import read_secret
from protocol.signing import public_key_bytes, verify_many

log = logging.getLogger(__name__)

T = TypeVar("T")
VERIFY_THREADS = min(2, os.cpu_count() or 1)  # signature checks release the GIL: one thread per core they can use
Stored = tuple[list[Outcome], list[str]]  # per message: what to tell the kiosk, and stored/duplicate/rejected
SUBSCRIBED_KINDS = (topics.PUNCH, topics.GALLERY_REQUEST, topics.GALLERY_APPLIED, topics.GALLERY_KEY_REQUEST,
                    topics.CMD_RESULT)
PUBLISHER_SUFFIX = "-out"  # the client id of a worker's publishing connection: its own id plus this


@dataclass(frozen=True)
class Delivery:
    """One MQTT message as queued for the worker, with what acking it needs."""

    message: ReceivedMessage
    mid: int
    qos: int
    generation: int  # connection it arrived on
    retained: bool = False  # a retained copy sent on subscribe, not a live message


def freeze_startup_objects() -> None:
    """Keep the garbage collector off what start-up made (modules, SQLAlchemy's and pydantic's
    structures), once per process.

    Those objects live as long as the process, yet every full collection
    walks all of them again; storing punches allocates enough to run one
    every few batches, which cost about 9 us per punch. ``gc.freeze``
    moves them out of the collector's view; what is made later is
    collected as before.
    """
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


_frozen = False


class _Stopped(Exception):
    """The worker was asked to stop while retrying; the batch stays unacked."""


class IngestWorker:
    """Consumes punches and gallery messages from the broker into the database."""

    def __init__(
        self,
        config: HubConfig,
        session_factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.config = config
        self._session_factory = session_factory
        self._clock = clock
        self._policy = config.plausibility()
        self.stats = {
            "delivered": 0, "received": 0, "stored": 0, "duplicates": 0, "rejected": 0,
            "commit_failures": 0, "gallery_requests": 0, "gallery_applied": 0,
            "status": 0, "health": 0, "device_reports_rejected": 0, "gallery_pushes": 0,
            "gallery_keys_sent": 0, "gallery_keys_refused": 0, "dropped": 0,
        }
        self.ready = threading.Event()  # set while connected with our subscriptions granted
        self._stop = threading.Event()
        self._inbox: Inbox[Delivery] = Inbox(config.ingest.batch_max, config.ingest.receive_max)
        self._generation = 0
        self._acked: set[int] = set()  # id() of the current batch's deliveries already PUBACKed
        self._client: mqtt.Client | None = None  # receives, and sends the broker its PUBACKs
        self._publisher: mqtt.Client | None = None  # sends the kiosks their acks and gallery deltas
        self._thread: threading.Thread | None = None
        self._verifier: ThreadPoolExecutor | None = None  # None: signatures checked on the worker thread
        self._gallery_key_secret: bytes | None = None  # read (or made) at the first key request
        self._working_since: float | None = None  # monotonic time of the last step of the batch in hand
        self.commands = CommandSender(config, session_factory, self._publish, clock)  # remote commands to kiosks

    # --- lifecycle -------------------------------------------------------

    def start(self) -> None:
        freeze_startup_objects()
        cfg = self.config.mqtt
        client = self._new_client(cfg.client_id, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = self.config.ingest.receive_max  # the inbox holds no more either (hub.ingest.inbox)
        client.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False, properties=props)
        # Acks on the receiving connection would wait for their PUBACKs behind the punches coming in,
        # which paho reads only as fast as the worker stores: draining 1,000,000, acks went out at a
        # few a second and paho's 65,535 message ids ran out.
        publisher = self._new_client(f"{cfg.client_id}{PUBLISHER_SUFFIX}")
        publisher.on_connect = self._on_publisher_connect
        publisher.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=True)
        self._client, self._publisher = client, publisher
        self._stop.clear()
        if VERIFY_THREADS > 1:
            self._verifier = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="hub-verify")
        self._thread = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        self._thread.start()
        log.info("ingest connecting to mqtt %s:%s as %s", cfg.host, cfg.port, cfg.client_id)
        publisher.loop_start()
        client.loop_start()
        self.commands.start()

    def _new_client(self, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
        """A paho client with the configured login, TLS and reconnect delays."""
        cfg = self.config.mqtt
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack
        )
        if cfg.username:
            password = read_secret(cfg.password_file, "MQTT password") if cfg.password_file else None
            client.username_pw_set(cfg.username, password)
        if cfg.ca_file:  # paho then also checks that the broker's certificate names cfg.host
            client.tls_set(ca_certs=str(cfg.ca_file), certfile=cfg.cert_file, keyfile=cfg.key_file)
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        return client

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking batches; messages not yet committed stay unacked at the broker."""
        if self._thread is None and self._client is None:
            return
        self._stop.set()
        self.commands.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._verifier is not None:
            self._verifier.shutdown(wait=False, cancel_futures=True)
            self._verifier = None
        for client in (self._client, self._publisher):
            if client is not None:
                client.disconnect()
                client.loop_stop()
        self._client = self._publisher = None
        self.ready.clear()
        log.info("ingest stopped: %s", self.stats)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def inbox_high_water(self) -> int:
        """The most messages that have waited in memory at once (at most ``ingest.receive_max``)."""
        return self._inbox.high_water

    # --- paho callbacks (network thread): record and enqueue only --------

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("mqtt connection refused: %s", reason_code)
            return
        self._generation += 1
        log.info("mqtt connected (session present: %s)", flags.session_present)
        group = self.config.mqtt.shared_group
        client.subscribe([(topics.subscription(kind, group), 1) for kind in SUBSCRIBED_KINDS]
                         + health.subscriptions(group))

    def _on_publisher_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("mqtt publisher connection refused: %s", reason_code)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("mqtt subscription refused: %s", ", ".join(failed))
        else:
            self.ready.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.ready.clear()
        if not self._stop.is_set():
            log.warning("mqtt disconnected (%s); reconnecting", reason_code)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        received = ReceivedMessage(msg.topic, bytes(msg.payload), self._clock())
        # waits while the inbox is full: paho stops reading and the broker keeps the backlog
        if self._inbox.put(Delivery(received, msg.mid, msg.qos, self._generation, bool(msg.retain)), self._stop):
            self.stats["delivered"] += 1

    # --- worker thread ----------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            self._working_since = time.monotonic()
            try:
                self._handle_bounded(batch)
            except _Stopped:
                log.info("stopping with %d messages uncommitted; the broker keeps them", len(batch))
            finally:
                self._working_since = None

    def is_progressing(self, stall_s: float) -> bool:
        """For the systemd watchdog: the worker thread runs, and is idle or made a step in ``stall_s``.

        A database retry counts as a step (a database outage is waited out, not restarted);
        a batch stuck in one call for longer (a wedged driver, a deadlock) does not.
        """
        if self._thread is None or not self._thread.is_alive():
            return False
        since = self._working_since
        return since is None or time.monotonic() - since < stall_s

    def _handle_bounded(self, batch: list[Delivery]) -> None:
        """``_handle``, trying each message at most twice: if a bug fails the batch, each message
        it left unacked is tried once more on its own, and one that fails again is dropped.

        Left unacked, a message would hold one of the ``ingest.receive_max``
        slots the broker grants until the next reconnect, where it would fail
        again: as many such messages as slots, and no punch from any kiosk is
        delivered, even after a restart.
        """
        self._acked.clear()
        try:
            self._handle(batch)
            return
        except _Stopped:
            raise
        except Exception:  # a bug must not kill ingest
            log.exception("a batch of %d messages failed; trying its unacked ones alone", len(batch))
        for delivery in [d for d in batch if id(d) not in self._acked]:
            try:
                self._handle([delivery])
            except _Stopped:
                raise
            except Exception as exc:
                self._drop(delivery, exc)

    def _drop(self, delivery: Delivery, exc: Exception) -> None:
        """PUBACK a message that could not be handled, not even kept for audit, and count it
        (``stats["dropped"]``).

        Nothing is lost by it: a punch is not answered, so its kiosk keeps it
        and sends it again; the other messages a kiosk sends again anyway.
        """
        log.error("a message on %s (%d bytes) could not be handled (%s: %s); dropped", delivery.message.topic,
                  len(delivery.message.payload), type(exc).__name__, exc, exc_info=exc)
        self.stats["dropped"] += 1
        self._ack([delivery])

    def _take_batch(self) -> list[Delivery]:
        return self._inbox.take(self.config.ingest.batch_wait_s, self._stop)

    def _handle(self, batch: list[Delivery]) -> None:
        kinds = {id(d): self._kind(d.message.topic) for d in batch}
        punches = [d for d in batch if kinds[id(d)] == topics.PUNCH]
        reports = [d for d in batch if kinds[id(d)] in health.KINDS]
        if reports:  # first, so a punch is judged by the newest clock skew of its kiosk
            self._handle_reports(reports)
        if punches:
            self._handle_punches(punches)
        handlers = {topics.GALLERY_REQUEST: self._handle_gallery_request,
                    topics.GALLERY_APPLIED: self._handle_gallery_applied,
                    topics.GALLERY_KEY_REQUEST: self._handle_gallery_key_request,
                    topics.CMD_RESULT: self._handle_command_result}
        for delivery in batch:
            kind = kinds[id(delivery)]
            if kind == topics.PUNCH or kind in health.KINDS:
                continue
            if kind not in handlers:
                log.warning("message on unexpected topic %s ignored", delivery.message.topic)
                self._ack([delivery])
                continue
            try:
                handlers[kind](delivery)
            except _Stopped:
                raise
            except Exception as exc:  # the kiosk asks again; an unacked message would block the broker's window
                self._drop(delivery, exc)

    @staticmethod
    def _kind(topic: str) -> str | None:
        try:
            return topics.parse_device_topic(topic).kind
        except ValueError:
            # a punch subscription can deliver a topic whose device level is not a valid id
            return topics.PUNCH if topic.endswith("/" + topics.PUNCH) else None

    def _handle_punches(self, batch: list[Delivery]) -> None:
        self.stats["received"] += len(batch)
        for deliveries, (outcomes, results) in self._store_isolating(batch):
            for result in results:
                self.stats[{"stored": "stored", "duplicate": "duplicates", "rejected": "rejected"}[result]] += 1
            for device_id, ack in build_acks(outcomes, self._clock()).items():
                self._publish(topics.device_topic(device_id, topics.ACK), ack.to_json())
            self._ack(deliveries)

    def _store_isolating(self, batch: list[Delivery]) -> list[tuple[list[Delivery], Stored]]:
        """Store a batch, as one transaction if possible; returns the committed parts.

        Transient failures (database locked or unreachable) are retried as a
        whole. Any other failure is blamed on one message: the batch is split
        into single messages, so one that cannot be stored is kept as an
        audit row and the others go through, instead of the batch failing
        on every retry and stalling ingest.
        """
        try:
            return [(batch, self._retry(lambda: self._store(batch), f"storing {len(batch)} punch messages"))]
        except _Stopped:
            raise
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d failed (%s); storing its messages one by one", len(batch),
                            type(exc).__name__)
                return [part for delivery in batch for part in self._store_isolating([delivery])]
            return self._store_unstorable(batch[0], exc)

    def _store(self, batch: list[Delivery]) -> Stored:
        """Decide and store a batch in one transaction, with a fixed number of statements:
        one SELECT for the batch's kiosks, one for its employees with their allowed sites,
        one for their kiosks' clocks and one for their seqs (a second for resends and reused
        seqs: ``punches.seq_book``), one insert for its punches (``store_decisions``), then the
        kiosks' highest stored seqs, for their acks."""
        with self._session_factory() as session:
            decisions = self._decide_batch(session, [d.message for d in batch])
            results = store_decisions(session, decisions, max_payload_bytes=self.config.max_payload_bytes)
            outcomes = [self._outcome(message, decision) for message, decision in decisions]
            seqs = highest_seqs(session, (o.device_id for o in outcomes if o.device_id is not None))
            session.commit()
        return [replace(o, seq=seqs.get(o.device_id or "")) for o in outcomes], results

    def _decide_batch(
        self, session: Session, batch: list[ReceivedMessage]
    ) -> list[tuple[ReceivedMessage, Accepted | Rejected]]:
        """``check_punch`` for each message, in its order of checks, with the batch's lookups and
        signatures done together.

        The batch's kiosks are loaded first (one SELECT, plain rows); the
        signatures are then checked on the verifier threads (libsodium,
        without the GIL) while this thread loads the employees' sites, and
        each punch's last checks run as soon as its signature's chunk is done (its plausibility
        judged by its kiosk's clock and seqs, loaded meanwhile too).
        """
        max_bytes, policy = self.config.max_payload_bytes, self._policy
        parsed = [self._decide(m, lambda m=m: parse_punch_message(m.topic, m.payload, max_bytes=max_bytes))
                  for m in batch]
        punches = [p for p in parsed if isinstance(p, PunchMessage)]
        devices = lookup_devices(session, (p.device_id for p in punches))
        key_of = functools.cache(public_key_bytes)  # this batch's kiosks' keys, decoded once each

        def screen(message: ReceivedMessage, parsed: PunchMessage | Rejected) -> Screened | Rejected:
            if isinstance(parsed, Rejected):
                return parsed
            return self._decide(message, lambda: screen_punch(parsed, device_lookup=devices.get, key_of=key_of))

        screened = [screen(m, p) for m, p in zip(batch, parsed)]
        signatures = verify_many([(s.message.raw, s.public_key) for s in screened if isinstance(s, Screened)],
                                 self._verifier)
        # while the verifier threads work: the employees' sites (asked for every punch with an employee id,
        # signed or not, as before, so the statements do not depend on what the signatures say)
        allowed = allowed_sites(session, (p.employee_id for p in punches if p.employee_id is not None))

        clocks = health.device_clocks(session, devices)
        seqs = seq_book(session, ((p.device_id, p.raw.get("seq")) for p in punches))

        def is_allowed(employee_id: str, site_id: str) -> bool:
            return site_id in allowed.get(employee_id, ())

        def finish(message: ReceivedMessage, screened: Screened | Rejected) -> Accepted | Rejected:
            if isinstance(screened, Rejected):
                return screened
            signature = next(signatures)

            def assess(punch: messages.Punch) -> str | tuple[Flag, ...]:
                return plausibility.assess(punch, message.received_at, clocks.get(punch.device_id), seqs, policy)

            return self._decide(message, lambda: finish_punch(screened, signature, is_allowed=is_allowed,
                                                              assess=assess))

        return [(m, finish(m, s)) for m, s in zip(batch, screened)]

    def _store_unstorable(self, delivery: Delivery, exc: Exception) -> list[tuple[list[Delivery], Stored]]:
        """Keep a punch message that cannot be stored as an audit row; if even that fails, drop it
        (``_drop``), so the rest of its batch is still acked and nothing stays unacked."""
        log.error("a punch on %s cannot be stored (%s); keeping it as an audit row", delivery.message.topic,
                  type(exc).__name__, exc_info=exc)
        rejected = self._hub_fault(delivery.message, f"internal error: could not store ({type(exc).__name__})")
        try:
            return [([delivery], self._retry(lambda: self._store_rejected(delivery, rejected), "storing an audit row"))]
        except _Stopped:
            raise
        except Exception as audit_exc:
            self._drop(delivery, audit_exc)
            return []

    def _store_rejected(self, delivery: Delivery, rejected: Rejected) -> Stored:
        with self._session_factory() as session:
            results = store_decisions(session, [(delivery.message, rejected)],
                                      max_payload_bytes=self.config.max_payload_bytes)
            session.commit()
        return [self._outcome(delivery.message, rejected)], results

    def _decide(self, message: ReceivedMessage, check: Callable[[], T]) -> T | Rejected:
        """Run one step of deciding a punch; a bug in it is a hub fault kept for audit, not a crash.

        Database errors go up, to be retried or narrowed down like any other store failure.
        """
        try:
            return check()
        except SQLAlchemyError:
            raise
        except Exception as exc:
            log.exception("checking a punch on %s failed", message.topic)
            return self._hub_fault(message, f"internal error: {type(exc).__name__}")

    def _hub_fault(self, message: ReceivedMessage, reason: str) -> Rejected:
        """A hub bug, not the kiosk's fault: keep the message for audit and do not
        answer, so the kiosk keeps the punch and resends it (a fixed hub stores it)."""
        return Rejected(self._audit_id(message), reason, notify=False)

    def _audit_id(self, message: ReceivedMessage) -> str | None:
        """The punch id to keep a faulty message under, if it has one.

        This runs because something already failed on this message, so
        whatever reading it raises is caught here: raising on the fault path
        would leave the message unacked.
        """
        try:
            return punch_id_of(messages.decode_object(message.payload, self.config.max_payload_bytes))
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("no punch id could be read from a message on %s", message.topic, exc_info=True)
            return None

    @staticmethod
    def _outcome(message: ReceivedMessage, decision: Accepted | Rejected) -> Outcome:
        if isinstance(decision, Accepted):  # its device is the topic's: checked before it was accepted
            return Outcome(decision.punch.device_id, decision.punch.id)
        try:
            device_id: str | None = topics.parse_device_topic(message.topic).device_id
        except ValueError:
            device_id = None
        return Outcome(device_id, decision.punch_id, decision.reason, decision.notify)

    def _handle_reports(self, batch: list[Delivery]) -> None:
        """Status and health messages: one transaction per batch, acked after the commit."""
        reports = [(d.message, self._parse_report(d)) for d in batch]
        try:
            results = self._store_reports_isolating(reports)
        except _Stopped:
            raise
        except Exception:  # not even an audit row could be written; telemetry must not hold up the punches
            log.exception("%d status/health messages could not be stored; dropped", len(batch))
            results = []
        for result in results:
            key = {"status": "status", "health": "health", "rejected": "device_reports_rejected"}[result]
            self.stats[key] += 1
        self._ack(batch)
        held = {r.device_id: r.health.gallery_version for _m, r in reports if isinstance(r, health.HealthReport)}
        if held and results:
            self._push_gallery_updates(held)

    def _parse_report(self, delivery: Delivery) -> health.Report:
        """``health.parse_report``, where a bug is a bad report kept for audit: raising here
        would fail the batch, and with it the punches of other kiosks that came with it."""
        try:
            return health.parse_report(delivery.message, retained=delivery.retained,
                                       max_bytes=self.config.max_payload_bytes)
        except Exception as exc:
            log.exception("parsing a message on %s failed", delivery.message.topic)
            return health.BadReport(None, f"internal error: {type(exc).__name__}")

    def _push_gallery_updates(self, held: dict[str, int]) -> None:
        """A kiosk whose health reports an older gallery (``held``: device -> version) than its
        site's gets the delta now.

        Health comes every minute, so an enrolment, transfer or leaver reaches
        the kiosks of a site within about a minute, without kiosks polling
        more often and without the API process needing an MQTT connection.
        """
        try:
            with self._session_factory() as session:
                deltas = gallery_updates(session, held)
        except SQLAlchemyError:  # the kiosk asks again itself (gallery_poll_s); nothing is lost
            log.warning("gallery updates for %d kiosks skipped: database error", len(held), exc_info=True)
            return
        for device_id, delta in deltas:
            self.stats["gallery_pushes"] += 1
            self._publish(topics.device_topic(device_id, topics.GALLERY_DELTA), delta.to_json())
            log.info("gallery delta pushed to %s: %s -> %s", device_id, delta.from_version, delta.to_version)

    def _store_reports_isolating(self, reports: list[tuple[ReceivedMessage, health.Report]]) -> list[str]:
        """As ``_store_isolating``: a message that cannot be stored is kept as an audit row."""

        def store(items: list[tuple[ReceivedMessage, health.Report]]) -> list[str]:
            with self._session_factory() as session:
                results = health.record_reports(session, items, self.config.health,
                                                max_payload_bytes=self.config.max_payload_bytes)
                session.commit()
                return results

        try:
            return self._retry(lambda: store(reports), f"storing {len(reports)} status/health messages")
        except _Stopped:
            raise
        except Exception as exc:
            if len(reports) > 1:
                log.warning("a batch of %d status/health messages failed (%s); storing them one by one",
                            len(reports), type(exc).__name__)
                return [r for item in reports for r in self._store_reports_isolating([item])]
            message = reports[0][0]
            log.exception("a message on %s cannot be stored; keeping it as an audit row", message.topic)
            bad = health.BadReport(None, f"internal error: could not store ({type(exc).__name__})")
            return self._retry(lambda: store([(message, bad)]), "storing an audit row")

    def _handle_gallery_request(self, delivery: Delivery) -> None:
        self.stats["gallery_requests"] += 1
        device_id = topics.parse_device_topic(delivery.message.topic).device_id
        try:
            request = messages.parse(messages.GalleryRequest, delivery.message.payload, self.config.max_payload_bytes)
        except MessageInvalid as exc:
            log.warning("gallery request from %s ignored: %s", device_id, exc.reason)
            self._ack([delivery])
            return
        delta = self._retry(lambda: self._delta_for(device_id, request), f"gallery delta for {device_id}")
        if delta is not None:
            self._publish(topics.device_topic(device_id, topics.GALLERY_DELTA), delta.to_json())
            log.info("gallery delta for %s: %s -> %s (full: %s, %d upserts, %d removed)", device_id,
                     delta.from_version, delta.to_version, delta.full, len(delta.upserts), len(delta.removed))
        self._ack([delivery])

    def _delta_for(self, device_id: str, request: messages.GalleryRequest) -> messages.GalleryDelta | None:
        with self._session_factory() as session:
            device = lookup_device(session, device_id)
            if device is None or device.retired:
                log.warning("gallery request from unknown or retired device %s ignored", device_id)
                return None
            if device.site_id != request.site_id:
                log.warning("gallery request from %s for site %s, but it stands at %s; ignored",
                            device_id, request.site_id, device.site_id)
                return None
            return build_delta(session, device.site_id, request.have_version)

    def _handle_gallery_applied(self, delivery: Delivery) -> None:
        device_id = topics.parse_device_topic(delivery.message.topic).device_id
        try:
            applied = messages.parse(messages.GalleryApplied, delivery.message.payload, self.config.max_payload_bytes)
        except MessageInvalid as exc:
            log.warning("gallery applied from %s ignored: %s", device_id, exc.reason)
            self._ack([delivery])
            return

        def store() -> bool:
            with self._session_factory() as session:
                ok = record_applied(session, device_id, applied.site_id, applied.version, delivery.message.received_at)
                session.commit()
                return ok

        if self._retry(store, f"gallery confirmation of {device_id}"):
            self.stats["gallery_applied"] += 1
            log.info("device %s holds gallery version %d", device_id, applied.version)
        else:
            log.warning("gallery confirmation from unknown, retired or misplaced device %s ignored", device_id)
        self._ack([delivery])

    def _handle_gallery_key_request(self, delivery: Delivery) -> None:
        """Answer a kiosk's signed key request with its gallery key, sealed to the request's box key.

        Refused (no answer; logged and counted): a malformed request, one
        for another device's topic, an unknown or retired device, a bad
        signature, or a hub without its secret file.
        """
        device_id = topics.parse_device_topic(delivery.message.topic).device_id
        device = self._retry(lambda: self._lookup(device_id), f"device lookup for {device_id}")
        try:
            request = gallery_keys.check_request(device_id, delivery.message.payload, device,
                                                 max_bytes=self.config.max_payload_bytes)
            if self._gallery_key_secret is None:
                self._gallery_key_secret = gallery_keys.load_or_create_secret(gallery_keys.secret_path(self.config))
        except (ProtocolError, gallery_keys.GalleryKeySecretError) as exc:
            self.stats["gallery_keys_refused"] += 1
            log.warning("gallery key request from %s refused: %s", device_id, exc)
            self._ack([delivery])
            return
        assert device is not None  # check_request refuses an unknown device
        answer = gallery_keys.answer(self._gallery_key_secret, device, request)
        self._publish(topics.device_topic(device_id, topics.GALLERY_KEY), answer.to_json())
        self.stats["gallery_keys_sent"] += 1
        log.info("gallery key sent to %s", device_id)
        self._ack([delivery])

    def _handle_command_result(self, delivery: Delivery) -> None:
        """A kiosk's answer to a remote command (hub/ingest/command_sender.py), acked once recorded."""
        message = delivery.message
        self._retry(lambda: self.commands.take_result(message.topic, message.payload, message.received_at),
                    "recording a command result")
        self._ack([delivery])

    def _lookup(self, device_id: str) -> DeviceRecord | None:
        with self._session_factory() as session:
            return lookup_device(session, device_id)

    # --- helpers ----------------------------------------------------------

    def _retry(self, step: Callable[[], T], what: str) -> T:
        """Run a database step until it succeeds; raise _Stopped if asked to stop first.

        Only transient errors (database locked, down, connection lost) are
        retried; any other error is raised to the caller.
        """
        attempt = 0
        while not self._stop.is_set():
            try:
                return step()
            except (OperationalError, InterfaceError) as exc:
                self.stats["commit_failures"] += 1
                delay = backoff_delay(attempt, self.config.ingest.retry_initial_s, self.config.ingest.retry_max_s)
                log.warning("%s failed (%s: %s); nothing acked, retrying in %.2f s",
                            what, type(exc).__name__, exc.orig, delay)
                attempt += 1
                self._stop.wait(delay)
                self._working_since = time.monotonic()
        raise _Stopped

    def _publish(self, topic: str, payload: bytes) -> None:
        assert self._publisher is not None
        info = self._publisher.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # paho queues QoS 1 while disconnected; any other failure means the
            # kiosk resends and gets this answer again (storing is idempotent)
            log.warning("publishing to %s failed: %s", topic, mqtt.error_string(info.rc))

    def _ack(self, deliveries: list[Delivery]) -> None:
        assert self._client is not None
        current = self._generation
        for d in deliveries:
            self._acked.add(id(d))
            if d.generation == current:
                self._client.ack(d.mid, d.qos)
            else:
                log.debug("not acking mid %s from an earlier connection; the broker resends it", d.mid)
