"""Kiosk releases and their rollouts: admins list them and start, halt or resume a rollout; kiosks
download the release files, signing each request with their device key (hub/api/device_auth.py).

A release is published from the command line (``hub release publish``): it
is a folder built and signed away from the hub (provisioning/release.py).
Starting, halting and resuming a rollout is in the audit log
(``release.rollout``, ``release.halt``, ``release.resume``).
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep, now
from hub.api.device_auth import require_device
from hub.db import Device
from hub.devices import releases, rollout
from hub.devices.models import Rollout
from protocol import release

router = APIRouter(tags=["releases"])
DeviceDep = Annotated[Device, Depends(require_device)]


class ReleaseOut(BaseModel):
    version: str
    published_at: datetime
    published_by: str
    files: list[dict[str, Any]]


class ReleaseList(BaseModel):
    items: list[ReleaseOut]  # newest first


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(description="a published release")


class RolloutHalt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("halted by an admin", max_length=500)


class TargetOut(BaseModel):
    device_id: str
    ring: int
    from_version: str | None
    state: str  # pending, sent, installed, failed, degraded (installed, but worse on it: detail says how) or skipped
    sent_at: datetime | None
    detail: str | None


class RolloutOut(BaseModel):
    id: int
    version: str
    state: str  # running, halted or done
    ring: int
    detail: str | None  # why it halted
    created_at: datetime
    created_by: str
    updated_at: datetime
    rings: list[dict[str, int]]  # per ring: total and the count in each state
    total: int
    installed: int
    failed: int
    degraded: int  # running the release, but worse on it than before
    targets: list[TargetOut] | None = None  # only for one rollout


class RolloutList(BaseModel):
    items: list[RolloutOut]  # newest first


def _rollout_out(session, row: Rollout, with_targets: bool = False) -> RolloutOut:
    out = RolloutOut(**rollout.progress(session, row))
    if with_targets:
        out.targets = [TargetOut(device_id=t.device_id, ring=t.ring, from_version=t.from_version, state=t.state,
                                 sent_at=t.sent_at, detail=t.detail) for t in rollout.targets_of(session, row.id)]
    return out


@router.get("/releases")
def list_releases(session: SessionDep, _admin: AdminDep) -> ReleaseList:
    return ReleaseList(items=[ReleaseOut(version=r.version, published_at=r.published_at, published_by=r.published_by,
                                         files=[f.model_dump() for f in releases.manifest_of(r).files])
                              for r in releases.list_releases(session)])


@router.get("/rollouts")
def list_rollouts(session: SessionDep, _admin: AdminDep) -> RolloutList:
    rows = session.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(50))
    return RolloutList(items=[_rollout_out(session, r) for r in rows])


@router.get("/rollouts/{rollout_id}")
def get_rollout(rollout_id: int, session: SessionDep, _admin: AdminDep) -> RolloutOut:
    return _rollout_out(session, rollout.get_rollout(session, rollout_id), with_targets=True)


@router.post("/rollouts", status_code=status.HTTP_201_CREATED)
def start_rollout(request: Request, body: RolloutIn, session: SessionDep, admin: AdminDep) -> RolloutOut:
    """Start sending a published release to every active kiosk, one ring at a time."""
    row = rollout.start(session, body.version, actor=admin.username, now=now(request),
                        config=request.app.state.config.updates)
    audit.record(session, admin, "release.rollout", f"rollout:{row.id}", None, audit.snapshot(row))
    session.commit()
    return _rollout_out(session, row)


@router.post("/rollouts/{rollout_id}/halt")
def halt_rollout(request: Request, rollout_id: int, body: RolloutHalt, session: SessionDep,
                 admin: AdminDep) -> RolloutOut:
    row = rollout.halt(session, rollout_id, f"{body.reason} ({admin.username})", now(request))
    audit.record(session, admin, "release.halt", f"rollout:{row.id}", None, audit.snapshot(row))
    session.commit()
    return _rollout_out(session, row)


@router.post("/rollouts/{rollout_id}/resume")
def resume_rollout(request: Request, rollout_id: int, session: SessionDep, admin: AdminDep) -> RolloutOut:
    """Run a halted rollout on; the failed kiosks of its ring are sent the release again."""
    row = rollout.resume(session, rollout_id, now(request))
    audit.record(session, admin, "release.resume", f"rollout:{row.id}", None, audit.snapshot(row))
    session.commit()
    return _rollout_out(session, row)


@router.get("/device/releases/{version}/manifest.json")
def device_manifest(request: Request, version: str, session: SessionDep, _device: DeviceDep) -> Response:
    """The signed manifest, byte for byte as the release key signed it."""
    path = releases.release_file(session, request.app.state.config.updates, version, release.MANIFEST)
    return Response(path.read_bytes(), media_type="application/json")


@router.get("/device/releases/{version}/files/{name}")
def device_release_file(request: Request, version: str, name: str, session: SessionDep,
                        _device: DeviceDep) -> FileResponse:
    path = releases.release_file(session, request.app.state.config.updates, version, name)
    return FileResponse(path, media_type="application/octet-stream")
