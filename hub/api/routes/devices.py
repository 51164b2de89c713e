"""Kiosks: register a public key at a site, list (with their health, their current alarms and who
is behind on the gallery), one kiosk's recent health samples, retire.

State (hub/devices/health.py): ``online``, ``offline`` (last will), ``stale`` (says online but no
health for ``health.stale_after_s``) or ``never seen``, judged at request time.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep, now
from hub.db import Device, DeviceHealth, Site
from hub.devices import health, health_series, registry
from hub.errors import InvalidInput, NotFound

router = APIRouter(prefix="/devices", tags=["devices"])


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str
    site_id: str
    public_key: str  # raw 32-byte Ed25519 public key, base64


class AlarmOut(BaseModel):
    """Something on the kiosk that needs a person (protocol.messages.DeviceAlarm), as long as it reports it."""

    kind: str  # storage_error, outbox_recovered, clock_unset, clock_step, thread_error, last_exit, or newer
    detail: str
    since: datetime  # device time it was raised


class HealOut(BaseModel):
    """A fault the kiosk acted on by itself (protocol.messages.HealAction)."""

    fault: str  # camera_stopped, disk_low, clock_off, link_down, or newer
    action: str  # restart_camera, trim_logs, resync_time, renew_link, or newer
    detail: str
    since: datetime  # device time of the first action
    at: datetime  # device time of the latest action
    count: int
    recovered: bool


class HealthSampleOut(BaseModel):
    """One health message as the hub stored it."""

    received_at: datetime  # hub time
    ts: datetime  # device time (in UTC), as the kiosk's clock had it
    clock_skew_s: float  # ts minus received_at, this sample
    uptime_s: float
    cpu_temp_c: float | None
    load1: float | None
    mem_free_mb: float | None
    disk_free_mb: float | None
    camera_fps: float | None
    outbox_depth: int  # punches waiting for the hub's ack on the kiosk
    oldest_unacked_s: float | None
    gallery_version: int  # the version the kiosk holds, as it says in health
    sw_version: str
    alarms: list[AlarmOut] = []  # samples stored before kiosks sent alarms have none
    heal: list[HealOut] = []  # what the kiosk did by itself about faults (kiosk/selfheal.py); older samples: none


class DeviceOut(BaseModel):
    device_id: str
    site_id: str
    public_key: str
    created_at: datetime
    retired_at: datetime | None
    gallery_version: int | None  # the version the kiosk last confirmed
    gallery_confirmed_at: datetime | None
    site_gallery_version: int
    gallery_behind: bool  # the kiosk has not confirmed its site's current version
    state: Literal["online", "offline", "stale", "never seen"]
    status: Literal["online", "offline"] | None  # the retained status as last received
    status_at: datetime | None
    last_seen: datetime | None  # hub time of the last birth or health the kiosk sent
    clock_skew_s: float | None  # from its latest health message; positive: the kiosk clock is ahead
    clock_suspect: bool  # |clock_skew_s| > health.max_clock_skew_s: its punches are flagged clock_skew
    sw_version: str | None
    telemetry: HealthSampleOut | None  # the latest health message
    alarms: list[AlarmOut]  # the kiosk's current alarms: those of its latest health message
    health_error: str | None  # why its last refused status/health message was refused
    health_error_at: datetime | None

    @classmethod
    def of(cls, row: Device, site_version: int, view: health.DeviceView) -> "DeviceOut":
        h = view.health or DeviceHealth()
        return cls(
            device_id=row.device_id, site_id=row.site_id, public_key=row.public_key_b64,
            created_at=row.created_at, retired_at=row.retired_at, gallery_version=row.gallery_version,
            gallery_confirmed_at=row.gallery_confirmed_at, site_gallery_version=site_version,
            gallery_behind=row.gallery_version is None or row.gallery_version < site_version,
            state=view.state, status=h.status, status_at=h.status_at, last_seen=h.last_seen_at,
            clock_skew_s=h.clock_skew_s, clock_suspect=view.clock_suspect, sw_version=h.sw_version,
            telemetry=view.telemetry, alarms=view.alarms, health_error=h.error, health_error_at=h.error_at,
        )


class DeviceList(BaseModel):
    items: list[DeviceOut]


class HealthHistory(BaseModel):
    device_id: str
    state: Literal["online", "offline", "stale", "never seen"]
    last_seen: datetime | None
    clock_skew_s: float | None
    items: list[HealthSampleOut]  # newest first


def device_out(request: Request, session: Session, device: Device) -> DeviceOut:
    view = health.view_of(device, session.get(DeviceHealth, device.device_id), now(request),
                          request.app.state.config.health)
    return DeviceOut.of(device, site_version(session, device.site_id), view)


def site_version(session, site_id: str) -> int:
    return session.scalar(select(Site.gallery_version).where(Site.site_id == site_id)) or 0


@router.get("")
def list_devices(request: Request, session: SessionDep, _admin: AdminDep, site_id: str | None = None) -> DeviceList:
    versions = registry.site_versions(session)
    views = health.device_views(session, now=now(request), config=request.app.state.config.health, site_id=site_id)
    return DeviceList(items=[DeviceOut.of(v.device, versions.get(v.device.site_id, 0), v) for v in views])


@router.get("/{device_id}/health")
def device_health(
    request: Request, device_id: str, session: SessionDep, _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=10_080, description="at most this many samples, newest first")] = 500,
    since: Annotated[datetime | None, Query(description="only samples received at or after this time")] = None,
) -> HealthHistory:
    """A kiosk's recent health samples (kept for health.history_days), newest first."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"unknown device {device_id!r}")
    if since is not None and since.utcoffset() is None:
        raise InvalidInput("since needs a UTC offset, e.g. 2026-11-22T09:00:00+05:30")
    view = health.view_of(device, session.get(DeviceHealth, device_id), now(request), request.app.state.config.health)
    samples = health.health_history(session, device_id, limit=limit, since=since)
    return HealthHistory(
        device_id=device_id, state=view.state, last_seen=view.health.last_seen_at if view.health else None,
        clock_skew_s=view.health.clock_skew_s if view.health else None,
        items=[HealthSampleOut(**health.sample_dict(s)) for s in samples],
    )


class SeriesPoint(BaseModel):
    start: datetime  # bucket start, hub time
    samples: int  # health messages in the bucket (0: a gap; the kiosk was silent)
    cpu_temp_c: float | None  # mean
    outbox_depth: float | None  # largest: a backlog shows even when short
    clock_skew_s: float | None  # mean
    camera_fps: float | None  # mean


class HealthSeries(BaseModel):
    device_id: str
    window: Literal["day", "week"]
    bucket_s: int
    end: datetime
    points: list[SeriesPoint]  # oldest first


@router.get("/{device_id}/health/series")
def device_health_series(request: Request, device_id: str, session: SessionDep, _admin: AdminDep,
                         window: Literal["day", "week"] = "day") -> HealthSeries:
    """A day (15-minute buckets) or a week (hourly) of a kiosk's health, for the device page's charts."""
    if session.get(Device, device_id) is None:
        raise NotFound(f"unknown device {device_id!r}")
    span, bucket = health_series.WINDOWS[window]
    end = now(request)
    samples = health.health_history(session, device_id, limit=request.app.state.config.health.history_max_samples,
                                    since=end - span)
    points = health_series.bucket_series(samples, end=end, window=span, bucket=bucket)
    return HealthSeries(device_id=device_id, window=window, bucket_s=int(bucket.total_seconds()), end=end,
                        points=[SeriesPoint(start=p.start, samples=p.samples, **p.values) for p in points])


@router.post("", status_code=status.HTTP_201_CREATED)
def register_device(
    request: Request, body: DeviceIn, session: SessionDep, admin: AdminDep, response: Response
) -> DeviceOut:
    """201 when registered, 200 when already registered with the same key and site."""
    before = session.get(Device, body.device_id)
    before_state = audit.snapshot(before) if before is not None else None
    device, created = registry.register_device(session, body.device_id, body.site_id, body.public_key)
    if created:
        audit.record(session, admin, "device.register", f"device:{device.device_id}", before_state,
                     audit.snapshot(device))
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return device_out(request, session, device)


@router.post("/{device_id}/retire")
def retire_device(request: Request, device_id: str, session: SessionDep, admin: AdminDep) -> DeviceOut:
    before = session.get(Device, device_id)
    before_state = audit.snapshot(before) if before is not None else None
    device = registry.retire_device(session, device_id)
    if before_state is not None and before_state["retired_at"] is None:
        audit.record(session, admin, "device.retire", f"device:{device_id}", before_state, audit.snapshot(device))
    session.commit()
    return device_out(request, session, device)
