"""Tables of the remote commands the hub sends kiosks (hub/devices/commands.py)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, RejectedMessage, UTCDateTime, utcnow

COMMAND_STATES = ("queued", "sent", "ok", "failed", "expired")


class DeviceCommand(Base):
    """One command for one kiosk, from the admin's click to the kiosk's result.

    ``queued`` until the kiosk is online (an ingest worker then publishes it,
    QoS 1, and marks it ``sent``); ``ok`` or ``failed`` when its result comes;
    ``expired`` when it was not sent by ``expires_at``. Templates an ``enrol``
    brings back go to ``face_templates``, never here.
    """

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_device_id_created_at", "device_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, doc="sent as Command.id (a UUIDv7)")
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    name: Mapped[str] = mapped_column(String(16), doc="resync, reboot, logs or enrol")
    args: Mapped[str] = mapped_column(Text, default="{}", doc="Command.args as JSON")
    employee_id: Mapped[str | None] = mapped_column(
        ForeignKey("employees.employee_id"), default=None, doc="enrol: whose face")
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), doc="user name of the admin who sent it")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None, doc="the kiosk's or the hub's word on the result")
    output: Mapped[str | None] = mapped_column(Text, default=None, doc="logs: the kiosk's recent log lines")
    templates_added: Mapped[int] = mapped_column(Integer, default=0, doc="enrol: templates stored")


# A device page lists what that kiosk sent that was refused, newest first (GET /api/v1/rejected?device_id=).
Index("ix_rejected_messages_device_id_id", RejectedMessage.device_id, RejectedMessage.id)


class Release(Base):
    """A signed kiosk release the hub serves (hub/devices/releases.py); the files are in ``updates.release_dir``."""

    __tablename__ = "releases"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    manifest: Mapped[str] = mapped_column(Text, doc="manifest.json exactly as signed (protocol/release.py)")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(100))


ROLLOUT_STATES = ("running", "halted", "done")
TARGET_STATES = ("pending", "sent", "installed", "failed", "degraded", "skipped")  # degraded: worse on it


class Rollout(Base):
    """One release going out to every active kiosk in rings (hub/devices/rollout.py)."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(ForeignKey("releases.version"))
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    ring: Mapped[int] = mapped_column(Integer, default=0, doc="the ring being updated now (0: one kiosk)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str | None] = mapped_column(Text, default=None, doc="why it halted")


class RolloutTarget(Base):
    """One kiosk of a rollout: its ring and how far it got."""

    __tablename__ = "rollout_targets"
    __table_args__ = (Index("ix_rollout_targets_rollout_id_ring", "rollout_id", "ring"),)

    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), primary_key=True)
    ring: Mapped[int] = mapped_column(Integer)
    from_version: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    command_id: Mapped[str | None] = mapped_column(String(36), default=None, doc="the update command sent")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reported_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="first health at the new version")
    detail: Mapped[str | None] = mapped_column(Text, default=None)
