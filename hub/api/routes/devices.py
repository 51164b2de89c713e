"""Kiosks: register a public key at a site, list (with who is behind on the gallery), retire."""

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from hub import registry
from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep
from hub.db import Device, Site

router = APIRouter(prefix="/devices", tags=["devices"])


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str
    site_id: str
    public_key: str  # raw 32-byte Ed25519 public key, base64


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

    @classmethod
    def of(cls, row: Device, site_version: int) -> "DeviceOut":
        return cls(
            device_id=row.device_id, site_id=row.site_id, public_key=row.public_key_b64,
            created_at=row.created_at, retired_at=row.retired_at, gallery_version=row.gallery_version,
            gallery_confirmed_at=row.gallery_confirmed_at, site_gallery_version=site_version,
            gallery_behind=row.gallery_version is None or row.gallery_version < site_version,
        )


class DeviceList(BaseModel):
    items: list[DeviceOut]


def site_version(session, site_id: str) -> int:
    return session.scalar(select(Site.gallery_version).where(Site.site_id == site_id)) or 0


@router.get("")
def list_devices(session: SessionDep, _admin: AdminDep, site_id: str | None = None) -> DeviceList:
    versions = registry.site_versions(session)
    return DeviceList(items=[DeviceOut.of(d, versions.get(d.site_id, 0))
                             for d in registry.list_devices(session, site_id)])


@router.post("", status_code=status.HTTP_201_CREATED)
def register_device(body: DeviceIn, session: SessionDep, admin: AdminDep, response: Response) -> DeviceOut:
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
    return DeviceOut.of(device, site_version(session, device.site_id))


@router.post("/{device_id}/retire")
def retire_device(device_id: str, session: SessionDep, admin: AdminDep) -> DeviceOut:
    before = session.get(Device, device_id)
    before_state = audit.snapshot(before) if before is not None else None
    device = registry.retire_device(session, device_id)
    if before_state is not None and before_state["retired_at"] is None:
        audit.record(session, admin, "device.retire", f"device:{device_id}", before_state, audit.snapshot(device))
    session.commit()
    return DeviceOut.of(device, site_version(session, device.site_id))
