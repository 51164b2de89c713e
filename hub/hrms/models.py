"""The durable push queue: one row per (punch, target) (on ``hub.db.Base``, so create_all and Alembic see it).

A row is made when the pusher first sees the punch and is marked, never
deleted, when the target took it (``sent_at``) or refused it for good
(``refused_at``, with the reason), so an admin can see what reached payroll.
"""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class HrmsOutbox(Base):
    __tablename__ = "hrms_outbox"
    __table_args__ = (Index("ix_hrms_outbox_target_pending", "target", "sent_at", "refused_at", "next_attempt_at"),
                      Index("ix_hrms_outbox_target_received", "target", "received_at"))

    punch_id: Mapped[str] = mapped_column(String(36), primary_key=True, doc="punches.id (no foreign key)")
    target: Mapped[str] = mapped_column(String(32), primary_key=True, doc="HrmsConfig target name")
    employee_id: Mapped[str] = mapped_column(String(64), doc="the punch's employee: their punches go in order")
    device_ts: Mapped[datetime] = mapped_column(UTCDateTime, doc="the punch's time: sent in this order")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, doc="when the hub stored the punch: the "
                                                  "queue's high-water mark for new punches")
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    external_id: Mapped[str | None] = mapped_column(String(140), default=None, doc="the target's id of the record")
