"""Remote commands to a kiosk (admins only): queue one, list a kiosk's commands with their results.

A command is queued here and sent by an ingest worker once the kiosk is
online (hub/devices/commands.py); the answer says ``queued`` and the
kiosk's state, so a command to an offline kiosk is visibly waiting, not lost.
Each command sent is in the audit log (``device.command``).
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from hub.accounts import audit
from hub.api.deps import AdminDep, SessionDep, now
from hub.db import Device, DeviceHealth
from hub.devices import commands, health
from hub.devices.models import DeviceCommand
from hub.errors import NotFound

router = APIRouter(prefix="/devices", tags=["devices"])


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="resync, reboot, logs or enrol")
    employee_id: str | None = Field(None, description="enrol: the person whose face the kiosk takes")


class CommandOut(BaseModel):
    id: str
    device_id: str
    name: str
    employee_id: str | None
    state: Literal["queued", "sent", "ok", "failed", "expired"]
    created_at: datetime
    created_by: str
    expires_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    detail: str | None  # the kiosk's answer, or why the hub refused or expired it
    output: str | None  # logs: the kiosk's recent log lines
    templates_added: int  # enrol: templates stored for the person

    @classmethod
    def of(cls, row: DeviceCommand) -> "CommandOut":
        return cls(id=row.id, device_id=row.device_id, name=row.name, employee_id=row.employee_id, state=row.state,
                   created_at=row.created_at, created_by=row.created_by, expires_at=row.expires_at,
                   sent_at=row.sent_at, finished_at=row.finished_at, detail=row.detail, output=row.output,
                   templates_added=row.templates_added)


class CommandQueued(CommandOut):
    device_state: Literal["online", "offline", "stale", "never seen"]  # offline: it waits until the kiosk is back


class CommandList(BaseModel):
    items: list[CommandOut]  # newest first


def _device(session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"unknown device {device_id!r}")
    return device


@router.post("/{device_id}/commands", status_code=status.HTTP_201_CREATED)
def send_command(request: Request, device_id: str, body: CommandIn, session: SessionDep,
                 admin: AdminDep) -> CommandQueued:
    """Queue a command; an ingest worker sends it when the kiosk is online (or it expires)."""
    device = _device(session, device_id)
    config = request.app.state.config
    row = commands.create_command(session, device_id=device_id, name=body.name, employee_id=body.employee_id,
                                  actor=admin.username, now=now(request), config=config.commands)
    audit.record(session, admin, "device.command", f"device:{device_id}", None, audit.snapshot(row))
    session.commit()
    view = health.view_of(device, session.get(DeviceHealth, device_id), now(request), config.health)
    return CommandQueued(**CommandOut.of(row).model_dump(), device_state=view.state)


@router.get("/{device_id}/commands")
def list_commands(device_id: str, session: SessionDep, _admin: AdminDep,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> CommandList:
    _device(session, device_id)
    return CommandList(items=[CommandOut.of(r) for r in commands.list_commands(session, device_id, limit=limit)])


@router.get("/{device_id}/commands/{command_id}")
def get_command(device_id: str, command_id: str, session: SessionDep, _admin: AdminDep) -> CommandOut:
    row = session.get(DeviceCommand, command_id)
    if row is None or row.device_id != device_id:
        raise NotFound(f"no command {command_id!r} for device {device_id!r}")
    return CommandOut.of(row)
