"""The kiosk's MQTT link: drains the outbox to the hub and carries everything else.

Delivery rules (DESIGN.md, Guarantees):
- punches are published QoS 1 in ``seq`` order from the outbox, at most
  ``inflight_max`` waiting for an ack at once;
- a punch leaves the outbox only when the hub's ack names it; one not acked
  within ``ack_timeout_s`` is published again (the hub stores once, acks again);
- after every reconnect everything unacked is sent again: the broker may have
  lost what it queued (a restart without persistence, or a full queue);
- the connection is persistent (clean_session false) and comes back with an
  exponential, capped, jittered backoff; while offline no thread polls;
- a failing disk slows nothing down into a loop: a punch published while the
  outbox cannot record it waits its ack timeout in memory before it is sent
  again, a reconnect that cannot reset the outbox keeps the connection, and
  the sender thread backs off on any error and reports it as an alarm;
- the hub's ``Ack.seq`` is kept in the outbox's seq mark, so a kiosk that
  loses its outbox never reuses a seq the hub holds.

Other traffic: the retained status topic (birth on connect, last will
``offline``), health (QoS 0), gallery sync and remote commands. With a
``HubGalleryKey`` (``gallery.key_source: hub``) the link first asks the hub
for the gallery key, on every connect and then with a capped backoff until
it has it; gallery requests and deltas wait until then (kiosk/gallery_key.py).
"""

import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from kiosk.alarms import Alarms
from kiosk.config import KioskConfig
from kiosk.gallery_key import HubGalleryKey
from kiosk.outbox import Outbox
from kiosk.storage import StorageError
from protocol import messages, topics
from protocol.backoff import backoff_delay
from protocol.errors import MessageInvalid
from protocol.settings import read_secret

log = logging.getLogger(__name__)

# A full gallery of 10,000 people is about 7 MB of base64 templates; the
# kiosk trusts the hub (ACL: only the hub may publish to our delta topic).
MAX_GALLERY_BYTES = 256 * 1024 * 1024
SEND_BATCH = 500
SENDER_RETRY_S = 1.0            # first wait after a failing round; doubles up to SENDER_RETRY_MAX_S
SENDER_RETRY_MAX_S = 60.0
THREAD_ALARM_HOLD_S = 900.0     # a thread_error alarm stays in health this long after the last error
KEY_RETRY_INITIAL_S = 2.0  # first wait for the hub's gallery key before asking again; doubles ...
KEY_RETRY_MAX_S = 60.0     # ... up to this (each reconnect also asks at once)

GalleryHandler = Callable[[messages.GalleryDelta], int | None]
# None: the result comes later, through ``publish_command_result`` (an enrolment takes seconds of frames).
CommandHandler = Callable[[messages.Command], messages.CommandResult | None]


class MqttLink:
    """One device's connection to the broker, run by two threads.

    The network thread owns connect/reconnect and paho's socket loop; the
    sender thread publishes due outbox rows. ``wake()`` tells the sender a new
    punch is waiting.
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        *,
        sw_version: str,
        gallery_version: Callable[[], int],
        on_gallery: GalleryHandler | None = None,
        on_command: CommandHandler | None = None,
        alarms: Alarms | None = None,
        on_hub_time: Callable[[datetime], None] | None = None,
        gallery_key: HubGalleryKey | None = None,
        on_gallery_unlocked: Callable[[], object] | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.alarms = alarms or Alarms()
        self.sw_version = sw_version
        self._gallery_version = gallery_version
        self._on_gallery = on_gallery
        self._on_command = on_command
        self._on_hub_time = on_hub_time    # the hub's clock, from each ack (kiosk/clock.py)
        self._gallery_key = gallery_key
        self._on_gallery_unlocked = on_gallery_unlocked
        self.device_id = config.device_id
        self.stats: Counter[str] = Counter()
        self.connected = threading.Event()
        self.gallery_applied = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._interrupt = threading.Event()   # cuts a reconnect pause short: stop() or renew()
        self._renew = threading.Event()
        self._fresh_client = False            # the next CONNACK is this client's first: resend all unacked
        self._threads: list[threading.Thread] = []
        # Published punches the outbox could not mark sent: id -> monotonic publish time (sender thread).
        self._held: dict[str, float] = {}
        self._client = self._make_client()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        loops = [("mqtt-network", self._network_loop), ("mqtt-sender", self._sender_loop)]
        if self._gallery_key is not None:
            loops.append(("gallery-key", self._gallery_key_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"{name}-{self.device_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say offline (retained), disconnect cleanly and join the threads.

        Asks paho, not ``connected``: between the birth message and the end of
        ``_on_connect`` the event is still clear, and a clean disconnect sends
        no last will, so skipping the goodbye there would leave "online" retained.
        """
        if self._client.is_connected():
            info = self._client.publish(self._topic(topics.STATUS), self._status("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass
        self._stop.set()
        self._wake.set()
        self._interrupt.set()
        self._client.disconnect()
        for thread in self._threads:
            thread.join(timeout_s)

    def renew(self) -> None:
        """Self-healing (kiosk/selfheal.py): before the next connect, drop the MQTT client and make a fresh one.

        A new socket, TLS context and the password file read again: what a
        long outage may have made stale (a rotated password, a wedged
        client). Punches lose nothing: the new client's first connection
        sends every unacked punch again.
        """
        self._renew.set()
        self._interrupt.set()

    def wake(self) -> None:
        """A punch was added to the outbox: send it without waiting for a timer."""
        self._wake.set()

    # -- publishing ----------------------------------------------------------

    def publish_health(self, health: messages.Health) -> bool:
        if not self.connected.is_set():
            return False
        return self._client.publish(self._topic(topics.HEALTH), health.to_json(), qos=0).rc == mqtt.MQTT_ERR_SUCCESS

    def request_gallery(self, have_version: int | None = None) -> bool:
        """Tell the hub the version we hold (0: send everything); it answers with a delta."""
        if not self.connected.is_set() or self.is_gallery_locked():
            return False
        version = self._gallery_version() if have_version is None else have_version
        request = messages.GalleryRequest(site_id=self.config.site_id, have_version=version)
        self.stats["gallery_requests"] += 1
        return self._client.publish(self._topic(topics.GALLERY_REQUEST), request.to_json(), qos=1).rc == 0

    def is_gallery_locked(self) -> bool:
        """True while the gallery key is still to come from the hub."""
        return self._gallery_key is not None and not self._gallery_key.ready.is_set()

    def request_gallery_key(self) -> bool:
        """Ask the hub for the gallery key (signed, with a box key held in memory); False when not sent."""
        if self._gallery_key is None or not self.is_gallery_locked() or not self.connected.is_set():
            return False
        self.stats["gallery_key_requests"] += 1
        info = self._client.publish(self._topic(topics.GALLERY_KEY_REQUEST), self._gallery_key.request(), qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # -- threads ---------------------------------------------------------------

    def _network_loop(self) -> None:
        mqtt_cfg = self.config.mqtt
        attempt = 0
        while not self._stop.is_set():
            if self._renew.is_set():
                self._renew_client()
                attempt = 0
            try:
                self.stats["connect_attempts"] += 1
                self._client.connect(mqtt_cfg.host, mqtt_cfg.port, mqtt_cfg.keepalive_s)
            except (OSError, ssl.SSLError, socket.timeout) as exc:
                delay = backoff_delay(attempt, 1.0, mqtt_cfg.reconnect_max_s)
                log.warning("broker %s:%s unreachable (%s); retrying in %.1f s",
                            mqtt_cfg.host, mqtt_cfg.port, exc, delay)
                attempt += 1
                self._pause(delay)
                continue
            connects_before = self.stats["connects"]
            while not self._stop.is_set():
                try:
                    rc = self._client.loop(timeout=1.0)
                except Exception:  # never let the network thread die: reconnect instead
                    log.exception("MQTT network loop failed; reconnecting")
                    self._client.disconnect()
                    break
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
            # A session that got as far as CONNACK starts the backoff over.
            # (``connected`` cannot tell: on_disconnect has cleared it by now.)
            if self.stats["connects"] > connects_before:
                attempt = 0
            self.connected.clear()
            if self._stop.is_set():
                break
            delay = backoff_delay(attempt, 1.0, mqtt_cfg.reconnect_max_s)
            attempt += 1
            log.warning("connection to the broker lost; reconnecting in %.1f s", delay)
            self._pause(delay)

    def _pause(self, delay_s: float) -> None:
        """The reconnect backoff, cut short by ``stop()`` or ``renew()``."""
        self._interrupt.wait(delay_s)
        self._interrupt.clear()

    def _renew_client(self) -> None:
        """Replace the paho client (network thread, between connections)."""
        self._renew.clear()
        old = self._client
        try:
            self._client = self._make_client()
        except (OSError, ValueError, ssl.SSLError) as exc:   # e.g. the password file is unreadable now
            log.error("a fresh MQTT client could not be made (%s); keeping the old one", exc)
            return
        self._fresh_client = True
        self.stats["renewals"] += 1
        try:
            old.disconnect()
        except Exception:  # noqa: BLE001 - it is being dropped; nothing to keep from it
            log.debug("dropping the old MQTT client failed", exc_info=True)
        log.warning("made a fresh MQTT client after a long outage (renewal %d)", self.stats["renewals"])

    def _gallery_key_loop(self) -> None:
        """Ask again, with a capped, jittered backoff, until the key is in (each connect also asks)."""
        assert self._gallery_key is not None
        attempt = 0
        while not self._stop.is_set() and not self._gallery_key.ready.is_set():
            self._stop.wait(backoff_delay(attempt, KEY_RETRY_INITIAL_S, KEY_RETRY_MAX_S))
            if self.request_gallery_key():
                attempt += 1
                log.warning("waiting for the hub to unlock the gallery; asked again (%d)", attempt)

    def _sender_loop(self) -> None:
        """Never ends before ``stop()``: a failing round is logged, reported and retried later and later."""
        failures = 0
        while not self._stop.is_set():
            try:
                self._send_round()
                failures = 0
            except Exception as exc:
                delay = backoff_delay(failures, SENDER_RETRY_S, SENDER_RETRY_MAX_S)
                failures += 1
                self.stats["sender_errors"] += 1
                if isinstance(exc, StorageError):   # reported by the outbox's own storage alarm
                    log.error("sending punches failed: %s; retrying in %.1f s", exc, delay)
                else:
                    log.exception("sending punches failed; retrying in %.1f s", delay)
                    self.alarms.raise_alarm(messages.ALARM_THREAD_ERROR, f"punch sender: {type(exc).__name__}: "
                                            f"{exc}", source="sender", hold_s=THREAD_ALARM_HOLD_S)
                self._stop.wait(delay)

    def _send_round(self) -> None:
        """Publish what is due, then sleep until more is due, a punch arrives, or the connection changes."""
        timeout_s = self.config.mqtt.ack_timeout_s
        self._wake.clear()
        if not self.connected.is_set():
            self._wake.wait()          # woken by connect, a new punch or stop
            return
        if self._publish_due(self._topic(topics.PUNCH), self.config.mqtt.inflight_max, timeout_s):
            return                     # the window may have more room: go on at once
        wait = self.outbox.next_resend_in_s(timeout_s)
        if self._held:
            wait = min(wait if wait is not None else timeout_s, timeout_s)
        self._wake.wait(None if wait is None else max(wait, 0.05))

    def _publish_due(self, topic: str, window: int, timeout_s: float) -> bool:
        """Publish the due rows that fit the window; True when all fitted (there may be more)."""
        held = self._still_held(timeout_s)
        room = min(window - self.outbox.in_flight(timeout_s) - len(held), SEND_BATCH)
        rows = [r for r in self.outbox.due(room + len(held), timeout_s) if r.id not in held][:max(room, 0)]
        sent = []
        for row in rows:
            if self._client.publish(topic, row.payload, qos=1).rc != mqtt.MQTT_ERR_SUCCESS:
                break
            sent.append(row.id)
        if sent:
            self.stats["punches_published"] += len(sent)
            self._mark_sent(sent)
        return bool(sent) and len(sent) == room

    def _still_held(self, timeout_s: float) -> dict[str, float]:
        """Held punches still inside their ack timeout; the others are due again like any unacked row."""
        now = time.monotonic()
        self._held = {i: at for i, at in self._held.items() if now - at < timeout_s}
        return self._held

    def _mark_sent(self, ids: list[str]) -> None:
        """Record a publish; when the outbox cannot, hold the ids here so they wait their ack timeout."""
        try:
            self.outbox.mark_sent(ids)
        except StorageError as exc:
            now = time.monotonic()
            self._held.update((i, now) for i in ids)
            self.stats["mark_sent_failures"] += 1
            log.error("%d published punches not marked sent (%s); resending them after the ack timeout",
                      len(ids), exc)

    # -- paho callbacks (network thread) --------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s (session present: %s)", self.config.mqtt.host, self.config.mqtt.port,
                 flags.session_present)
        self.stats["connects"] += 1
        kinds = [topics.ACK, topics.GALLERY_DELTA, topics.CMD] + ([topics.GALLERY_KEY] if self._gallery_key else [])
        client.subscribe([(self._topic(kind), 1) for kind in kinds])
        client.publish(self._topic(topics.STATUS), self._status("online"), qos=1, retain=True)
        fresh, self._fresh_client = self._fresh_client, False
        if self.stats["connects"] == 1 or fresh or not flags.session_present:
            # A new process, or a broker that lost our session (restart without persistence):
            # whatever was in flight may be gone. Otherwise paho resends its own in-flight
            # messages and the ack timeout covers the rest, without doubling the traffic.
            # A renewed client (renew()) lost paho's in-flight messages with the old one.
            self._held = {}
            try:
                self.outbox.mark_all_unsent()
            except StorageError as exc:    # keep the connection: the ack timeout resends them instead
                log.error("after connecting, unacked punches could not be marked for sending: %s; "
                          "they go again after their ack timeout", exc)
        self.connected.set()
        self.request_gallery_key()
        self.request_gallery()
        self._wake.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if self.connected.is_set():
            log.warning("disconnected from the broker: %s", reason_code)
        self.connected.clear()

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            kind = topics.parse_device_topic(msg.topic).kind
            if kind == topics.ACK:
                self._handle_ack(messages.parse(messages.Ack, msg.payload))
            elif kind == topics.GALLERY_DELTA:
                self._handle_delta(messages.parse(messages.GalleryDelta, msg.payload, MAX_GALLERY_BYTES))
            elif kind == topics.CMD:
                self._handle_command(messages.parse(messages.Command, msg.payload))
            elif kind == topics.GALLERY_KEY and self._gallery_key is not None:
                self._handle_gallery_key(messages.parse(messages.GalleryKey, msg.payload))
            else:
                log.warning("message on unexpected topic %s ignored", msg.topic)
        except (MessageInvalid, ValueError) as exc:
            self.stats["bad_messages"] += 1
            log.warning("bad message on %s ignored: %s", msg.topic, exc)
        except OSError as exc:  # a full or failing disk under the outbox or the gallery cache
            self.stats["storage_errors"] += 1
            log.error("handling the message on %s failed: %s", msg.topic, exc)
            if not isinstance(exc, StorageError):   # the outbox reports its own (Outbox.problem)
                self.alarms.raise_alarm(messages.ALARM_STORAGE_ERROR, f"handling {msg.topic}: {exc}",
                                        source=msg.topic, hold_s=THREAD_ALARM_HOLD_S)
        except Exception:
            # paho re-raises callback exceptions out of loop(): one failing
            # handler (a full disk saving the gallery) must not end the link.
            self.stats["handler_errors"] += 1
            log.exception("handling the message on %s failed; ignored", msg.topic)

    def _handle_ack(self, ack: messages.Ack) -> None:
        if ack.seq is not None:
            try:
                self.outbox.note_hub_seq(ack.seq)
            except StorageError as exc:
                log.error("the hub's seq %s could not be kept: %s", ack.seq, exc)
        if ack.hub_ts is not None and self._on_hub_time is not None:
            self._on_hub_time(ack.hub_ts)
        removed = self.outbox.remove(ack.ids)
        self.stats["punches_acked"] += removed
        for rejection in ack.rejected:
            if self.outbox.reject(rejection.id, rejection.reason):
                self.stats["punches_rejected"] += 1
                log.error("hub rejected punch %s: %s (kept in the local rejected table)",
                          rejection.id, rejection.reason)
        self._wake.set()

    def _handle_gallery_key(self, answer: messages.GalleryKey) -> None:
        """The hub's key: open it, open the cache with it, then ask for what changed since."""
        assert self._gallery_key is not None
        if not self._gallery_key.accept(answer):
            return
        if self._on_gallery_unlocked is not None:
            self._on_gallery_unlocked()
        self.request_gallery()

    def _handle_delta(self, delta: messages.GalleryDelta) -> None:
        if self._on_gallery is None:
            return
        if self.is_gallery_locked():
            log.info("gallery delta %s->%s ignored: the gallery is locked until the hub sends its key",
                     delta.from_version, delta.to_version)
            return
        if delta.site_id != self.config.site_id:
            log.warning("gallery delta for site %s ignored: this kiosk stands at %s", delta.site_id,
                        self.config.site_id)
            return
        version = self._on_gallery(delta)
        if version is None and delta.full:
            # Asking again now would loop: the hub would answer the same full
            # gallery. The next periodic request tries again.
            log.error("full gallery version %s could not be applied; keeping version %s until the next poll",
                      delta.to_version, self._gallery_version())
            return
        if version is None:
            log.warning("gallery delta %s->%s does not fit version %s; asking for everything",
                        delta.from_version, delta.to_version, self._gallery_version())
            self.request_gallery(have_version=0)
            return
        self.alarms.clear(messages.ALARM_STORAGE_ERROR, source=self._topic(topics.GALLERY_DELTA))  # saved again
        applied = messages.GalleryApplied(site_id=self.config.site_id, version=version)
        self._client.publish(self._topic(topics.GALLERY_APPLIED), applied.to_json(), qos=1)
        self.gallery_applied.set()

    def _handle_command(self, command: messages.Command) -> None:
        if self._on_command is None:
            result = messages.CommandResult(id=command.id, ok=False, detail="commands are not handled here")
        else:
            try:
                result = self._on_command(command)
            except Exception as exc:  # a failing command must not take the link down
                log.exception("command %s (%s) failed", command.id, command.name)
                result = messages.CommandResult(id=command.id, ok=False, detail=f"{type(exc).__name__}: {exc}")
        if result is not None:
            self.publish_command_result(result)

    def publish_command_result(self, result: messages.CommandResult, wait_s: float = 0.0) -> bool:
        """Answer a command (QoS 1; paho keeps it while the connection is down); False when refused at once,
        or, with ``wait_s``, when the broker has not acknowledged it within that long (before a restart)."""
        info = self._client.publish(self._topic(topics.CMD_RESULT), result.to_json(), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        if wait_s > 0:
            try:
                info.wait_for_publish(wait_s)
            except (RuntimeError, ValueError):
                return False
            return info.is_published()
        return True

    # -- helpers -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        mqtt_cfg = self.config.mqtt
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(
            mqtt_cfg.username or self.device_id,
            read_secret(mqtt_cfg.password_file, "the MQTT password") if mqtt_cfg.password_file else None,
        )
        if mqtt_cfg.ca_file:  # paho then also checks that the broker's certificate names mqtt_cfg.host
            client.tls_set(ca_certs=str(mqtt_cfg.ca_file), certfile=mqtt_cfg.cert_file, keyfile=mqtt_cfg.key_file)
        client.will_set(self._topic(topics.STATUS), self._status("offline", with_time=False), qos=1, retain=True)
        client.max_inflight_messages_set(mqtt_cfg.inflight_max)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _topic(self, kind: str) -> str:
        return topics.device_topic(self.device_id, kind)

    def _status(self, state: str, with_time: bool = True) -> bytes:
        return messages.Status(
            state=state,
            ts=datetime.now(timezone.utc) if with_time else None,
            sw_version=self.sw_version,
            gallery_version=self._gallery_version() if state == "online" else None,
        ).to_json()
