"""Sites and kiosks known to the hub: adding, registering, retiring, looking up.

Data functions take the session first and leave the commit to the caller,
so one CLI command or API request is one transaction.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Device, Site, utcnow
from hub.errors import Conflict, InvalidInput, NotFound
from hub.ingest.intake import DeviceRecord
from protocol.messages import EntityId
from protocol.signing import load_public_key
from protocol.topics import is_device_id

log = logging.getLogger(__name__)

_ENTITY_ID = TypeAdapter(EntityId)


def check_entity_id(value: str, what: str) -> None:
    """Site and employee ids follow the rule punches are validated with."""
    try:
        _ENTITY_ID.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"{what} must be 1-64 characters without control characters: {value!r}") from exc


def add_site(session: Session, site_id: str, name: str) -> tuple[Site, bool]:
    """Create a site; returns (site, created). The same site and name again is a no-op."""
    check_entity_id(site_id, "site_id")
    site = session.get(Site, site_id)
    if site is not None:
        if site.name != name:
            raise Conflict(f"site {site_id} exists with another name: {site.name!r}")
        return site, False
    site = Site(site_id=site_id, name=name, gallery_version=0)
    session.add(site)
    session.flush()
    log.info("site %s added", site_id)
    return site, True


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.site_id)))


def register_device(session: Session, device_id: str, site_id: str, public_key_b64: str) -> tuple[Device, bool]:
    """Register a kiosk's public key; returns (device, created).

    The same device with the same key and site again is a no-op. An active
    device is never silently given another key or site: a stolen or
    replaced kiosk is retired first, so the change is a deliberate act.
    """
    if not is_device_id(device_id):
        raise InvalidInput(f"invalid device_id {device_id!r}: letters, digits, '_', '.', '-' (max 64)")
    try:
        load_public_key(public_key_b64)
    except ValueError as exc:
        raise InvalidInput(f"public key for {device_id}: {exc}") from exc
    if session.get(Site, site_id) is None:
        raise NotFound(f"unknown site {site_id!r}")
    device = session.get(Device, device_id)
    if device is None:
        device = Device(device_id=device_id, site_id=site_id, public_key_b64=public_key_b64, created_at=utcnow())
        session.add(device)
        session.flush()
        log.info("device %s registered at site %s", device_id, site_id)
        return device, True
    if device.retired_at is None:
        if device.public_key_b64 == public_key_b64 and device.site_id == site_id:
            return device, False
        raise Conflict(f"device {device_id} is active with another key or site; retire it first")
    device.site_id = site_id
    device.public_key_b64 = public_key_b64
    device.retired_at = None
    device.gallery_version = None
    device.gallery_confirmed_at = None
    log.info("retired device %s registered again at site %s", device_id, site_id)
    return device, True


def retire_device(session: Session, device_id: str, now: datetime | None = None) -> Device:
    """Mark a kiosk retired: its punches are refused from now on. Idempotent."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"unknown device {device_id!r}")
    if device.retired_at is None:
        device.retired_at = now or utcnow()
        log.info("device %s retired", device_id)
    return device


def list_devices(session: Session, site_id: str | None = None) -> list[Device]:
    query = select(Device).order_by(Device.device_id)
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    return list(session.scalars(query))


def site_versions(session: Session) -> dict[str, int]:
    """{site_id: current gallery version}: what a kiosk of that site should hold."""
    return {site_id: version for site_id, version in session.execute(select(Site.site_id, Site.gallery_version))}


LOOKUP_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def lookup_device(session: Session, device_id: str) -> DeviceRecord | None:
    device = session.get(Device, device_id)
    return None if device is None else _record(device.device_id, device.site_id, device.public_key_b64,
                                               device.retired_at)


def lookup_devices(session: Session, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
    """``lookup_device`` for many kiosks at once (an ingest batch): one SELECT per 500, plain rows, no ORM
    objects. A kiosk that is not registered is not in the result."""
    ordered = sorted(set(device_ids))
    found: dict[str, DeviceRecord] = {}
    columns = (Device.device_id, Device.site_id, Device.public_key_b64, Device.retired_at)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        for row in session.execute(select(*columns).where(Device.device_id.in_(ordered[i:i + LOOKUP_CHUNK]))):
            found[row[0]] = _record(*row)
    return found


def _record(device_id: str, site_id: str, public_key_b64: str, retired_at: datetime | None) -> DeviceRecord:
    return DeviceRecord(device_id=device_id, site_id=site_id, public_key_b64=public_key_b64,
                        retired=retired_at is not None)
