"""Duty sites: geofence, shift rules and phone policy."""

from sqlalchemy.orm import Session

from hub.db import Site
from hub.errors import Conflict, InvalidInput, NotFound
from hub.masterdata.common import apply, changes_of
from hub.masterdata.fields import SiteIn, SitePatch
from hub.masterdata.units import get_unit

REQUIRED = {"name", "timezone", "shift_start", "cutoff", "min_gap_min", "half_day_hours", "phone_policy"}
GEOFENCE = ("lat", "lon", "radius_m")


def get_site(session: Session, site_id: str) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"unknown site {site_id!r}")
    return site


def create_site(session: Session, data: SiteIn) -> Site:
    if session.get(Site, data.site_id) is not None:
        raise Conflict(f"site {data.site_id} exists")
    site = Site(site_id=data.site_id, name=data.name, gallery_version=0)
    session.add(site)
    session.flush()  # column defaults (shift times, policy) are filled in
    _apply(session, site, changes_of(data, REQUIRED, exclude={"site_id", "name"}))
    return site


def update_site(session: Session, site_id: str, patch: SitePatch) -> Site:
    site = get_site(session, site_id)
    _apply(session, site, changes_of(patch, REQUIRED))
    return site


def _apply(session: Session, site: Site, changes: dict) -> None:
    if changes.get("unit_id") is not None:
        get_unit(session, changes["unit_id"])
    apply(site, changes)
    geofence = [getattr(site, k) for k in GEOFENCE]
    if any(v is not None for v in geofence) and any(v is None for v in geofence):
        raise InvalidInput("a geofence needs lat, lon and radius_m together")
    if site.cutoff < site.shift_start:
        raise InvalidInput(f"cutoff {site.cutoff} is before shift_start {site.shift_start}")
    session.flush()
