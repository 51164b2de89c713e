"""Who each site's kiosks recognise, and the versioned deltas that keep kiosks in step.

Every change to a site's gallery bumps ``sites.gallery_version`` once and
stamps the changed member rows with it. A removed member keeps its row
(``removed=True``), so "what changed since version X" is always one query:
rows with ``version > X``.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Device, Employee, EmployeeAllowedSite, FaceTemplate, GalleryMember, Site
from protocol.messages import GalleryDelta, GalleryPerson, encode_template


CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit


def allowed_sites(session: Session, employee_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Where each of these employees may punch: an active employee, at the home site or one of the
    allowed sites. An unknown or inactive employee has no entry (allowed nowhere).

    One SELECT per ``CHUNK`` ids, plain rows: ingest asks it for a whole
    batch (about 200 employees), where loading ORM objects cost more than
    the punches' own checks.
    """
    ordered = sorted(set(employee_ids))
    sites: dict[str, set[str]] = {}
    for i in range(0, len(ordered), CHUNK):
        query = (select(Employee.employee_id, Employee.home_site_id, EmployeeAllowedSite.site_id)
                 .outerjoin(EmployeeAllowedSite, EmployeeAllowedSite.employee_id == Employee.employee_id)
                 .where(Employee.employee_id.in_(ordered[i:i + CHUNK]), Employee.active.is_(True)))
        for employee_id, home_site_id, other_site_id in session.execute(query):
            allowed = sites.setdefault(employee_id, {home_site_id})
            if other_site_id is not None:
                allowed.add(other_site_id)
    return {employee_id: frozenset(allowed) for employee_id, allowed in sites.items()}


def sync_members(
    session: Session, employee_ids: Iterable[str], *, content_changed: Iterable[str] = ()
) -> dict[str, int]:
    """Make gallery membership follow the master data, bumping each affected site once.

    A person belongs to the gallery of their home site and of each allowed
    site while they are active and have at least one face template; a
    transfer, a leaver or a changed allowed list adds and removes them.
    ``content_changed`` (new or changed templates, a new name) must reach
    every site that keeps them. Returns {site_id: new version} of the
    sites that changed. No commit.
    """
    ids = sorted(set(employee_ids))
    refresh = set(content_changed)
    desired = _desired_sites(session, ids)
    current = _members(session, ids)
    touched: dict[str, list[GalleryMember]] = defaultdict(list)
    for employee_id in ids:
        rows = current.get(employee_id, {})
        for site_id in sorted(desired[employee_id]):
            member = rows.get(site_id)
            if member is None:
                member = GalleryMember(site_id=site_id, employee_id=employee_id, version=0, removed=True)
                session.add(member)
            if member.removed or employee_id in refresh:
                member.removed = False
                touched[site_id].append(member)
        for site_id, member in rows.items():
            if site_id not in desired[employee_id] and not member.removed:
                member.removed = True
                touched[site_id].append(member)
    return _bump(session, touched)


def _desired_sites(session: Session, ids: list[str]) -> dict[str, set[str]]:
    desired: dict[str, set[str]] = {e: set() for e in ids}
    for chunk in _chunks(ids):
        enrolled = set(session.scalars(select(FaceTemplate.employee_id).where(
            FaceTemplate.employee_id.in_(chunk)).distinct()))
        for employee_id, home in session.execute(select(Employee.employee_id, Employee.home_site_id).where(
                Employee.employee_id.in_(chunk), Employee.active.is_(True))):
            if employee_id in enrolled:
                desired[employee_id].add(home)
        for employee_id, site_id in session.execute(select(EmployeeAllowedSite.employee_id,
                                                           EmployeeAllowedSite.site_id).where(
                EmployeeAllowedSite.employee_id.in_(chunk))):
            if desired[employee_id]:
                desired[employee_id].add(site_id)
    return desired


def _members(session: Session, ids: list[str]) -> dict[str, dict[str, GalleryMember]]:
    members: dict[str, dict[str, GalleryMember]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for member in session.scalars(select(GalleryMember).where(GalleryMember.employee_id.in_(chunk))):
            members[member.employee_id][member.site_id] = member
    return members


def _bump(session: Session, touched: dict[str, list[GalleryMember]]) -> dict[str, int]:
    """One version step per site, in site order (the row locks are taken in a fixed order)."""
    versions = {}
    for site_id in sorted(touched):
        site = session.scalars(select(Site).where(Site.site_id == site_id).with_for_update()).one()
        site.gallery_version += 1
        for member in touched[site_id]:
            member.version = site.gallery_version
        versions[site_id] = site.gallery_version
    session.flush()
    return versions


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def build_delta(session: Session, site_id: str, have_version: int) -> GalleryDelta | None:
    """What a kiosk holding ``have_version`` needs to reach the site's current version.

    Version 0, or a version the hub never issued (e.g. a database restored
    from an older backup), gets the full gallery. None for an unknown site.
    """
    site = session.get(Site, site_id)
    if site is None:
        return None
    current = site.gallery_version
    full = have_version == 0 or have_version > current
    since = 0 if full else have_version
    changed = (GalleryMember.site_id == site_id) & (GalleryMember.version > since)
    removed: list[str] = []
    if not full:
        removed = list(
            session.scalars(
                select(GalleryMember.employee_id)
                .where(changed, GalleryMember.removed.is_(True))
                .order_by(GalleryMember.employee_id)
            )
        )
    live = changed & GalleryMember.removed.is_(False)
    people = session.execute(
        select(Employee.employee_id, Employee.name)
        .join(GalleryMember, GalleryMember.employee_id == Employee.employee_id)
        .where(live)
        .order_by(Employee.employee_id)
    ).all()
    templates: dict[str, list[str]] = defaultdict(list)
    for employee_id, encoding in session.execute(
        select(FaceTemplate.employee_id, FaceTemplate.encoding)
        .join(GalleryMember, GalleryMember.employee_id == FaceTemplate.employee_id)
        .where(live)
        .order_by(FaceTemplate.employee_id, FaceTemplate.id)
    ):
        templates[employee_id].append(encode_template(np.frombuffer(encoding, dtype="<f4")))
    return GalleryDelta(
        site_id=site_id,
        from_version=since,
        to_version=current,
        full=full,
        upserts=[GalleryPerson(employee_id=e, name=n, encodings=templates[e]) for e, n in people],
        removed=removed,
    )


def gallery_updates(session: Session, held: dict[str, int]) -> list[tuple[str, GalleryDelta]]:
    """(device, delta) for each active kiosk in ``held`` (device id -> version it reports) that is behind its site."""
    rows = session.execute(
        select(Device.device_id, Device.site_id, Site.gallery_version)
        .join(Site, Site.site_id == Device.site_id)
        .where(Device.device_id.in_(list(held)), Device.retired_at.is_(None))
    ).all()
    updates = []
    for device_id, site_id, current in rows:
        if held[device_id] < current:
            delta = build_delta(session, site_id, held[device_id])
            if delta is not None:
                updates.append((device_id, delta))
    return updates


def record_applied(session: Session, device_id: str, site_id: str, version: int, now: datetime) -> bool:
    """Note the gallery version a kiosk confirmed; False (nothing stored) for a
    device that is unknown, retired or at another site."""
    device = session.get(Device, device_id)
    if device is None or device.retired_at is not None or device.site_id != site_id:
        return False
    device.gallery_version = version
    device.gallery_confirmed_at = now
    return True
