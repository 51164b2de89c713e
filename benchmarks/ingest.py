"""Ingest rate: the broker's raw rate vs the hub storing + acking the same punches.

Run ``python -m benchmarks.ingest`` (a few minutes on two shared cores;
``--quick`` for a smaller run). Results go to stdout as Markdown for
BENCHMARKS-ingest.md.

Method (backlog drain, so the publishers' speed does not cap what is
measured): for each database (SQLite file, fresh PostgreSQL database) and
each worker count (1, 2, 4), in one run with one fresh Mosquitto:

1. two plain subscribers (QoS 1, persistent sessions: one paho client, and
   Mosquitto's own C client ``mosquitto_sub``) and the hub's worker sessions
   (``$share/hub/att/v1/dev/+/punch``, client ids ``bench-hub-1..N``) are
   created, then go offline;
2. ``--punches`` signed punches from ``--kiosks`` registered kiosks are
   published at QoS 1; the broker queues every one for each plain subscriber
   and splits them round-robin over the worker sessions;
3. each plain subscriber comes back and counts them: the **raw** rates. The
   paho one is bound by paho's own per-message work in Python; the
   ``mosquitto_sub`` one is what the broker delivers to a client that costs
   next to nothing, so it is the broker's rate;
4. ``hub ingest --workers N`` (the real command, real processes) starts on
   the same queue: the **ingest** rate is punches stored and acked per second,
   counted by one client subscribed to every kiosk's ack topic (acks are
   published only after the commit). The rows are counted afterwards.

Rates are taken between the first and the last message (raw) or ack
(ingest), so process start-up is not in them; the drain time from the start
command is reported too.
"""

import argparse
import json
import multiprocessing
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks.loadgen import KioskSpec, plan_kiosks
from devtools.mosquitto import MosquittoProcess
from protocol import topics

# benchmarks.common is imported only where tables are printed: it loads NumPy and dlib, which
# would otherwise sit in every spawned process (and in the kiosk RSS measured below).
REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GROUP = "hub"
HUB_USER = "hub"
SESSION_EXPIRY_S = 7 * 24 * 3600
# The benchmark broker: queues big enough for a backlog (the default 1000 drops QoS 1 beyond it).
BENCH_BROKER = "max_queued_messages 1000000\n"


# --- processes ----------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) of a process; empty when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> float:
    """CPU seconds of a process's main thread, to the nanosecond (``/proc/<pid>/schedstat``):
    for single-threaded Mosquitto, whose ~0.1 s of work per drain is too few clock ticks
    for ``proc_cpu_s``."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:
        return 0.0


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def bench_broker(workdir: Path, extra: str = BENCH_BROKER) -> MosquittoProcess:
    return MosquittoProcess(workdir, extra_config=extra).start()


# --- databases ----------------------------------------------------------------------------


class Database:
    """A fresh SQLite file or PostgreSQL database for one run; ``drop()`` removes it."""

    def __init__(self, kind: str, workdir: Path) -> None:
        from sqlalchemy import create_engine, text

        from hub.db import init_db, make_engine

        self.kind = kind
        self._admin = None
        if kind == "sqlite":
            self.path = workdir / f"hub-{uuid.uuid4().hex[:8]}.sqlite"
            self.url = f"sqlite:///{self.path}"
        else:
            self.name = f"hub_bench_{uuid.uuid4().hex[:12]}"
            self._admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.engine = make_engine(self.url)
        init_db(self.engine)

    def sessions(self):
        from hub.db import make_session_factory

        return make_session_factory(self.engine)

    def size_bytes(self) -> int:
        from sqlalchemy import text

        if self.kind == "sqlite":
            with self.engine.connect() as conn:  # fold the WAL in, so the file size is the data
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())

    def punch_count(self) -> tuple[int, int]:
        """(rows, distinct ids) in the punches table."""
        from sqlalchemy import func, select

        from hub.db import PunchRecord

        with self.sessions()() as s:
            rows = s.scalar(select(func.count()).select_from(PunchRecord))
            distinct = s.scalar(select(func.count(func.distinct(PunchRecord.id))))
        return rows, distinct

    def stored_ids(self) -> set[str]:
        from sqlalchemy import select

        from hub.db import PunchRecord

        with self.sessions()() as s:
            return set(s.scalars(select(PunchRecord.id)))

    def drop(self) -> None:
        from sqlalchemy import text

        self.engine.dispose()
        if self.kind == "sqlite":
            for p in self.path.parent.glob(self.path.name + "*"):
                p.unlink()
        elif self._admin is not None:
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._admin.dispose()


def seed(db: Database, site_employees: dict[str, list[str]], specs: list[KioskSpec]) -> None:
    """Units, sites and employees by bulk insert; kiosks through the hub's registry."""
    from sqlalchemy import insert

    from hub.db import Employee, OrgUnit, Site
    from hub.devices import registry

    with db.sessions()() as s:
        s.execute(insert(OrgUnit), [{"unit_id": f"U-{site}", "name": f"Unit {site}", "kind": "office"}
                                    for site in site_employees])
        s.execute(insert(Site), [{"site_id": site, "name": f"Site {site}", "gallery_version": 0,
                                  "unit_id": f"U-{site}"} for site in site_employees])
        rows = [{"employee_id": e, "name": f"Employee {e}", "home_site_id": site, "unit_id": f"U-{site}"}
                for site, staff in site_employees.items() for e in staff]
        for i in range(0, len(rows), 20_000):
            s.execute(insert(Employee), rows[i:i + 20_000])
        for spec in specs:
            registry.register_device(s, spec.device_id, spec.site_id, spec.public_key_b64)
        s.commit()


def make_sites(site_count: int, employees: int) -> dict[str, list[str]]:
    per, extra = divmod(employees, site_count)
    out, n = {}, 0
    for i in range(site_count):
        count = per + (1 if i < extra else 0)
        out[f"S{i + 1:03d}"] = [f"E{n + j + 1:06d}" for j in range(count)]
        n += count
    return out


# --- the hub ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetLogins:
    """A broker locked down as ``provision broker`` does it, for a simulated fleet: every kiosk logs
    in as its device id with its own password (Mosquitto's PBKDF2 hash) and the ACL lets it touch
    only its own topics; the hub (and the benchmark's observers) log in as ``hub_user``."""

    broker_config: str   # lines for mosquitto.conf
    hub_user: str
    hub_password: str
    hub_password_file: Path

    @property
    def hub_login(self) -> tuple[str, str]:
        return self.hub_user, self.hub_password


def fleet_logins(workdir: Path, specs: list[KioskSpec], iterations: int | None = None) -> FleetLogins:
    """Write the dynamic-security logins and roles for ``specs`` with provisioning's own functions
    (``iterations``: PBKDF2 iterations of the hashes, provisioning's by default)."""
    from concurrent.futures import ThreadPoolExecutor

    from provisioning import broker as provision

    rounds = iterations or provision.PBKDF2_ITERATIONS
    hub_password = provision.new_hub_password()
    logins = {s.device_id: s.mqtt_password for s in specs} | {HUB_USER: hub_password}
    with ThreadPoolExecutor(os.cpu_count()) as pool:  # PBKDF2 runs without the GIL
        hashes = pool.map(lambda pw: provision.hash_password(pw, os.urandom(provision.SALT_BYTES), rounds),
                          logins.values())
        entries = dict(zip(logins, hashes))
    workdir.mkdir(parents=True, exist_ok=True)
    dynsec, hub_file = workdir / provision.DYNSEC_FILE, workdir / "hub.password"
    dynsec.write_text(json.dumps(provision.dynsec_document(entries, HUB_USER)))
    hub_file.write_text(hub_password)
    return FleetLogins("\n".join(provision.auth_conf_lines(dynsec)) + "\n", HUB_USER, hub_password, hub_file)


def check_logins_enforced(port: int, spec: KioskSpec) -> None:
    """Fail unless the broker refuses ``spec``'s device id with a wrong password: proof that the
    run's broker checks logins (a config mistake would otherwise let an open broker be measured)."""
    refused = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(spec.device_id, spec.mqtt_password + "-wrong")

    def on_connect(_c, _u, _f, code, _p) -> None:
        if code.is_failure:
            refused.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not refused.wait(10):
            raise RuntimeError(f"the broker on {port} did not refuse a wrong password for {spec.device_id}")
    finally:
        client.disconnect()
        client.loop_stop()


def write_hub_config(workdir: Path, db_url: str, port: int, *, client_id: str = "bench-hub",
                     ingest: dict | None = None, logins: FleetLogins | None = None) -> Path:
    token = workdir / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    mqtt_config = {"host": "127.0.0.1", "port": port, "client_id": client_id, "shared_group": GROUP}
    if logins is not None:
        mqtt_config |= {"username": logins.hub_user, "password_file": str(logins.hub_password_file)}
    config = {"database_url": db_url, "admin_token_file": str(token), "mqtt": mqtt_config, "ingest": ingest or {}}
    path = workdir / f"hub-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def hub_client_ids(workers: int, base: str = "bench-hub") -> list[str]:
    from hub.ingest.pool import worker_client_ids

    return worker_client_ids(base, workers)


class HubProcess:
    """``hub ingest --workers N`` as a child process (N=1: one ``hub ingest --client-id <base>-1``)."""

    def __init__(self, config: Path, workers: int, base: str = "bench-hub", log_path: Path | None = None,
                 log_level: str = "WARNING") -> None:
        self.config, self.workers, self.base, self.log_level = config, workers, base, log_level
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.peak_kb: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self) -> "HubProcess":
        cmd = [sys.executable, "-m", "hub.cli", "--log-level", self.log_level, "ingest", "--config", str(self.config)]
        cmd += ["--workers", str(self.workers), "--client-id", self.base] if self.workers > 1 else \
            ["--client-id", f"{self.base}-1"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=REPO, stderr=log, stdout=log)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        return children_of(self.proc.pid) if self.workers > 1 else [self.proc.pid]

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for pid in self.worker_pids():
            hwm = proc_status(pid).get("VmHWM")
            if hwm:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), hwm)
            cpu = proc_cpu_s(pid)
            if cpu:
                self.cpu_s[pid] = max(self.cpu_s.get(pid, 0.0), cpu)

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                for pid in self.worker_pids():
                    os.kill(pid, 9)
                self.proc.kill()
                self.proc.wait()


def precreate_sessions(port: int, client_ids: list[str], topic_filter: str,
                       login: tuple[str, str] | None = None) -> None:
    """Make each client id's persistent session and subscription at the broker, then leave.

    What the broker then queues for these sessions is exactly what a worker
    (or counter) with that id finds when it connects.
    """
    for cid in client_ids:
        done = threading.Event()
        refused: list = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        if login is not None:
            client.username_pw_set(*login)

        def on_subscribe(_c, _u, _m, codes, _p) -> None:
            refused.extend(code for code in codes if code.is_failure)
            done.set()

        client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        client.on_subscribe = on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
        client.loop_start()
        if not done.wait(10):
            raise RuntimeError(f"{cid}: no SUBACK")
        if refused:
            raise RuntimeError(f"{cid}: subscription to {topic_filter} refused: {refused}")
        client.disconnect()
        client.loop_stop()


class AckObserver:
    """One client on every kiosk's ack topic: counts acked punch ids and when they came."""

    def __init__(self, port: int, login: tuple[str, str] | None = None) -> None:
        self.ids: set[str] = set()
        self.rejected: list[tuple[str, str]] = []
        self.first: float | None = None
        self.first_count = 0
        self.last: float | None = None
        self.messages = 0
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ack-observer-{uuid.uuid4().hex[:6]}",
                                   protocol=mqtt.MQTTv5)
        if login is not None:
            self._client.username_pw_set(*login)
        self._client.on_connect = lambda c, *_: c.subscribe(topics.subscription(topics.ACK), qos=1)
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message
        self._port = port

    def start(self) -> "AckObserver":
        self._client.connect("127.0.0.1", self._port)
        self._client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("ack observer: no SUBACK")
        return self

    def _on_message(self, _c, _u, msg) -> None:
        now = time.monotonic()
        ack = json.loads(msg.payload)
        with self._cond:
            self.messages += 1
            if self.first is None:
                self.first, self.first_count = now, len(ack.get("ids", []))
            self.ids.update(ack.get("ids", []))
            self.rejected += [(r["id"], r["reason"]) for r in ack.get("rejected", [])]
            self.last = now
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.ids) + len(self.rejected) >= count, timeout_s)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- publishing a backlog -------------------------------------------------------------------


def signed_backlog(specs: list[KioskSpec], total: int) -> list[tuple[KioskSpec, str, bytes]]:
    """``total`` signed punches, round-robin over the kiosks and their employees."""
    from kiosk.decision import PunchDecision
    from kiosk.liveness import LivenessState
    from kiosk.punches import make_signed_punch

    keys = [s.private_key() for s in specs]
    seqs = [0] * len(specs)
    out = []
    for n in range(total):
        k = n % len(specs)
        spec = specs[k]
        seqs[k] += 1
        employee = spec.employee_ids[(seqs[k] - 1) % len(spec.employee_ids)]
        decision = PunchDecision(employee_id=employee, distance=0.38, margin=0.12,
                                 liveness=LivenessState(passed=True, score=0.9, reason=None))
        punch_id, payload = make_signed_punch(keys[k], device_id=spec.device_id, site_id=spec.site_id,
                                              decision=decision, ts=datetime.now(timezone.utc),
                                              gallery_version=1, seq=seqs[k])
        out.append((spec, punch_id, payload))
    return out


def publish_backlog(port: int, backlog: list[tuple[KioskSpec, str, bytes]]) -> float:
    """Publish every punch at QoS 1 from its own kiosk's client and wait for the broker's PUBACKs."""
    started = time.monotonic()
    clients: dict[str, mqtt.Client] = {}
    infos = []
    for spec, _pid, payload in backlog:
        client = clients.get(spec.device_id)
        if client is None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=spec.device_id, clean_session=False,
                                 protocol=mqtt.MQTTv311)
            client.max_inflight_messages_set(100)
            client.max_queued_messages_set(0)
            client.connect("127.0.0.1", port)
            client.loop_start()
            clients[spec.device_id] = client
        infos.append(client.publish(topics.device_topic(spec.device_id, topics.PUNCH), payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    for client in clients.values():
        client.disconnect()
        client.loop_stop()
    return time.monotonic() - started


# --- the raw subscriber ---------------------------------------------------------------------


def _raw_counter(port: int, client_id: str, expect: int, timeout_s: float, results) -> None:
    """A plain subscriber: resume the session, count the queued punches (paho PUBACKs each), report."""
    stamps = {"first": None, "last": None, "count": 0}
    done = threading.Event()

    def on_message(_c, _u, _msg) -> None:
        now = time.monotonic()
        if stamps["first"] is None:
            stamps["first"] = now
        stamps["last"] = now
        stamps["count"] += 1
        if stamps["count"] >= expect:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    started = time.monotonic()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    done.wait(timeout_s)
    client.disconnect()
    client.loop_stop()
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put({"count": stamps["count"], "first": stamps["first"], "last": stamps["last"], "started": started,
                 "cpu_s": usage.ru_utime + usage.ru_stime})


def raw_drain(port: int, client_id: str, expect: int, timeout_s: float = 120.0) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_raw_counter, args=(port, client_id, expect, timeout_s, results), daemon=True)
    proc.start()
    out = results.get(timeout=timeout_s + 30)
    proc.join(10)
    span = (out["last"] - out["first"]) if out["first"] is not None else float("nan")
    out["rate"] = (out["count"] - 1) / span if span and span > 0 else float("nan")
    out["drain_s"] = out["last"] - out["started"] if out["last"] else float("nan")
    return out


C_CLIENT = "mosquitto_sub"


def c_client_session(port: int, client_id: str, topic_filter: str) -> list[str] | None:
    """The ``mosquitto_sub`` command that resumes ``client_id``'s persistent QoS 1 session
    (made by ``precreate_sessions``); None when Mosquitto's clients are not installed."""
    binary = shutil.which(C_CLIENT)
    if binary is None:
        return None
    return [binary, "-h", "127.0.0.1", "-p", str(port), "-V", "5", "-c", "-i", client_id,
            "-x", str(SESSION_EXPIRY_S), "-q", "1", "-t", topic_filter]


def c_client_drain(command: list[str], expect: int, timeout_s: float = 120.0) -> dict:
    """Drain a queued session with Mosquitto's C client: the broker's own delivery rate.

    It prints each message's arrival time (``%U``, Unix time in ns) and
    exits after ``expect`` messages; the rate runs from the first to the last.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command + ["-C", str(expect), "-F", "%U"], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stamps = [float(line) for line in done.stdout.split()]
    if done.returncode != 0 or len(stamps) < 2:
        raise RuntimeError(f"{C_CLIENT} got {len(stamps)} of {expect} messages (exit {done.returncode}): "
                           f"{done.stderr.strip()}")
    span = stamps[-1] - stamps[0]
    return {"count": len(stamps), "rate": (len(stamps) - 1) / span if span > 0 else float("nan"),
            "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def signature_check_us(samples: int = 2000) -> float:
    """CPU time of one libsodium Ed25519 check on this machine, in us: the per-punch cost no
    implementation of the hub can skip (DESIGN: every punch is signed)."""
    from protocol.signing import check_signature, generate_private_key

    key = generate_private_key()
    message = os.urandom(400)
    signature = key.sign(message)
    public = key.public_key().public_bytes_raw()
    started = time.process_time()
    for _ in range(samples):
        check_signature(signature, message, public)
    return (time.process_time() - started) / samples * 1e6


# --- one measurement --------------------------------------------------------------------------


@dataclass
class Row:
    db: str
    workers: int
    punches: int
    raw_rate: float
    raw_c_rate: float  # mosquitto_sub; nan when it is not installed
    ingest_rate: float
    drain_s: float
    stored: int
    distinct: int
    acked: int
    rejected: int
    worker_peak_mb: float
    hub_cpu_s: float
    broker_cpu_s: float
    raw_cpu_s: float
    ack_messages: int
    db_growth_mb: float  # what storing the punches added to the database
    broker_us_per_msg: float  # the broker's CPU per message while the C client drained (nan without it)
    raw_c_us_per_msg: float  # the C client's own CPU per message


def measure(db_kind: str, workers: int, punches: int, kiosks: int, workdir: Path, broker_extra: str,
            ingest: dict | None = None) -> Row:
    run_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{db_kind}-{workers}-", dir=workdir))
    broker = bench_broker(run_dir / "mosquitto", broker_extra)
    db = Database(db_kind, run_dir)
    hub = None
    try:
        sites = make_sites(4, 2000)
        specs = plan_kiosks(sites, kiosks, prefix="bench")
        seed(db, sites, specs)
        size_before = db.size_bytes()
        backlog = signed_backlog(specs, punches)
        ids = hub_client_ids(workers)
        precreate_sessions(broker.port, ids, topics.subscription(topics.PUNCH, GROUP))
        precreate_sessions(broker.port, ["raw-counter", "raw-c-counter"], topics.subscription(topics.PUNCH))
        observer = AckObserver(broker.port).start()
        publish_backlog(broker.port, backlog)
        raw = raw_drain(broker.port, "raw-counter", punches)
        c_command = c_client_session(broker.port, "raw-c-counter", topics.subscription(topics.PUNCH))
        raw_c = {"rate": float("nan"), "cpu_s": float("nan"), "count": 0}
        broker_cpu0 = thread_cpu_s(broker._proc.pid)  # noqa: SLF001
        if c_command is not None:
            raw_c = c_client_drain(c_command, punches)
        broker_cpu1 = thread_cpu_s(broker._proc.pid)  # noqa: SLF001
        config = write_hub_config(run_dir, db.url, broker.port, ingest=ingest)
        started = time.monotonic()
        hub = HubProcess(config, workers, log_path=run_dir / "hub.log").start()
        ok = observer.wait_for(punches, timeout_s=600)
        hub.sample()
        broker_cpu2 = thread_cpu_s(broker._proc.pid)  # noqa: SLF001
        drain_s = (observer.last or time.monotonic()) - started
        span = (observer.last - observer.first) if observer.first else float("nan")
        rate = (len(observer.ids) - observer.first_count) / span if span and span > 0 else float("nan")
        hub.stop()
        observer.stop()
        if not ok:
            print(f"WARNING: {db_kind} x{workers}: only {len(observer.ids)} of {punches} acked", file=sys.stderr)
        stored, distinct = db.punch_count()
        c_count = raw_c["count"] or float("nan")
        return Row(db_kind, workers, punches, raw["rate"], raw_c["rate"], rate, drain_s, stored, distinct,
                   len(observer.ids), len(observer.rejected), max(hub.peak_kb.values(), default=0) / 1024,
                   sum(hub.cpu_s.values()), broker_cpu2 - broker_cpu1, raw["cpu_s"], observer.messages,
                   (db.size_bytes() - size_before) / 1e6, (broker_cpu1 - broker_cpu0) / c_count * 1e6,
                   raw_c["cpu_s"] / c_count * 1e6)
    finally:
        if hub is not None:
            hub.stop()
        broker.stop()
        db.drop()


# --- (2) a real kiosk's backlog -------------------------------------------------------------


def _kiosk_backlog_main(state_dir: str, key_file: str, device_id: str, site_id: str, employees: list[str],
                        count: int, port: int, control, results) -> None:
    """The kiosk process: fill a real outbox while the hub is down, run the real MqttLink, time the drain."""
    import logging

    from kiosk.config import KioskConfig
    from kiosk.decision import PunchDecision
    from kiosk.link import MqttLink
    from kiosk.liveness import LivenessState
    from kiosk.outbox import Outbox
    from kiosk.punches import make_signed_punch
    from protocol.signing import load_private_key

    logging.basicConfig(level=logging.WARNING)
    baseline = proc_status(os.getpid())            # the kiosk code imported, no outbox yet
    config = KioskConfig.model_validate({"device_id": device_id, "site_id": site_id, "state_dir": state_dir,
                                         "signing_key_file": key_file, "mqtt": {"host": "127.0.0.1", "port": port}})
    key = load_private_key(Path(key_file))
    outbox = Outbox(Path(state_dir) / "outbox.sqlite")
    started = time.monotonic()
    for n in range(count):
        decision = PunchDecision(employee_id=employees[n % len(employees)], distance=0.38, margin=0.12,
                                 liveness=LivenessState(passed=True, score=0.9, reason=None))
        outbox.add(lambda seq: make_signed_punch(key, device_id=device_id, site_id=site_id, decision=decision,
                                                 ts=datetime.now(timezone.utc), gallery_version=1, seq=seq))
    fill_s = time.monotonic() - started
    after_fill = proc_status(os.getpid())
    link = MqttLink(config, outbox, sw_version="bench", gallery_version=lambda: 0)
    link.start()
    link.connected.wait(30)
    results.put(("ready", fill_s, after_fill, outbox.depth(), baseline))
    control.get()                                  # the hub is starting now
    hub_started = time.monotonic()
    tick = threading.Event()
    while outbox.depth() > 0 and time.monotonic() - hub_started < 600:
        tick.wait(0.05)
    drained_s = time.monotonic() - hub_started
    status = proc_status(os.getpid())
    stats = dict(link.stats)
    link.stop()
    outbox.close()
    results.put(("drained", drained_s, status, stats, outbox_size(Path(state_dir))))


def outbox_size(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("outbox.sqlite*"))


def backlog_drain(db_kind: str, count: int, workdir: Path, hub_down_s: float = 3.0) -> dict:
    """One kiosk with ``count`` punches queued while the hub is down; then the hub starts."""
    from protocol.signing import write_private_key

    run_dir = Path(tempfile.mkdtemp(prefix=f"backlog-{db_kind}-", dir=workdir))
    broker = bench_broker(run_dir / "mosquitto")
    db = Database(db_kind, run_dir)
    hub = None
    ctx = multiprocessing.get_context("spawn")
    try:
        sites = make_sites(1, 500)
        site = next(iter(sites))
        spec = plan_kiosks(sites, 1, prefix="backlog")[0]
        seed(db, sites, [spec])
        key_file = run_dir / "kiosk.key"
        write_private_key(spec.private_key(), key_file)
        precreate_sessions(broker.port, hub_client_ids(1), topics.subscription(topics.PUNCH, GROUP))
        control, results = ctx.Queue(), ctx.Queue()
        kiosk = ctx.Process(target=_kiosk_backlog_main, daemon=True, args=(
            str(run_dir / "kiosk"), str(key_file), spec.device_id, site, list(spec.employee_ids), count,
            broker.port, control, results))
        kiosk.start()
        _, fill_s, after_fill, depth, baseline = results.get(timeout=900)
        time.sleep(hub_down_s)                          # hub still down: the link has published its window
        config = write_hub_config(run_dir, db.url, broker.port)
        control.put("go")
        started = time.monotonic()
        hub = HubProcess(config, 1, log_path=run_dir / "hub.log").start()
        _, drained_s, status, link_stats, size = results.get(timeout=900)

        def rows() -> int:
            return db.punch_count()[0]
        while rows() < count and time.monotonic() - started < 120:
            time.sleep(0.2)
        all_rows_s = time.monotonic() - started
        hub.sample()
        stored, distinct = db.punch_count()
        kiosk.join(30)
        return {"db": db_kind, "count": count, "fill_s": fill_s, "depth_before": depth, "drained_s": drained_s,
                "rows_s": all_rows_s, "stored": stored, "distinct": distinct,
                "rss_baseline_mb": baseline.get("VmRSS", 0) / 1024,
                "rss_after_fill_mb": after_fill.get("VmRSS", 0) / 1024, "hwm_mb": status.get("VmHWM", 0) / 1024,
                "link": link_stats, "hub_peak_mb": max(hub.peak_kb.values(), default=0) / 1024}
    finally:
        if hub is not None:
            hub.stop()
        broker.stop()
        db.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--punches", type=int, default=10_000)
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--max-inflight", type=int, default=None,
                        help="broker max_inflight_messages (default: Mosquitto's 20)")
    parser.add_argument("--batch-max", type=int, default=None, help="hub ingest.batch_max")
    parser.add_argument("--backlog", type=int, default=None, metavar="N",
                        help="instead: one real kiosk (outbox + MqttLink) with N punches queued while the hub is down")
    args = parser.parse_args(argv)
    if args.backlog:
        return main_backlog(args.backlog, args.databases.split(","), argv)
    from benchmarks.common import markdown_table

    extra = BENCH_BROKER + (f"max_inflight_messages {args.max_inflight}\n" if args.max_inflight is not None else "")
    ingest = {"batch_max": args.batch_max} if args.batch_max else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for db_kind in args.databases.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                row = measure(db_kind, workers, args.punches, args.kiosks, Path(tmp), extra, ingest)
                print(json.dumps(row.__dict__), file=sys.stderr, flush=True)
                rows.append(row)
    print(f"- command: `python -m benchmarks.ingest {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print(f"- broker: Mosquitto, `{extra.strip().replace(chr(10), '; ')}`; {os.cpu_count()} CPUs shared; "
          f"load average at end {os.getloadavg()[0]:.2f}")
    print()
    print(markdown_table(
        ["db", "workers", "punches", "raw msg/s (paho)", f"raw msg/s ({C_CLIENT})", "ingest stored+acked/s",
         "ingest/raw (paho)", f"ingest/raw ({C_CLIENT})", "drain s (from start)", "rows (distinct)", "acked",
         "worker peak RSS MB", "hub CPU s", "broker CPU s (ingest)", "acks msgs", "database growth MB"],
        [[r.db, r.workers, r.punches, f"{r.raw_rate:,.0f}", f"{r.raw_c_rate:,.0f}", f"{r.ingest_rate:,.0f}",
          f"{100 * r.ingest_rate / r.raw_rate:.0f}%", f"{100 * r.ingest_rate / r.raw_c_rate:.0f}%",
          f"{r.drain_s:.1f}", f"{r.stored} ({r.distinct})", r.acked, f"{r.worker_peak_mb:.0f}",
          f"{r.hub_cpu_s:.1f}", f"{r.broker_cpu_s:.1f}", r.ack_messages, f"{r.db_growth_mb:.1f}"] for r in rows]))
    print()
    print_floor(rows)
    return 0


def print_floor(rows: list[Row]) -> None:
    """What no hub can avoid per punch on this machine, and the rate that caps every design at.

    Per punch the broker delivers one message (its CPU per message is taken
    while ``mosquitto_sub`` drained, which costs next to nothing itself), a
    client receives it (``mosquitto_sub``'s own CPU: the least a client can
    spend) and the hub checks one Ed25519 signature (libsodium, measured
    here). Storing and acking come on top. Dividing the machine's cores by
    that sum gives a rate no implementation can pass here.
    """
    measured = [r for r in rows if r.raw_c_rate == r.raw_c_rate]  # not nan: the C client ran
    if not measured:
        print(f"- {C_CLIENT} not installed: the broker's own rate and the floor below were not measured")
        return
    median = statistics.median
    check_us = signature_check_us()
    broker_us = median(r.broker_us_per_msg for r in measured)
    client_us = median(r.raw_c_us_per_msg for r in measured)
    raw_c = median(r.raw_c_rate for r in measured)
    cores = os.cpu_count() or 1
    floor_us = check_us + broker_us + client_us
    ceiling = cores * 1e6 / floor_us
    print(f"Per punch, whatever the hub is written in (median of the rows): the broker's CPU to deliver "
          f"one message {broker_us:.1f} us, the least a client spends receiving it ({C_CLIENT}) "
          f"{client_us:.1f} us, one libsodium Ed25519 check {check_us:.1f} us: {floor_us:.0f} us of CPU "
          f"before anything is stored or acked. {cores} cores give at most **{ceiling:,.0f} punches/s = "
          f"{100 * ceiling / raw_c:.0f}% of the broker's raw rate** ({raw_c:,.0f} msg/s to {C_CLIENT}).")


def main_backlog(count: int, databases: list[str], argv: list[str] | None) -> int:
    from benchmarks.common import markdown_table

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        for db_kind in databases:
            row = backlog_drain(db_kind, count, Path(tmp))
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(f"- command: `python -m benchmarks.ingest {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print(f"- {os.cpu_count()} CPUs shared with other work; load average at end {os.getloadavg()[0]:.2f}")
    print()
    print(markdown_table(
        ["hub db", "backlog", "outbox fill s", "outbox empty after s", "hub rows after s", "rows (distinct)",
         "kiosk RSS before outbox MB", "kiosk RSS after fill MB", "kiosk VmHWM MB", "punches published (incl. resends)", "hub worker peak MB"],
        [[r["db"], r["count"], f"{r['fill_s']:.1f}", f"{r['drained_s']:.1f}", f"{r['rows_s']:.1f}",
          f"{r['stored']} ({r['distinct']})", f"{r['rss_baseline_mb']:.0f}", f"{r['rss_after_fill_mb']:.0f}", f"{r['hwm_mb']:.0f}",
          r["link"].get("punches_published", 0), f"{r['hub_peak_mb']:.0f}"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
