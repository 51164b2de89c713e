"""The regularisation table: an employee's request to correct one day, and the officer's decision.

A request is never deleted or edited by the employee: its state moves once,
from pending to approved or rejected, and every step is in the audit log.
The attachment itself lives on disk (``hub.attendance.attachments``); the
row keeps only its stored name, type and size.
"""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import ID_LEN, Base, UTCDateTime, utcnow

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATES = (PENDING, APPROVED, REJECTED)


class RegularisationRequest(Base):
    __tablename__ = "regularisation_requests"
    __table_args__ = (
        Index("ix_regularisation_requests_employee_day", "employee_id", "day"),  # limits, the muster roll
        Index("ix_regularisation_requests_state_day", "state", "day"),  # the officer's pending list
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    day: Mapped[date] = mapped_column(Date, doc="the local day (of the home site) to correct")
    kind: Mapped[str] = mapped_column(String(32), doc="a reason code of regularisation.reasons")
    reason: Mapped[str] = mapped_column(Text, doc="the employee's own words")
    state: Mapped[str] = mapped_column(String(16), default=PENDING, doc="pending, approved or rejected")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attachment_file: Mapped[str | None] = mapped_column(
        String(64), default=None, doc="stored name under regularisation.attachment_dir (random, never the upload's)")
    attachment_type: Mapped[str | None] = mapped_column(String(64), default=None)
    attachment_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None, doc="the officer's user name")
    remark: Mapped[str | None] = mapped_column(Text, default=None, doc="the officer's remark")
