"""Kiosk status and health at the hub: the device registry behind GET /api/v1/devices and /metrics.

Kiosks publish a retained status (birth ``online``, last will ``offline``,
which the broker publishes for them when the connection dies) and, every
minute or so, a health message (QoS 0). The ingest worker hands both here:
``parse_report`` decides what a message says (pure), ``record_reports``
stores a batch in the caller's transaction. All state lives in the
database (``device_health``, ``device_health_samples``), so every API
replica and every ingest worker sees the same registry.

- *last seen* is the hub time of the last message the kiosk itself sent
  (a birth or a health). A last will is the broker speaking, and a retained
  status replayed when a worker subscribes is old news: neither counts.
- *clock skew* is device time minus hub receive time of the kiosk's latest
  health message (``hub.devices.state``): a clock off by an hour, ahead or
  behind, is judged from the first message that shows it, and a clock back
  in step is cleared by the next. Intake reads it (``device_clocks``) to
  judge each punch's time (``hub.ingest.plausibility``); punches of a kiosk whose
  skew is beyond ``health.max_clock_skew_s`` are stored with the flag
  ``clock_skew``, which the reports already read.
- *alarms* (``DeviceAlarm``) are repeated in every health message while they
  last: the kiosk's current alarms are those of its latest one; each new one
  is logged at WARNING.
- Samples older than ``health.history_days``, or beyond
  ``health.history_max_samples`` per kiosk, are deleted as new ones come in.

Subscriptions: status is never a shared subscription, because a broker
sends no retained messages to a shared subscription (MQTT 5, 4.8.2); every
worker applies every status, which is idempotent. Health may be shared.
"""

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.config import HealthConfig
from hub.db import Device, DeviceHealth, DeviceHealthSample
from hub.devices.state import DeviceState, clock_skew_s, device_state, is_clock_suspect
from hub.ingest.intake import INT64_MAX, UNKNOWN_DEVICE, Rejected
from hub.ingest.plausibility import DeviceClock
from hub.ingest.punches import ReceivedMessage, rejected_row
from protocol import messages, topics
from protocol.errors import MessageInvalid

log = logging.getLogger(__name__)

KINDS = (topics.STATUS, topics.HEALTH)
MAX_VERSION_CHARS = 64
NOT_A_DEVICE_TOPIC = "not a device topic"
# The alarm kinds kiosks raise today (protocol.messages), so /metrics shows each even at 0; a newer kind still counts.
ALARM_KINDS = (messages.ALARM_STORAGE_ERROR, messages.ALARM_OUTBOX_RECOVERED, messages.ALARM_CLOCK_UNSET,
               messages.ALARM_CLOCK_STEP, messages.ALARM_THREAD_ERROR, messages.ALARM_LAST_EXIT,
               messages.ALARM_ASSISTED_PENDING)


def subscriptions(shared_group: str | None) -> list[tuple[str, int]]:
    """(topic filter, QoS) for the worker: status plain (retained copies), health shared when grouped."""
    return [(topics.subscription(topics.STATUS), 1), (topics.subscription(topics.HEALTH, shared_group), 0)]


# --- what one message says (pure) ------------------------------------------


@dataclass(frozen=True)
class StatusReport:
    device_id: str
    status: messages.Status
    received_at: datetime
    retained: bool  # replayed by the broker on subscribe: says nothing about when the kiosk spoke


@dataclass(frozen=True)
class HealthReport:
    device_id: str
    health: messages.Health
    received_at: datetime
    skew_s: float


@dataclass(frozen=True)
class BadReport:
    device_id: str | None
    reason: str


Report = StatusReport | HealthReport | BadReport


def parse_report(message: ReceivedMessage, *, retained: bool = False, max_bytes: int) -> Report:
    """Decode a status or health message; a BadReport says why it cannot be used."""
    try:
        where = topics.parse_device_topic(message.topic)
    except ValueError:
        return BadReport(None, NOT_A_DEVICE_TOPIC)
    if where.kind not in KINDS:
        return BadReport(where.device_id, f"not a status or health topic: {where.kind}")
    model = messages.Status if where.kind == topics.STATUS else messages.Health
    try:
        parsed = messages.parse(model, message.payload, max_bytes)
    except MessageInvalid as exc:
        return BadReport(where.device_id, exc.reason)
    problem = unstorable(parsed)
    if problem:
        return BadReport(where.device_id, problem)
    if isinstance(parsed, messages.Status):
        return StatusReport(where.device_id, parsed, message.received_at, retained)
    return HealthReport(where.device_id, parsed, message.received_at, clock_skew_s(parsed.ts, message.received_at))


def unstorable(parsed: messages.Status | messages.Health) -> str | None:
    """What the schema lets through but the database cannot hold: NaN and infinities
    (SQLite would store NULL), integers over 64 bits, long version texts, dates
    that leave the calendar once turned into UTC. A device clock far off (a
    Pi without RTC booting in 1970) is fine: that is what skew is for."""
    if parsed.sw_version is not None and len(parsed.sw_version) > MAX_VERSION_CHARS:
        return f"schema: sw_version: longer than {MAX_VERSION_CHARS} characters"
    if parsed.ts is not None:
        try:
            parsed.ts.astimezone(timezone.utc)
        except OverflowError:
            return "schema: ts: out of range"
    if isinstance(parsed, messages.Health):
        for name, value in parsed.model_dump().items():
            if isinstance(value, float) and not math.isfinite(value):
                return f"schema: {name}: not a finite number"
            if isinstance(value, int) and value > INT64_MAX:
                return f"schema: {name}: too large"
    return None


# A sample as the API shows it (the columns, with ts for device_ts).
SAMPLE_FIELDS = ("received_at", "ts", "clock_skew_s", "uptime_s", "cpu_temp_c", "load1", "mem_free_mb",
                 "disk_free_mb", "camera_fps", "outbox_depth", "oldest_unacked_s", "gallery_version", "sw_version",
                 "alarms", "heal")


def sample_of(report: HealthReport) -> dict[str, Any]:
    """A health message as a sample row (and, as JSON, the kiosk's latest telemetry)."""
    h = report.health
    return {
        "received_at": report.received_at, "ts": h.ts.astimezone(timezone.utc), "clock_skew_s": report.skew_s,
        "uptime_s": h.uptime_s, "cpu_temp_c": h.cpu_temp_c, "load1": h.load1, "mem_free_mb": h.mem_free_mb,
        "disk_free_mb": h.disk_free_mb, "camera_fps": h.camera_fps, "outbox_depth": h.outbox_depth, "oldest_unacked_s": h.oldest_unacked_s,
        "gallery_version": h.gallery_version, "sw_version": h.sw_version,
        "alarms": [alarm.model_dump(mode="json") for alarm in h.alarms],
        "heal": [action.model_dump(mode="json") for action in h.heal or []],
    }


def sample_dict(row: DeviceHealthSample) -> dict[str, Any]:
    """A stored sample in the shape of ``sample_of``."""
    fields = {k: getattr(row, k) for k in SAMPLE_FIELDS if k not in ("ts", "alarms", "heal")}
    return {**fields, "ts": row.device_ts, "alarms": json.loads(row.alarms) if row.alarms else [],
            "heal": json.loads(row.heal) if row.heal else []}


def alarms_of(telemetry: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The alarms a kiosk raised in the health sample ``telemetry`` (as ``sample_of``): its current ones.

    Samples stored before kiosks sent alarms have none.
    """
    return list(telemetry.get("alarms", [])) if telemetry else []


def new_alarms(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alarms of ``after`` that ``before`` did not have: the same kind raised again (a new ``since``) is new."""
    seen = {(a["kind"], a["since"]) for a in before}
    return [a for a in after if (a["kind"], a["since"]) not in seen]


def apply_status(row: DeviceHealth, report: StatusReport) -> None:
    row.status = report.status.state
    row.status_at = report.received_at
    if report.status.sw_version:
        row.sw_version = report.status.sw_version
    if report.status.state == "online" and not report.retained:  # the kiosk itself spoke
        row.last_seen_at = _later(row.last_seen_at, report.received_at)


def apply_health(row: DeviceHealth, report: HealthReport) -> None:
    row.last_seen_at = _later(row.last_seen_at, report.received_at)
    if row.health_at is None or report.received_at >= row.health_at:  # workers may finish out of order
        sample = sample_of(report)
        for alarm in new_alarms(alarms_of(json.loads(row.telemetry) if row.telemetry else None), sample["alarms"]):
            log.warning("device %s raised alarm %s (since %s): %s", report.device_id, alarm["kind"], alarm["since"],
                        alarm["detail"] or "no detail")
        row.health_at = report.received_at
        row.clock_skew_s = report.skew_s
        row.telemetry = json.dumps(sample, default=_iso)
        row.sw_version = report.health.sw_version


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- storing (the caller commits) ---------------------------------------------


def record_reports(
    session: Session, items: list[tuple[ReceivedMessage, Report]], config: HealthConfig, *, max_payload_bytes: int
) -> list[str]:
    """Apply a batch in arrival order; returns per message 'status', 'health' or 'rejected'.

    A refused message is kept in ``rejected_messages`` with its reason (and
    noted on the kiosk's row), like a refused punch; no commit here.
    """
    named = {r.device_id for _, r in items if r.device_id is not None}
    known = set(session.scalars(select(Device.device_id).where(Device.device_id.in_(named)))) if named else set()
    rows = _health_rows(session, known)
    results: list[str] = []
    sampled: dict[str, datetime] = {}
    for message, report in items:
        if not isinstance(report, BadReport) and report.device_id not in known:
            report = BadReport(report.device_id, UNKNOWN_DEVICE)
        if isinstance(report, BadReport):
            session.add(rejected_row(message, Rejected(None, report.reason), max_payload_bytes))
            if report.device_id in rows:
                rows[report.device_id].error, rows[report.device_id].error_at = report.reason, message.received_at
            log.warning("%s from %s refused: %s", message.topic.rsplit("/", 1)[-1], report.device_id, report.reason)
            results.append("rejected")
        elif isinstance(report, StatusReport):
            apply_status(rows[report.device_id], report)
            results.append("status")
        else:
            session.add(DeviceHealthSample(device_id=report.device_id, **_sample_columns(report)))
            apply_health(rows[report.device_id], report)
            sampled[report.device_id] = _later(sampled.get(report.device_id), report.received_at)
            results.append("health")
    session.flush()
    for device_id, newest in sampled.items():
        prune_samples(session, device_id, newest, config)
    return results


def _sample_columns(report: HealthReport) -> dict[str, Any]:
    columns = sample_of(report)
    columns["device_ts"] = columns.pop("ts")
    columns["alarms"] = json.dumps(columns["alarms"]) if columns["alarms"] else None
    columns["heal"] = json.dumps(columns["heal"]) if columns["heal"] else None
    return columns


def _health_rows(session: Session, device_ids: set[str]) -> dict[str, DeviceHealth]:
    """The registry rows of these kiosks, made when missing. Insert-or-ignore, because
    every worker applies every status and two may meet a kiosk's first one together."""
    if not device_ids:
        return {}
    query = select(DeviceHealth).where(DeviceHealth.device_id.in_(device_ids))
    rows = {row.device_id: row for row in session.scalars(query)}
    missing = device_ids - rows.keys()
    if missing:
        dialect = session.get_bind().dialect.name
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        for device_id in sorted(missing):
            session.execute(insert(DeviceHealth).values(device_id=device_id).on_conflict_do_nothing())
        rows = {row.device_id: row for row in session.scalars(query)}
    return rows


def prune_samples(session: Session, device_id: str, now: datetime, config: HealthConfig) -> None:
    """Keep a kiosk's samples of the last ``history_days``, and at most ``history_max_samples``."""
    s = DeviceHealthSample
    session.execute(delete(s).where(s.device_id == device_id,
                                    s.received_at < now - timedelta(days=config.history_days)))
    oldest_dropped = (select(s.id).where(s.device_id == device_id).order_by(s.id.desc())
                      .offset(config.history_max_samples).limit(1).scalar_subquery())
    session.execute(delete(s).where(s.device_id == device_id, s.id <= oldest_dropped))


def device_clocks(session: Session, device_ids: Iterable[str]) -> dict[str, DeviceClock]:
    """What each kiosk's latest health said of its clock and outbox (absent: no health yet), for intake."""
    wanted = sorted(set(device_ids))
    if not wanted:
        return {}
    query = (select(DeviceHealth.device_id, DeviceHealth.clock_skew_s, DeviceHealth.health_at, DeviceHealth.telemetry)
             .where(DeviceHealth.device_id.in_(wanted), DeviceHealth.health_at.is_not(None)))
    return {device_id: DeviceClock(skew, at, waiting_s(json.loads(telemetry)))
            for device_id, skew, at, telemetry in session.execute(query) if skew is not None and telemetry}


def waiting_s(telemetry: dict[str, Any]) -> float | None:
    """Age of the oldest punch in the kiosk's outbox at that health (0: empty; None: not said)."""
    if telemetry.get("oldest_unacked_s") is not None:
        return float(telemetry["oldest_unacked_s"])
    return 0.0 if telemetry.get("outbox_depth") == 0 else None


# --- reading (API and metrics) ----------------------------------------------


@dataclass(frozen=True)
class DeviceView:
    """A kiosk with what the hub knows of its health, judged at ``now``."""

    device: Device
    health: DeviceHealth | None
    state: DeviceState
    clock_suspect: bool

    @property
    def telemetry(self) -> dict[str, Any] | None:
        return json.loads(self.health.telemetry) if self.health is not None and self.health.telemetry else None

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """The kiosk's current alarms: those of its latest health message."""
        return alarms_of(self.telemetry)


def view_of(device: Device, health: DeviceHealth | None, now: datetime, config: HealthConfig) -> DeviceView:
    status = health.status if health is not None else None
    seen = health.last_seen_at if health is not None else None
    skew = health.clock_skew_s if health is not None else None
    return DeviceView(device, health, device_state(status, seen, now, config.stale_after_s),
                      is_clock_suspect(skew, config.max_clock_skew_s))


def device_views(session: Session, *, now: datetime, config: HealthConfig, site_id: str | None = None,
                 active_only: bool = False) -> list[DeviceView]:
    query = (select(Device, DeviceHealth).outerjoin(DeviceHealth, DeviceHealth.device_id == Device.device_id)
             .order_by(Device.device_id))
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    if active_only:
        query = query.where(Device.retired_at.is_(None))
    return [view_of(device, health, now, config) for device, health in session.execute(query)]


def health_history(session: Session, device_id: str, *, limit: int,
                   since: datetime | None = None) -> list[DeviceHealthSample]:
    """A kiosk's stored samples, newest first."""
    query = select(DeviceHealthSample).where(DeviceHealthSample.device_id == device_id)
    if since is not None:
        query = query.where(DeviceHealthSample.received_at >= since)
    return list(session.scalars(query.order_by(DeviceHealthSample.id.desc()).limit(limit)))


def site_kiosk_status(session: Session, site_id: str) -> list[tuple[str | None, datetime | None]]:
    """(status, last seen) of each active kiosk at a site: ``hub.phone``'s ``KioskStatus``."""
    query = (select(DeviceHealth.status, DeviceHealth.last_seen_at).select_from(Device)
             .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.device_id)
             .where(Device.site_id == site_id, Device.retired_at.is_(None)))
    return [(status, seen) for status, seen in session.execute(query)]
