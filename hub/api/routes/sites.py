"""Duty sites: geofence, shift rules, phone policy, gallery version."""

from datetime import time

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from hub.accounts import audit
from hub.api.deps import AdminDep, OfficerDep, SessionDep
from hub.db import Site
from hub.devices import registry
from hub.errors import Conflict
from hub.masterdata import sites
from hub.masterdata.fields import SiteIn, SitePatch

router = APIRouter(prefix="/sites", tags=["sites"])


class SiteOut(BaseModel):
    site_id: str
    name: str
    gallery_version: int
    unit_id: str | None
    lat: float | None
    lon: float | None
    radius_m: float | None
    timezone: str
    shift_start: time
    cutoff: time
    min_gap_min: int
    half_day_hours: float
    phone_policy: str
    phone_networks: list[str] | None = None

    @classmethod
    def of(cls, row: Site) -> "SiteOut":
        return cls.model_validate({k: getattr(row, k) for k in cls.model_fields})


class SiteList(BaseModel):
    items: list[SiteOut]


@router.get("")
def list_sites(session: SessionDep, _user: OfficerDep) -> SiteList:
    return SiteList(items=[SiteOut.of(s) for s in registry.list_sites(session)])


@router.post("", status_code=status.HTTP_201_CREATED)
def add_site(body: SiteIn, session: SessionDep, admin: AdminDep, response: Response) -> SiteOut:
    """201 when added; 200 when the site exists with every given value (provisioning
    re-runs); 409 when it exists with other values (PATCH changes a site)."""
    existing = session.get(Site, body.site_id)
    if existing is not None:
        differs = [k for k, v in body.model_dump(exclude_unset=True).items() if getattr(existing, k) != v]
        if differs:
            raise Conflict(f"site {body.site_id} exists with other {', '.join(differs)}; PATCH it to change")
        response.status_code = status.HTTP_200_OK
        return SiteOut.of(existing)
    site = sites.create_site(session, body)
    audit.record(session, admin, "site.create", f"site:{site.site_id}", None, audit.snapshot(site))
    session.commit()
    return SiteOut.of(site)


@router.patch("/{site_id}")
def update_site(site_id: str, body: SitePatch, session: SessionDep, admin: AdminDep) -> SiteOut:
    before = audit.snapshot(sites.get_site(session, site_id))
    site = sites.update_site(session, site_id, body)
    audit.record(session, admin, "site.update", f"site:{site_id}", before, audit.snapshot(site))
    session.commit()
    return SiteOut.of(site)
