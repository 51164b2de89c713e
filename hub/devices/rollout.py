"""Rolling a release out in rings: one kiosk, then ``canary_fraction`` of them, then everyone.

A rollout's kiosks are split into rings when it starts. The kiosks of the
current ring are sent an ``update`` command (queued like any command,
hub/devices/commands.py, so an offline kiosk gets it when it comes back).
Each kiosk of the ring is then judged from what it reports
(``judge``): updated once its health has shown the new version for
``soak_s``; failed when it refused the release (the command's result),
rolled back (its ``update_rolled_back`` alarm), went back to another
version, or did not report the new version ``deadline_s`` after it was
queued, unless the command still waits for the kiosk to come online;
skipped when the command expired unsent (offline: no verdict on the release).
A kiosk that runs the new version through its soak but got worse on it
than it was before it was sent the update (camera slower, a new alarm,
self-heal firing, the outbox backing up, less free memory:
hub/devices/ring_health.py, from the stored health samples) is judged
``degraded``, a state of its own beside ``failed``, so an admin sees that
the release installed and what it made worse. The next ring starts when
every kiosk of this one is judged; more than ``max_failure_fraction``
failed or degraded in a ring (any in the one-kiosk ring) halts the
rollout, and nothing more is sent until an admin resumes it.

The ingest worker calls ``advance`` every ``commands.poll_s`` (one short
transaction); the decisions are the pure functions ``assign_rings``,
``judge``, ``with_health`` (ring_health.degraded) and ``ring_verdict``.
"""

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import HubConfig, UpdatesConfig
from hub.db import Device, DeviceHealth, DeviceHealthSample
from hub.devices import commands, ring_health
from hub.devices.health import alarms_of
from hub.devices.models import DeviceCommand, Release, Rollout, RolloutTarget
from hub.errors import Conflict, NotFound
from protocol import messages

log = logging.getLogger(__name__)

RINGS = 3
JUDGED = ("installed", "failed", "degraded", "skipped")
BAD = ("failed", "degraded")   # what a ring's failure share counts
NAMED_IN_HALT = 5              # kiosks a halt's detail names


# -- pure decisions ----------------------------------------------------------------------------

def ring_sizes(total: int, canary_fraction: float) -> list[int]:
    """Kiosks per ring: one, then ``canary_fraction`` of all (at least one), then the rest."""
    if total <= 0:
        return [0, 0, 0]
    second = min(total - 1, max(1, math.ceil(total * canary_fraction)))
    return [1, second, total - 1 - second]


def assign_rings(device_ids: list[str], version: str, canary_fraction: float) -> dict[str, int]:
    """Each kiosk's ring. The order is a hash of version and id: spread over sites, stable for a
    version, and not always the same kiosk first."""
    order = sorted(device_ids, key=lambda d: hashlib.sha256(f"{version}\0{d}".encode()).hexdigest())
    rings: dict[str, int] = {}
    start = 0
    for ring, size in enumerate(ring_sizes(len(order), canary_fraction)):
        for device_id in order[start:start + size]:
            rings[device_id] = ring
        start += size
    return rings


@dataclass(frozen=True)
class Seen:
    """What the hub knows of one kiosk sent the update."""

    command_state: str | None      # of the update command
    command_detail: str | None
    sw_version: str | None         # from its latest health or status
    health_at: datetime | None
    alarms: list[dict[str, Any]]


@dataclass(frozen=True)
class Judgement:
    state: str
    detail: str | None = None
    reported_at: datetime | None = None


def judge(version: str, sent_at: datetime, reported_at: datetime | None, seen: Seen, now: datetime,
          config: UpdatesConfig) -> Judgement:
    """The state of a kiosk that was sent ``version`` (``sent`` while nothing is known yet)."""
    if seen.command_state == "failed":
        return Judgement("failed", seen.command_detail or "the kiosk refused the update")
    if seen.command_state == "expired":
        return Judgement("skipped", "offline: the update was never sent")
    for alarm in seen.alarms:
        if alarm.get("kind") == messages.ALARM_UPDATE_ROLLED_BACK and _since(alarm) >= sent_at and \
                str(alarm.get("detail", "")).startswith(f"{version} rolled back"):
            return Judgement("failed", alarm["detail"])
    if seen.sw_version == version and seen.health_at is not None:
        first = reported_at or seen.health_at
        if (seen.health_at - first).total_seconds() >= config.soak_s:
            return Judgement("installed", f"running {version}", first)
        return Judgement("sent", None, first)
    if reported_at is not None and seen.sw_version != version:
        return Judgement("failed", f"reported {version}, then {seen.sw_version}")
    if seen.command_state == "queued":   # offline: waits for the kiosk, or expires into "skipped"
        return Judgement("sent", None, reported_at)
    if now - sent_at > timedelta(seconds=config.deadline_s):
        return Judgement("failed", f"not running {version} {config.deadline_s:.0f} s after it was sent "
                                   f"(still {seen.sw_version})")
    return Judgement("sent", None, reported_at)


def with_health(verdict: Judgement, version: str, worse: str | None) -> Judgement:
    """An installed kiosk whose health got worse over its soak (``worse``: ring_health.degraded) is degraded."""
    if verdict.state != "installed" or not worse:
        return verdict
    return Judgement("degraded", f"worse on {version}: {worse}", verdict.reported_at)


def _since(alarm: dict[str, Any]) -> datetime:
    """When an alarm was raised (a rollback: when it happened); the distant past when unreadable."""
    try:
        return datetime.fromisoformat(str(alarm.get("since")))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def ring_verdict(states: list[str], max_failure_fraction: float) -> str:
    """``halt`` (too many failed or degraded), ``advance`` (all judged) or ``wait``, for the states of one ring."""
    counted = [s for s in states if s != "skipped"]
    bad = sum(1 for s in counted if s in BAD)
    if bad and bad / len(counted) > max_failure_fraction:
        return "halt"
    return "advance" if all(s in JUDGED for s in states) else "wait"


# -- the database ------------------------------------------------------------------------------

def start(session: Session, version: str, *, actor: str, now: datetime, config: UpdatesConfig) -> Rollout:
    """A new rollout of a published release to every active kiosk not running it; the caller commits."""
    if session.get(Release, version) is None:
        raise NotFound(f"no published release {version!r}; `hub release publish` it first")
    running = session.scalar(select(Rollout).where(Rollout.state == "running"))
    if running is not None:
        raise Conflict(f"rollout {running.id} of {running.version} is running; halt it first")
    devices = dict(session.execute(
        select(Device.device_id, DeviceHealth.sw_version).outerjoin(DeviceHealth,
                                                                   DeviceHealth.device_id == Device.device_id)
        .where(Device.retired_at.is_(None))).all())
    wanted = [d for d, current in devices.items() if current != version]
    rollout = Rollout(version=version, state="running" if wanted else "done", ring=0, created_at=now,
                      created_by=actor[:100], updated_at=now)
    session.add(rollout)
    session.flush()
    for device_id, ring in assign_rings(wanted, version, config.canary_fraction).items():
        session.add(RolloutTarget(rollout_id=rollout.id, device_id=device_id, ring=ring,
                                  from_version=devices[device_id], state="pending"))
    session.flush()
    log.info("rollout %s of %s started by %s: %d kiosks", rollout.id, version, actor, len(wanted))
    return rollout


def halt_detail(ring: int, version: str, targets: list[tuple[str, str, str | None]]) -> str:
    """Why a ring halted, from its (device, state, detail): "ring 1: 3 of 5 kiosks worse after 1.4.0; K-012
    camera 9.8 -> 2.1 fps; ..." (failures first: "ring 1: 1 of 5 kiosks failed, 2 of 5 kiosks worse after 1.4.0;
    K-003: refused ...; K-012 camera ..."), naming at most NAMED_IN_HALT kiosks."""
    failed = [(d, why) for d, state, why in targets if state == "failed"]
    worse = [(d, why) for d, state, why in targets if state == "degraded"]
    counts = ([f"{len(failed)} of {len(targets)} kiosks failed"] if failed else []) + \
        ([f"{len(worse)} of {len(targets)} kiosks worse after {version}"] if worse else [])
    named = [f"{d}: {why}" for d, why in failed] + \
        [f"{d} {(why or '').removeprefix(f'worse on {version}: ')}" for d, why in worse]
    more = len(named) - NAMED_IN_HALT
    return (f"ring {ring}: {', '.join(counts)}; " + "; ".join(named[:NAMED_IN_HALT])
            + (f"; {more} more" if more > 0 else ""))[:2000]


def halt(session: Session, rollout_id: int, why: str, now: datetime) -> Rollout:
    rollout = get_rollout(session, rollout_id)
    if rollout.state != "running":
        raise Conflict(f"rollout {rollout_id} is {rollout.state}, not running")
    rollout.state, rollout.detail, rollout.updated_at = "halted", why[:2000], now
    return rollout


def resume(session: Session, rollout_id: int, now: datetime) -> Rollout:
    """Run a halted rollout on: the failed kiosks of its ring are sent the release again; its degraded ones,
    which run the release already, count as installed from now on (the admin accepted what got worse)."""
    rollout = get_rollout(session, rollout_id)
    if rollout.state != "halted":
        raise Conflict(f"rollout {rollout_id} is {rollout.state}, not halted")
    if session.scalar(select(Rollout.id).where(Rollout.state == "running")) is not None:
        raise Conflict("another rollout is running")
    for target in session.scalars(select(RolloutTarget).where(
            RolloutTarget.rollout_id == rollout.id, RolloutTarget.ring == rollout.ring,
            RolloutTarget.state == "failed")):
        target.state, target.command_id, target.sent_at, target.reported_at = "pending", None, None, None
    for target in session.scalars(select(RolloutTarget).where(
            RolloutTarget.rollout_id == rollout.id, RolloutTarget.ring == rollout.ring,
            RolloutTarget.state == "degraded")):
        target.state, target.detail = "installed", f"accepted on resume: {target.detail}"[:2000]
    rollout.state, rollout.detail, rollout.updated_at = "running", None, now
    return rollout


def has_running(session: Session) -> bool:
    return session.scalar(select(Rollout.id).where(Rollout.state == "running").limit(1)) is not None


def advance(session: Session, now: datetime, config: HubConfig, actor: str = "rollout") -> int:
    """Judge the current ring of each running rollout, halt or move on, send the ring's updates.

    Returns how many update commands were queued; the caller commits.
    """
    queued = 0
    for rollout in list(session.scalars(select(Rollout).where(Rollout.state == "running"))):
        while True:
            targets = list(session.scalars(select(RolloutTarget).where(
                RolloutTarget.rollout_id == rollout.id, RolloutTarget.ring == rollout.ring)))
            queued += _send(session, rollout, [t for t in targets if t.state == "pending"], now, config, actor)
            _judge_sent(session, rollout, [t for t in targets if t.state == "sent"], now, config.updates)
            verdict = ring_verdict([t.state for t in targets], config.updates.max_failure_fraction)
            if verdict == "halt":
                rollout.state, rollout.updated_at = "halted", now
                rollout.detail = halt_detail(rollout.ring, rollout.version,
                                             [(t.device_id, t.state, t.detail) for t in targets])
                log.warning("rollout %s of %s halted: %s", rollout.id, rollout.version, rollout.detail)
            elif verdict == "advance":
                rollout.updated_at = now
                if rollout.ring + 1 >= RINGS:
                    rollout.state = "done"
                    log.info("rollout %s of %s done", rollout.id, rollout.version)
                else:
                    rollout.ring += 1
                    log.info("rollout %s of %s: ring %s starts", rollout.id, rollout.version, rollout.ring)
                    continue
            break
    session.flush()
    return queued


def _send(session: Session, rollout: Rollout, pending: list[RolloutTarget], now: datetime, config: HubConfig,
          actor: str) -> int:
    for target in pending:
        row = commands.queue_update(session, device_id=target.device_id, version=rollout.version,
                                    rollout_id=rollout.id, actor=actor, now=now, config=config.commands)
        target.state, target.command_id, target.sent_at = "sent", row.id, now
    return len(pending)


def _judge_sent(session: Session, rollout: Rollout, sent: list[RolloutTarget], now: datetime,
                config: UpdatesConfig) -> None:
    if not sent:
        return
    ids = [t.device_id for t in sent]
    health = {row.device_id: row for row in session.scalars(select(DeviceHealth).where(DeviceHealth.device_id.in_(ids)))}
    cmds = {row.id: row for row in session.scalars(select(DeviceCommand).where(
        DeviceCommand.id.in_([t.command_id for t in sent if t.command_id])))}
    verdicts: dict[str, Judgement] = {}
    for target in sent:
        h, cmd = health.get(target.device_id), cmds.get(target.command_id or "")
        telemetry = json.loads(h.telemetry) if h is not None and h.telemetry else None
        seen = Seen(cmd.state if cmd else None, cmd.detail if cmd else None, h.sw_version if h else None,
                    h.health_at if h else None, alarms_of(telemetry))
        verdicts[target.device_id] = judge(rollout.version, target.sent_at or now, target.reported_at, seen, now,
                                           config)
    soaked = [t for t in sent if verdicts[t.device_id].state == "installed"]
    for device_id, worse in _health_worse(session, rollout.version, soaked, verdicts, now, config).items():
        verdicts[device_id] = with_health(verdicts[device_id], rollout.version, worse)
    for target in sent:
        verdict = verdicts[target.device_id]
        if verdict.state != target.state:
            log.info("rollout %s: %s %s (%s)", rollout.id, target.device_id, verdict.state, verdict.detail)
        target.state, target.reported_at = verdict.state, verdict.reported_at
        if verdict.detail:
            target.detail = verdict.detail[:2000]


def _health_worse(session: Session, version: str, soaked: list[RolloutTarget], verdicts: dict[str, Judgement],
                  now: datetime, config: UpdatesConfig) -> dict[str, str | None]:
    """ring_health.degraded for each kiosk whose soak just ended, from its stored health samples: those at the
    old version before it was sent the update (the baseline), and those at ``version`` since its first one."""
    if not soaked:
        return {}
    window = timedelta(seconds=config.baseline_window_s)
    s = DeviceHealthSample
    rows = session.execute(
        select(s.device_id, s.received_at, s.sw_version, s.camera_fps, s.mem_free_mb, s.outbox_depth,
               s.oldest_unacked_s, s.alarms, s.heal)
        .where(s.device_id.in_([t.device_id for t in soaked]),
               s.received_at >= min(t.sent_at or now for t in soaked) - window)
        .order_by(s.id))
    samples: dict[str, list[tuple[str, ring_health.Snapshot]]] = {}
    for device_id, at, sw_version, fps, mem, depth, oldest, alarms, heal in rows:
        snap = ring_health.snapshot_of(at, fps, mem, depth, oldest, json.loads(alarms) if alarms else None,
                                       json.loads(heal) if heal else None)
        samples.setdefault(device_id, []).append((sw_version, snap))
    worse: dict[str, str | None] = {}
    for target in soaked:
        sent_at, first = target.sent_at or now, verdicts[target.device_id].reported_at or now
        mine = samples.get(target.device_id, [])
        before = [snap for v, snap in mine if v != version and sent_at - window <= snap.at <= sent_at]
        soak = [snap for v, snap in mine if v == version and snap.at >= first]
        worse[target.device_id] = ring_health.degraded(
            ring_health.baseline_of(before[-config.baseline_samples:]), soak, sent_at, config)
    return worse


def get_rollout(session: Session, rollout_id: int) -> Rollout:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise NotFound(f"no rollout {rollout_id}")
    return rollout


def progress(session: Session, rollout: Rollout) -> dict[str, Any]:
    """Counts by ring and state, for the dashboard and ``hub release status``."""
    rows = session.execute(select(RolloutTarget.ring, RolloutTarget.state, func.count())
                           .where(RolloutTarget.rollout_id == rollout.id)
                           .group_by(RolloutTarget.ring, RolloutTarget.state)).all()
    rings = [{"ring": r, "total": 0, **{s: 0 for s in ("pending", "sent", *JUDGED)}} for r in range(RINGS)]
    for ring, state, count in rows:
        rings[ring][state] += count
        rings[ring]["total"] += count
    return {"id": rollout.id, "version": rollout.version, "state": rollout.state, "ring": rollout.ring,
            "detail": rollout.detail, "created_at": rollout.created_at, "created_by": rollout.created_by,
            "updated_at": rollout.updated_at, "rings": rings,
            "total": sum(r["total"] for r in rings), "installed": sum(r["installed"] for r in rings),
            "failed": sum(r["failed"] for r in rings), "degraded": sum(r["degraded"] for r in rings)}


def targets_of(session: Session, rollout_id: int) -> list[RolloutTarget]:
    return list(session.scalars(select(RolloutTarget).where(RolloutTarget.rollout_id == rollout_id)
                                .order_by(RolloutTarget.ring, RolloutTarget.device_id)))
