"""Simulated kiosks for the ingest benchmarks: many MQTT clients, few threads.

Each simulated kiosk is its own MQTT client (its own client id, its own
MQTT login and Ed25519 key, registered at the hub as a device, a persistent
session as kiosk/link.py keeps) and publishes signed punches (kiosk.punches, the real
kiosk's code) at QoS 1 for its site's employees. Like the real link it keeps
every punch until the hub's ack names it, has at most ``inflight_max``
unacked punches out, re-sends one not acked within ``ack_timeout_s``, and
re-sends everything unacked after a reconnect. It records, per punch, the
time from its first publish to the hub's ack.

Why not one thread per kiosk: 2,000 paho clients with ``loop_start`` would be
4,000 threads (network + the kiosk's own). Here one process (a *shard*)
drives hundreds of clients from one ``selectors`` loop through paho's
external-loop API (``loop_read``/``loop_write``/``loop_misc`` and the
socket open/close/register-write callbacks), and the kiosks are spread over
a few shard processes. Each client costs one socket (one file descriptor).

Punch times follow a morning curve: a normal distribution centred on the
middle of the window with sigma = window/6, clipped to the window (a 60-min
rush compressed by a factor is a window of 3600/factor seconds).
"""

import json
import logging
import math
import multiprocessing
import os
import random
import secrets
import selectors
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import topics

log = logging.getLogger(__name__)

MISC_EVERY_S = 1.0     # keepalive / resend scan period
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0
RESEND_MAX_S = 600.0   # with --resend-backoff: cap of the doubling re-send wait


@dataclass(frozen=True)
class KioskSpec:
    """One simulated kiosk, picklable for a shard process."""

    device_id: str
    site_id: str
    key_raw: bytes                    # Ed25519 private key, raw 32 bytes
    employee_ids: tuple[str, ...]     # who punches here (each once, on the curve)
    mqtt_password: str                # its own MQTT login (user name = device id), as provisioning makes

    @property
    def public_key_b64(self) -> str:
        from protocol.signing import public_key_b64

        return public_key_b64(self.private_key())

    def private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.key_raw)


def new_key_raw() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def plan_kiosks(site_employees: dict[str, list[str]], kiosk_count: int, prefix: str = "sim") -> list[KioskSpec]:
    """Spread ``kiosk_count`` kiosks over the sites in proportion to their staff (at least one each);
    a site's employees are dealt round-robin to its kiosks."""
    sites = sorted(site_employees)
    if kiosk_count < len(sites):
        raise ValueError(f"{kiosk_count} kiosks cannot cover {len(sites)} sites")
    total = sum(len(v) for v in site_employees.values()) or 1
    per_site = {s: 1 for s in sites}
    spare = kiosk_count - len(sites)
    shares = sorted(sites, key=lambda s: -len(site_employees[s]))
    for s in sites:  # proportional share of the spare kiosks
        extra = int(spare * len(site_employees[s]) / total)
        per_site[s] += extra
    left = kiosk_count - sum(per_site.values())
    for i in range(left):
        per_site[shares[i % len(shares)]] += 1
    specs = []
    for s in sites:
        staff = site_employees[s]
        n = per_site[s]
        for k in range(n):
            specs.append(KioskSpec(f"{prefix}-{s}-k{k + 1:02d}", s, new_key_raw(), tuple(staff[k::n]),
                                   secrets.token_urlsafe(16)))
    return specs


def morning_offsets(count: int, window_s: float, rng: random.Random) -> list[float]:
    """``count`` punch times in [0, window_s]: normal around the middle, sigma = window/6, clipped."""
    mid, sigma = window_s / 2, window_s / 6
    return [min(window_s, max(0.0, rng.gauss(mid, sigma))) for _ in range(count)]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[idx]


# --- one simulated kiosk ----------------------------------------------------------------


@dataclass
class _Pending:
    payload: bytes
    created: float        # when the punch entered the outbox (monotonic)
    first_sent: float | None = None
    sent: float | None = None
    attempts: int = 0


class SimKiosk:
    """A kiosk's link, without a thread of its own: the shard's loop drives its client."""

    def __init__(self, spec: KioskSpec, shard: "Shard") -> None:
        self.spec = spec
        self.shard = shard
        self.key = spec.private_key()
        self.seq = 0
        self.pending: dict[str, _Pending] = {}       # published, waiting for the hub's ack
        self.waiting: deque[str] = deque()           # in the outbox, not yet published (window full / offline)
        self.connected = False
        self._tried = False
        self.reconnect_at: float | None = None
        self.reconnect_delay_s = RECONNECT_MIN_S
        self.punch_topic = topics.device_topic(spec.device_id, topics.PUNCH)
        self.ack_topic = topics.device_topic(spec.device_id, topics.ACK)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=spec.device_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        client.username_pw_set(spec.device_id, spec.mqtt_password)  # ignored by a broker without a password file
        client.max_inflight_messages_set(shard.inflight_max)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = shard.on_socket_open
        client.on_socket_close = shard.on_socket_close
        client.on_socket_register_write = shard.on_socket_register_write
        client.on_socket_unregister_write = shard.on_socket_unregister_write
        client.user_data_set(self)
        self.client = client

    def connect(self) -> bool:
        try:
            self.shard.stats["connect_attempts"] += 1
            if self._tried:          # paho keeps host/port from the first connect()
                self.client.reconnect()
            else:
                self._tried = True
                self.client.connect(self.shard.host, self.shard.port, keepalive=60)
            self.reconnect_at = None
            return True
        except OSError as exc:
            self.shard.stats["connect_failures"] += 1
            self.shard.last_error = f"{type(exc).__name__}: {exc}"
            self._schedule_reconnect()
            return False

    def _schedule_reconnect(self) -> None:
        now = time.monotonic()
        self.reconnect_at = now + self.reconnect_delay_s * random.uniform(0.5, 1.0)
        self.reconnect_delay_s = min(self.reconnect_delay_s * 2, RECONNECT_MAX_S)

    def add_punch(self, employee_id: str, now: float) -> None:
        """The kiosk accepted a face: sign the punch and put it in the outbox."""
        from kiosk.decision import PunchDecision
        from kiosk.liveness import LivenessState
        from kiosk.punches import make_signed_punch

        self.seq += 1
        decision = PunchDecision(employee_id=employee_id, distance=0.38, margin=0.12,
                                 liveness=LivenessState(passed=True, score=0.9, reason=None))
        punch_id, payload = make_signed_punch(self.key, device_id=self.spec.device_id, site_id=self.spec.site_id,
                                              decision=decision, ts=datetime.now(timezone.utc), gallery_version=1,
                                              seq=self.seq)
        self.pending_new(punch_id, payload, now)

    def pending_new(self, punch_id: str, payload: bytes, now: float) -> None:
        self.shard.generated.append(punch_id)
        self.shard.by_device[self.spec.device_id].append(punch_id)
        self.pending[punch_id] = _Pending(payload, now)
        self.waiting.append(punch_id)
        self.send_waiting(now)

    def in_flight(self) -> int:
        return len(self.pending) - len(self.waiting)

    def send_waiting(self, now: float) -> None:
        while self.connected and self.waiting and self.in_flight() < self.shard.inflight_max:
            self._publish(self.waiting.popleft(), now)

    def _publish(self, punch_id: str, now: float) -> None:
        p = self.pending[punch_id]
        info = self.client.publish(self.punch_topic, p.payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.shard.stats["publish_errors"] += 1
        p.attempts += 1
        p.sent = now
        if p.first_sent is None:
            p.first_sent = now
        else:
            self.shard.stats["resends"] += 1
        self.shard.stats["publishes"] += 1

    def resend_due(self, now: float) -> None:
        """Punches not acked within the timeout are published again (the hub stores once, acks again)."""
        if not self.connected:
            return
        timeout = self.shard.ack_timeout_s
        backoff = self.shard.resend_backoff
        for punch_id, p in self.pending.items():
            if p.sent is None:
                continue
            wait = min(timeout * 2 ** (p.attempts - 1), RESEND_MAX_S) if backoff else timeout
            if now - p.sent >= wait:
                self.shard.stats["timeouts"] += 1
                self._publish(punch_id, now)

    # paho callbacks (called from the shard loop)
    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self.shard.stats["connect_refused"] += 1
            return
        self.connected = True
        self.reconnect_delay_s = RECONNECT_MIN_S
        self.shard.stats["connects"] += 1
        client.subscribe(self.ack_topic, qos=1)
        now = time.monotonic()
        # after a reconnect what was in flight may be gone: send it all again (kiosk/link.py does the same)
        unsent = [pid for pid, p in self.pending.items() if p.sent is not None]
        for punch_id in unsent:
            self._publish(punch_id, now)
        self.send_waiting(now)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        was = self.connected
        self.connected = False
        if was:
            self.shard.stats["disconnects"] += 1
        if not self.shard.stopping:
            self._schedule_reconnect()

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.ack_topic:
            return
        try:
            ack = json.loads(msg.payload)
        except ValueError:
            self.shard.stats["bad_acks"] += 1
            return
        now = time.monotonic()
        shard = self.shard
        shard.stats["ack_messages"] += 1
        for punch_id in ack.get("ids", []):
            p = self.pending.pop(punch_id, None)
            if p is None:
                shard.stats["acks_of_acked"] += 1
                continue
            shard.latencies.append(now - p.created)
            shard.acked_ids.append(punch_id)
            shard.acked += 1
            shard.last_ack = now
        for rejection in ack.get("rejected", []):
            if self.pending.pop(rejection.get("id"), None) is not None:
                shard.rejected.append((rejection.get("id"), rejection.get("reason")))
        self.send_waiting(now)


# --- a shard: many kiosks, one loop ------------------------------------------------------


@dataclass
class ShardResult:
    """What a shard reports back to the benchmark."""

    kiosks: int
    connected: int
    generated: list[str]
    by_device: dict[str, list[str]]
    latencies: list[float]
    unacked: list[str]
    rejected: list[tuple[str, str]]
    acked_ids: list[str]
    stats: dict[str, int]
    last_error: str | None
    cpu_s: float
    max_rss_kb: int
    finished_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Shard:
    """Drives its kiosks' clients from one selector loop in the calling thread."""

    def __init__(self, specs: list[KioskSpec], host: str, port: int, *, ack_timeout_s: float = 30.0,
                 inflight_max: int = 100, resend_backoff: bool = False) -> None:
        self.host, self.port = host, port
        self.ack_timeout_s = ack_timeout_s
        self.resend_backoff = resend_backoff  # False: a fixed timeout, as kiosk/link.py does today
        self.inflight_max = inflight_max
        self.selector = selectors.DefaultSelector()
        self.stats: Counter[str] = Counter()
        self.generated: list[str] = []
        self.by_device: dict[str, list[str]] = {s.device_id: [] for s in specs}
        self.latencies: list[float] = []
        self.rejected: list[tuple[str, str]] = []
        self.acked = 0
        self.acked_ids: list[str] = []
        self.last_ack = 0.0
        self.last_error: str | None = None
        self.stopping = False
        self.kiosks = [SimKiosk(spec, self) for spec in specs]

    # paho external-loop callbacks
    def on_socket_open(self, client, kiosk, sock) -> None:
        self.selector.register(sock, selectors.EVENT_READ, kiosk)

    def on_socket_close(self, client, kiosk, sock) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def on_socket_register_write(self, client, kiosk, sock) -> None:
        try:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, kiosk)
        except (KeyError, ValueError):
            pass

    def on_socket_unregister_write(self, client, kiosk, sock) -> None:
        try:
            self.selector.modify(sock, selectors.EVENT_READ, kiosk)
        except (KeyError, ValueError):
            pass

    def poll(self, timeout_s: float) -> None:
        for key, mask in self.selector.select(max(0.0, timeout_s)):
            kiosk: SimKiosk = key.data
            if mask & selectors.EVENT_READ:
                kiosk.client.loop_read()
            if mask & selectors.EVENT_WRITE and kiosk.client.socket() is not None:
                kiosk.client.loop_write()

    def misc(self, now: float) -> None:
        """Keepalives, reconnects and ack timeouts."""
        for kiosk in self.kiosks:
            if kiosk.client.socket() is not None:
                kiosk.client.loop_misc()
            elif kiosk.reconnect_at is not None and now >= kiosk.reconnect_at:
                kiosk.connect()
            kiosk.resend_due(now)

    def connect_all(self, timeout_s: float) -> int:
        """Connect every kiosk (a few at a time, as a fleet coming up); returns how many are connected."""
        for i, kiosk in enumerate(self.kiosks):
            kiosk.connect()
            if i % 50 == 49:
                self.poll(0.01)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and sum(k.connected for k in self.kiosks) < len(self.kiosks):
            self.poll(0.05)
            self.misc(time.monotonic())
        # wait for the SUBACKs to be processed: a short settle
        settle = time.monotonic() + 0.5
        while time.monotonic() < settle:
            self.poll(0.05)
        return sum(k.connected for k in self.kiosks)

    def outstanding(self) -> int:
        return sum(len(k.pending) for k in self.kiosks)

    def run_schedule(self, schedule: list[tuple[float, int, str]], start_mono: float, deadline_mono: float) -> None:
        """Punch at ``start_mono + offset`` for each (offset, kiosk index, employee), then wait for acks."""
        i = 0
        next_misc = time.monotonic() + MISC_EVERY_S
        while True:
            now = time.monotonic()
            while i < len(schedule) and start_mono + schedule[i][0] <= now:
                _, k, employee = schedule[i]
                self.kiosks[k].add_punch(employee, now)
                i += 1
            if i >= len(schedule) and self.outstanding() == 0:
                break
            if now >= deadline_mono:
                break
            if now >= next_misc:
                self.misc(now)
                next_misc = now + MISC_EVERY_S
            wake = next_misc
            if i < len(schedule):
                wake = min(wake, start_mono + schedule[i][0])
            self.poll(min(0.05, max(0.0, wake - time.monotonic())))

    def close(self) -> None:
        self.stopping = True
        for kiosk in self.kiosks:
            if kiosk.client.socket() is not None:
                kiosk.client.disconnect()
                kiosk.client.loop_write()
        end = time.monotonic() + 1.0
        while time.monotonic() < end and any(k.client.socket() is not None for k in self.kiosks):
            self.poll(0.05)

    def result(self) -> ShardResult:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return ShardResult(
            kiosks=len(self.kiosks), connected=sum(k.connected for k in self.kiosks), generated=self.generated,
            by_device=self.by_device, latencies=self.latencies,
            unacked=[pid for k in self.kiosks for pid in k.pending], rejected=self.rejected,
            acked_ids=self.acked_ids,
            stats=dict(self.stats), last_error=self.last_error, cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_kb=usage.ru_maxrss,
        )


def build_schedule(specs: list[KioskSpec], window_s: float, seed: int) -> list[tuple[float, int, str]]:
    rng = random.Random(seed)
    schedule = []
    for k, spec in enumerate(specs):
        for employee, offset in zip(spec.employee_ids, morning_offsets(len(spec.employee_ids), window_s, rng)):
            schedule.append((offset, k, employee))
    schedule.sort()
    return schedule


def _shard_main(specs: list[KioskSpec], host: str, port: int, window_s: float, seed: int, ack_timeout_s: float,
                drain_s: float, resend_backoff: bool, control, results) -> None:
    """Shard process: connect, report ready, wait for the common start time, run, report."""
    logging.basicConfig(level=logging.WARNING)
    shard = Shard(specs, host, port, ack_timeout_s=ack_timeout_s, resend_backoff=resend_backoff)
    connected = shard.connect_all(timeout_s=60.0)
    results.put(("ready", os.getpid(), connected, shard.last_error))
    start_wall = control.get()            # common start (wall clock) from the parent
    if start_wall is None:
        shard.close()
        results.put(("result", os.getpid(), shard.result()))
        return
    start_mono = time.monotonic() + (start_wall - time.time())
    schedule = build_schedule(specs, window_s, seed)
    while time.monotonic() < start_mono:   # keep the connections alive until the start
        shard.poll(min(0.05, start_mono - time.monotonic()))
    shard.run_schedule(schedule, start_mono, start_mono + window_s + drain_s)
    finished = time.monotonic() - start_mono
    shard.close()
    result = shard.result()
    result.finished_s = finished
    results.put(("result", os.getpid(), result))


class LoadGenerator:
    """K simulated kiosks in ``shards`` processes, started together on one morning curve."""

    def __init__(self, specs: list[KioskSpec], host: str, port: int, *, shards: int = 2, window_s: float = 180.0,
                 ack_timeout_s: float = 30.0, drain_s: float = 120.0, seed: int = 1,
                 resend_backoff: bool = False) -> None:
        self.specs, self.host, self.port = specs, host, port
        self.window_s, self.ack_timeout_s, self.drain_s, self.seed = window_s, ack_timeout_s, drain_s, seed
        self.shard_count = max(1, min(shards, len(specs)))
        ctx = multiprocessing.get_context("spawn")
        self._results = ctx.Queue()
        self._controls = [ctx.Queue() for _ in range(self.shard_count)]
        self._procs = [
            ctx.Process(target=_shard_main, name=f"loadgen-{i}", daemon=True,
                        args=(specs[i::self.shard_count], host, port, window_s, seed + i, ack_timeout_s, drain_s,
                              resend_backoff, self._controls[i], self._results))
            for i in range(self.shard_count)
        ]
        self.connected = 0
        self.errors: list[str] = []
        self.pids: list[int] = []

    def connect(self, timeout_s: float = 180.0) -> int:
        """Start the shard processes and wait until each has connected its kiosks; returns how many connected."""
        for proc in self._procs:
            proc.start()
        for _ in self._procs:
            kind, pid, connected, error = self._results.get(timeout=timeout_s)
            assert kind == "ready"
            self.pids.append(pid)
            self.connected += connected
            if error:
                self.errors.append(error)
        return self.connected

    def start(self, delay_s: float = 1.0) -> float:
        """Start every shard's curve at the same wall-clock moment; returns it."""
        start_wall = time.time() + delay_s
        for control in self._controls:
            control.put(start_wall)
        return start_wall

    def results(self, timeout_s: float) -> list[ShardResult]:
        out = []
        for _ in self._procs:
            kind, _pid, result = self._results.get(timeout=timeout_s)
            out.append(result)
        for proc in self._procs:
            proc.join(10)
        return out

    def abort(self) -> None:
        for control in self._controls:
            control.put(None)
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def summarise(results: list[ShardResult]) -> dict[str, Any]:
    latencies = sorted(x for r in results for x in r.latencies)
    stats: Counter[str] = Counter()
    for r in results:
        stats.update(r.stats)
    return {
        "kiosks": sum(r.kiosks for r in results),
        "connected": sum(r.connected for r in results),
        "generated": sum(len(r.generated) for r in results),
        "acked": len(latencies),
        "unacked": sum(len(r.unacked) for r in results),
        "rejected": sum(len(r.rejected) for r in results),
        "p50_s": percentile(latencies, 50),
        "p90_s": percentile(latencies, 90),
        "p99_s": percentile(latencies, 99),
        "max_s": latencies[-1] if latencies else math.nan,
        "stats": dict(stats),
        "cpu_s": sum(r.cpu_s for r in results),
        "max_rss_kb": max((r.max_rss_kb for r in results), default=0),
        "finished_s": max((r.finished_s for r in results), default=0.0),
    }
