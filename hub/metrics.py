"""Prometheus metrics of the hub, read from the database at each scrape.

Nothing is counted in process memory: several API replicas and ingest
workers share one database, so any replica answers the same. Totals are
row counts (``punches``, ``rejected_messages``), which only grow; gauges are
the device registry (hub/devices/health.py) judged at scrape time. Served by
GET /metrics (hub/api/routes/metrics.py) in the text exposition format.

Metrics:
  hub_devices{state}                             active kiosks by state (online, offline, stale, never_seen)
  hub_device_up{device_id,site_id}               1 online, 0 otherwise (active kiosks)
  hub_device_last_seen_timestamp_seconds{...}    hub time of its last birth or health
  hub_device_clock_skew_seconds{...}             skew of its latest health; + = kiosk clock ahead
  hub_device_outbox_depth{...}                   punches waiting on the kiosk (from its latest health)
  hub_device_oldest_unacked_seconds{...}         age of its oldest waiting punch (from its latest health)
  hub_device_gallery_behind{...}                 1 when it has not confirmed its site's gallery version
  hub_device_alarm{device_id,site_id,kind}       1 for each alarm a kiosk raises in its latest health
  hub_device_alarms{kind}                        active kiosks raising each kind (every known kind, 0 too)
  hub_punches_ingested_total{method}             stored punches
  hub_punches_rejected_total                     refused punch messages (kept in rejected_messages)
  hub_punches_unanswered_total{reason}           of those, the ones no kiosk was told about: no id fit to
                                                 echo, no device in the topic, or a hub fault; reason is
                                                 the kind of refusal (UNANSWERED_REASONS, else "other")
  hub_device_reports_rejected_total{kind}        refused status / health messages
  hub_recent_punches                             punches received in the last metrics.lag_window_s
  hub_punch_ingest_lag_seconds{quantile}         hub receive time minus device time of those punches
                                                 (0, 0.5, 0.9, 0.99, 1); includes time waiting in a
                                                 kiosk's outbox while offline, and any clock skew
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.db import PunchRecord, RejectedMessage
from hub.devices import health, registry
from hub.ingest.intake import (
    BAD_TOPIC,
    RETIRED_DEVICE,
    TOPIC_DEVICE_MISMATCH,
    UNKNOWN_DEVICE,
)
from protocol import topics

# The classic text format every Prometheus version reads (our names need no escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("online", "offline", "stale", "never seen")
QUANTILES = (0.0, 0.5, 0.9, 0.99, 1.0)
MAX_LAG_ROWS = 100_000  # a scrape reads at most this many recent punches for the lag quantiles
HUB_FAULT_PREFIX = "internal error"  # hub.ingest.worker: kept for audit, not answered, so the kiosk sends it again
# Labels of hub_punches_unanswered_total: how refusal reasons begin (the rest is detail, e.g. the bad field).
UNANSWERED_REASONS = ("payload too large", "not JSON", "not a JSON object", BAD_TOPIC, UNKNOWN_DEVICE,
                      RETIRED_DEVICE, TOPIC_DEVICE_MISMATCH, "bad signature", "schema", HUB_FAULT_PREFIX)


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (q=0: min, q=1: max)."""
    if not sorted_values:
        raise ValueError("no values")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class HubCollector(Collector):
    """Collects every metric from one database session at ``now``."""

    def __init__(self, session: Session, config: HubConfig, now: datetime) -> None:
        self.session, self.config, self.now = session, config, now

    def collect(self) -> Iterator[Metric]:
        yield from self._devices()
        yield from self._alarms()
        yield from self._totals()
        yield from self._lag()

    def _devices(self) -> Iterator[Metric]:
        views = health.device_views(self.session, now=self.now, config=self.config.health, active_only=True)
        versions = registry.site_versions(self.session)
        labels = ["device_id", "site_id"]
        by_state = GaugeMetricFamily("hub_devices", "Active kiosks by state", labels=["state"])
        up = GaugeMetricFamily("hub_device_up", "1 when the kiosk is online", labels=labels)
        seen = GaugeMetricFamily("hub_device_last_seen_timestamp_seconds",
                                 "Hub time of the kiosk's last birth or health message", labels=labels)
        skew = GaugeMetricFamily("hub_device_clock_skew_seconds",
                                 "Kiosk clock minus hub clock, from its latest health", labels=labels)
        depth = GaugeMetricFamily("hub_device_outbox_depth", "Punches waiting on the kiosk for the hub's ack",
                                  labels=labels)
        oldest = GaugeMetricFamily("hub_device_oldest_unacked_seconds",
                                   "Age of the kiosk's oldest punch waiting for an ack", labels=labels)
        behind = GaugeMetricFamily("hub_device_gallery_behind",
                                   "1 when the kiosk has not confirmed its site's gallery version", labels=labels)
        counts = dict.fromkeys(STATES, 0)
        for view in views:
            d, h, t = view.device, view.health, view.telemetry
            key = [d.device_id, d.site_id]
            counts[view.state] += 1
            up.add_metric(key, 1.0 if view.state == "online" else 0.0)
            confirmed = d.gallery_version
            behind.add_metric(key, 1.0 if confirmed is None or confirmed < versions.get(d.site_id, 0) else 0.0)
            if h is not None and h.last_seen_at is not None:
                seen.add_metric(key, h.last_seen_at.timestamp())
            if h is not None and h.clock_skew_s is not None:
                skew.add_metric(key, h.clock_skew_s)
            if t is not None:
                depth.add_metric(key, float(t["outbox_depth"]))
                if t.get("oldest_unacked_s") is not None:
                    oldest.add_metric(key, float(t["oldest_unacked_s"]))
        for state, count in counts.items():
            by_state.add_metric([state.replace(" ", "_")], float(count))
        yield from (by_state, up, seen, skew, depth, oldest, behind)

    def _alarms(self) -> Iterator[Metric]:
        """Kiosk alarms (protocol.messages.DeviceAlarm) from each active kiosk's latest health."""
        views = health.device_views(self.session, now=self.now, config=self.config.health, active_only=True)
        each = GaugeMetricFamily("hub_device_alarm", "1 for each alarm the kiosk raises in its latest health",
                                 labels=["device_id", "site_id", "kind"])
        counts = dict.fromkeys(health.ALARM_KINDS, 0)
        for view in views:
            kinds = dict.fromkeys(a["kind"] for a in view.alarms)
            for kind in kinds:
                each.add_metric([view.device.device_id, view.device.site_id, kind], 1.0)
                counts[kind] = counts.get(kind, 0) + 1
        by_kind = GaugeMetricFamily("hub_device_alarms", "Active kiosks raising each kind of alarm", labels=["kind"])
        for kind, count in counts.items():
            by_kind.add_metric([kind], float(count))
        yield from (each, by_kind)

    def _totals(self) -> Iterator[Metric]:
        ingested = CounterMetricFamily("hub_punches_ingested", "Punches stored", labels=["method"])
        for method, count in self.session.execute(
                select(PunchRecord.method, func.count()).group_by(PunchRecord.method).order_by(PunchRecord.method)):
            ingested.add_metric([method], float(count))
        yield ingested
        kind = case(*[(RejectedMessage.topic.like(f"%/{k}"), k) for k in (topics.PUNCH, *health.KINDS)],
                    else_="other")
        rejected = dict(self.session.execute(select(kind, func.count()).group_by(kind)).all())
        punches = CounterMetricFamily("hub_punches_rejected", "Punch messages refused (kept for audit)")
        punches.add_metric([], float(rejected.get(topics.PUNCH, 0)))
        yield punches
        reports = CounterMetricFamily("hub_device_reports_rejected", "Status and health messages refused",
                                      labels=["kind"])
        for k in health.KINDS:
            reports.add_metric([k], float(rejected.get(k, 0)))
        yield reports
        yield self._unanswered()

    def _unanswered(self) -> Metric:
        """Refused punch messages no ack answered, by kind of reason: a kiosk sending what
        cannot be answered, and the hub faults, which are answered by nothing but a resend."""
        reason = case(*[(RejectedMessage.reason.like(f"{r}%"), r) for r in UNANSWERED_REASONS], else_="other")
        unanswered = or_(RejectedMessage.punch_id.is_(None), RejectedMessage.device_id.is_(None),
                         RejectedMessage.reason.like(f"{HUB_FAULT_PREFIX}%"))
        counts = dict(self.session.execute(
            select(reason, func.count()).where(RejectedMessage.topic.like(f"%/{topics.PUNCH}"), unanswered)
            .group_by(reason)).all())
        family = CounterMetricFamily("hub_punches_unanswered",
                                     "Refused punch messages no kiosk was told about, by kind of reason",
                                     labels=["reason"])
        for r in (*UNANSWERED_REASONS, "other"):
            family.add_metric([r], float(counts.get(r, 0)))
        return family

    def _lag(self) -> Iterator[Metric]:
        since = self.now - timedelta(seconds=self.config.metrics.lag_window_s)
        rows = self.session.execute(
            select(PunchRecord.received_at, PunchRecord.device_ts).where(PunchRecord.received_at >= since)
            .order_by(PunchRecord.received_at.desc()).limit(MAX_LAG_ROWS))
        lags = sorted((received - device_ts).total_seconds() for received, device_ts in rows)
        recent = GaugeMetricFamily("hub_recent_punches", "Punches received in the lag window")
        recent.add_metric([], float(len(lags)))
        yield recent
        lag = GaugeMetricFamily("hub_punch_ingest_lag_seconds",
                                "Hub receive time minus device time of punches received in the lag window",
                                labels=["quantile"])
        for q in QUANTILES if lags else ():
            lag.add_metric([repr(q)], quantile(lags, q))
        yield lag


def render(session: Session, config: HubConfig, now: datetime) -> bytes:
    """The text exposition of every metric."""
    from prometheus_client import generate_latest

    return generate_latest(HubCollector(session, config, now))
