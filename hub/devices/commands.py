"""Remote commands to kiosks: queue, send when the kiosk is online, record the result.

The API process has no MQTT connection, so a command is a row first
(``queued``). An ingest worker (hub/ingest/command_sender.py) claims the
queued rows of kiosks whose status is online and fresh, publishes them on
``att/v1/dev/{device}/cmd`` with QoS 1 and marks them ``sent``; the claim is
one conditional UPDATE, so two workers never send one command twice. A
kiosk that is offline keeps its commands queued here, visibly, until it
comes back or the command expires (``commands.expire_after_s``): the hub
does not lean on the broker's session, which a broker restart may lose.
Once sent, the kiosk's persistent session (QoS 1) carries it over a short
drop; the kiosk also refuses a command past its ``expires_at``.

The result (``cmd/result``) ends the row in ``ok`` or ``failed``. An
``enrol`` result brings templates, which go to the person through the same
enrolment code as photos (hub/enrolment/enrol.py), so the gallery delta
reaches the site's kiosks as for any enrolment; it is believed only with the
kiosk's signature.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.config import CommandsConfig
from hub.db import Device, DeviceHealth, Employee
from hub.devices.models import DeviceCommand
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import PersonPhotos, apply_enrolment
from hub.errors import Conflict, InvalidInput, NotFound, on_field
from protocol import messages, signing
from protocol.errors import ProtocolError
from protocol.ids import new_punch_id

log = logging.getLogger(__name__)

# What an admin may send; "config" is in the protocol, but kiosks take their config from kiosk.yaml;
# "update" is sent by a rollout (queue_update).
SENDABLE = ("resync", "reboot", "logs", "enrol")
FINISHED = ("ok", "failed", "expired")
CLAIM_LIMIT = 50
# Two templates of one enrol result further apart than this are not one face (dlib's own
# same-person bound is 0.6; two photos of one person are usually 0.3-0.5 apart): someone else
# stepped in during the capture, and the result is refused rather than enrolling both.
MAX_TEMPLATE_SPREAD = 0.6


def create_command(session: Session, *, device_id: str, name: str, employee_id: str | None, actor: str,
                   now: datetime, config: CommandsConfig) -> DeviceCommand:
    """Queue a command for an active kiosk; the caller audits and commits."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"unknown device {device_id!r}")
    if device.retired_at is not None:
        raise Conflict(f"device {device_id} is retired; it takes no commands")
    if name not in SENDABLE:
        raise on_field(InvalidInput(f"unknown command {name!r}; one of {', '.join(SENDABLE)}"), "name")
    args: dict[str, Any] = {}
    if name == "enrol":
        args = _enrol_args(session, employee_id, config)
    elif employee_id:
        raise on_field(InvalidInput(f"only enrol names a person, not {name}"), "employee_id")
    row = DeviceCommand(id=new_punch_id(), device_id=device_id, name=name, args=json.dumps(args),
                        employee_id=employee_id if name == "enrol" else None, state="queued", created_at=now,
                        created_by=actor[:100], expires_at=now + timedelta(seconds=config.expire_after_s))
    session.add(row)
    session.flush()
    log.info("command %s (%s) queued for %s by %s", row.id, name, device_id, actor)
    return row


def queue_update(session: Session, *, device_id: str, version: str, rollout_id: int, actor: str, now: datetime,
                 config: CommandsConfig) -> DeviceCommand:
    """Queue an ``update`` command (a rollout's, hub/devices/rollout.py; admins do not send one by hand)."""
    args = messages.UpdateArgs(version=version, rollout_id=rollout_id).model_dump(mode="json")
    row = DeviceCommand(id=new_punch_id(), device_id=device_id, name="update", args=json.dumps(args), state="queued",
                        created_at=now, created_by=actor[:100],
                        expires_at=now + timedelta(seconds=config.expire_after_s))
    session.add(row)
    session.flush()
    return row


def _enrol_args(session: Session, employee_id: str | None, config: CommandsConfig) -> dict[str, Any]:
    if not employee_id:
        raise on_field(InvalidInput("choose the person to enrol"), "employee_id")
    employee = session.get(Employee, employee_id)
    if employee is None:
        raise on_field(InvalidInput(f"unknown employee {employee_id!r}"), "employee_id")
    if not employee.active:
        raise on_field(InvalidInput(f"{employee_id} has left; a leaver is not enrolled"), "employee_id")
    return messages.EnrolArgs(employee_id=employee_id, name=employee.name, frames=config.enrol_frames,
                              consent_s=config.enrol_consent_s,
                              timeout_s=config.enrol_timeout_s).model_dump(mode="json")


def list_commands(session: Session, device_id: str, *, limit: int = 50) -> list[DeviceCommand]:
    """A kiosk's commands, newest first."""
    query = (select(DeviceCommand).where(DeviceCommand.device_id == device_id)
             .order_by(DeviceCommand.created_at.desc(), DeviceCommand.id.desc()).limit(limit))
    return list(session.scalars(query))


def has_queued(session: Session) -> bool:
    """Whether any command waits to be sent (one indexed read; the sender asks it every tick)."""
    return session.scalar(select(DeviceCommand.id).where(DeviceCommand.state == "queued").limit(1)) is not None


def expire_due(session: Session, now: datetime) -> int:
    """Queued commands past ``expires_at`` become ``expired`` (never sent); the caller commits."""
    result = session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.state == "queued", DeviceCommand.expires_at < now)
        .values(state="expired", finished_at=now, detail="not sent: the kiosk was not online before it expired")
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def claim_due(session: Session, now: datetime, *, stale_after_s: float) -> list[tuple[str, messages.Command]]:
    """Claim the queued commands of kiosks online now (fresh status), oldest first, and mark them sent.

    The caller commits and then publishes; a worker that dies in between
    leaves them ``sent`` without a result, which the page shows as such.
    """
    fresh = now - timedelta(seconds=stale_after_s)
    query = (select(DeviceCommand).join(Device, Device.device_id == DeviceCommand.device_id)
             .join(DeviceHealth, DeviceHealth.device_id == DeviceCommand.device_id)
             .where(DeviceCommand.state == "queued", DeviceCommand.expires_at >= now, Device.retired_at.is_(None),
                    DeviceHealth.status == "online", DeviceHealth.last_seen_at >= fresh)
             .order_by(DeviceCommand.created_at).limit(CLAIM_LIMIT))
    claimed = []
    for row in list(session.scalars(query)):
        won = session.execute(update(DeviceCommand).where(DeviceCommand.id == row.id, DeviceCommand.state == "queued")
                              .values(state="sent", sent_at=now).execution_options(synchronize_session=False))
        if won.rowcount == 1:
            claimed.append((row.device_id, messages.Command(id=row.id, name=row.name, args=json.loads(row.args),
                                                            expires_at=row.expires_at)))
    return claimed


@dataclass(frozen=True)
class ResultOutcome:
    """What recording a result did: ``recorded``, ``duplicate``, ``unknown`` or ``refused`` (with why)."""

    what: str
    detail: str = ""
    sites: tuple[str, ...] = ()  # enrol: the sites whose gallery changed


def record_result(session: Session, device_id: str, data: dict[str, Any], result: messages.CommandResult,
                  received_at: datetime) -> ResultOutcome:
    """Finish the command ``result`` answers; ``data`` is the decoded message (for its signature).

    The caller commits. A result for another kiosk's command, or for no
    command, changes nothing; a second result for a finished one neither.
    """
    row = session.get(DeviceCommand, result.id)
    if row is None or row.device_id != device_id:
        return ResultOutcome("unknown", f"no command {result.id!r} for {device_id}")
    if row.state in FINISHED:
        return ResultOutcome("duplicate")
    row.finished_at, row.output = received_at, result.logs
    row.state, row.detail = ("ok" if result.ok else "failed"), result.detail[:2000]
    if row.name == "enrol" and result.ok:
        problem, sites = _enrol_from_result(session, row, data, result)
        if problem is not None:
            row.state, row.detail = "failed", f"refused at the hub: {problem}"
            log.warning("enrol result %s from %s refused: %s", row.id, device_id, problem)
            return ResultOutcome("refused", problem)
        return ResultOutcome("recorded", sites=sites)
    log.info("command %s (%s) on %s: %s %s", row.id, row.name, device_id, row.state, row.detail)
    return ResultOutcome("recorded")


def _enrol_from_result(session: Session, row: DeviceCommand, data: dict[str, Any],
                       result: messages.CommandResult) -> tuple[str | None, tuple[str, ...]]:
    """Store an enrol result's templates for the person: (None, sites changed), or (why refused, ())."""
    if not result.templates:
        return "no templates", ()
    if result.device_id != row.device_id or result.sig is None:
        return "not signed by the kiosk", ()
    device = session.get(Device, row.device_id)
    try:
        signing.verify_fields(data, signing.public_key_bytes(device.public_key_b64))
    except (ProtocolError, ValueError) as exc:
        return f"{exc}", ()
    if row.employee_id is None or session.get(Employee, row.employee_id) is None:
        return "the person is no longer in the master data", ()
    try:
        encodings = [messages.decode_template(t).astype("<f4").tobytes() for t in result.templates]
    except (ProtocolError, ValueError) as exc:
        return f"bad template: {exc}", ()
    spread = _spread(encodings)
    if spread > MAX_TEMPLATE_SPREAD:
        return f"the templates are not of one face (two are {spread:.2f} apart; at most {MAX_TEMPLATE_SPREAD})", ()
    person = PersonPhotos(row.employee_id, row.employee_id,
                          templates=[(f"kiosk-{row.device_id}-{row.id}-{i + 1}", enc) for i, enc in enumerate(encodings)])
    # the kiosk showed its consent text before capture (kiosk/enrol_capture.py); the admin who sent
    # the command attests it
    report = apply_enrolment(session, None, [person], name_from_folder=False,
                             consent_taken=ConsentTaken("kiosk", row.created_by))
    if person.problem:
        return person.problem, ()
    row.templates_added = len(encodings)
    log.info("enrolled %s at kiosk %s: %d templates; gallery versions %s", row.employee_id, row.device_id,
             len(encodings), report.versions)
    return None, tuple(sorted(report.versions))


def _spread(encodings: list[bytes]) -> float:
    """The largest distance between two of these templates (0 for one)."""
    vectors = np.stack([np.frombuffer(e, dtype="<f4") for e in encodings])
    return float(np.max(np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=-1)))
