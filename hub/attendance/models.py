"""Tables of the attendance calendar (holidays, leave and duty entries, shifts, rosters) and regularisation.

On ``hub.db.Base``, so ``init_db`` and Alembic see them (``hub.schema``).
What they mean for a day is decided by ``hub.attendance.calendar`` and
``hub.attendance.daycode``; these are only the stored facts.
"""

from datetime import date, datetime, time

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import ID_LEN, Base, UTCDateTime, utcnow


class Holiday(Base):
    """A holiday of a unit and every unit below it; no unit: national (everyone)."""

    __tablename__ = "holidays"
    __table_args__ = (Index("ix_holidays_day", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), doc="'national', 'state' or 'local'")
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None,
                                                doc="None: every unit (national)")


class LeaveEntry(Base):
    """Leave or duty of one employee over ``first``..``last`` (inclusive), with its code."""

    __tablename__ = "leave_entries"
    __table_args__ = (Index("ix_leave_entries_employee_first", "employee_id", "first"),
                      Index("ix_leave_entries_source_ref", "source", "source_ref"),
                      CheckConstraint("last >= first", name="last_not_before_first"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    code: Mapped[str] = mapped_column(String(16), doc="CL, EL, ML, CO, OD, TR or a configured code")
    first: Mapped[date] = mapped_column(Date)
    last: Mapped[date] = mapped_column(Date)
    half_day: Mapped[bool] = mapped_column(Boolean, default=False, doc="half a day each day (then first == last)")
    note: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(16), doc="'api', 'import', 'dashboard' or 'hrms'")
    source_ref: Mapped[str | None] = mapped_column(String(140), default=None,
                                                   doc="the HRMS document (Frappe Leave Application name)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Shift(Base):
    """A shift at a site; ``end`` at or before ``start`` crosses midnight (one working day)."""

    __tablename__ = "shifts"

    shift_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    start: Mapped[time] = mapped_column(Time, doc="punch-in after this (and its grace) is late")
    end: Mapped[time] = mapped_column(Time, doc="punch-out before this is early leaving")
    cutoff: Mapped[time] = mapped_column(Time, doc="no punch-in by this (after start): missed cut-off")
    min_gap_min: Mapped[int] = mapped_column(Integer, default=30)
    half_day_hours: Mapped[float] = mapped_column(Float, default=4.0)
    grace_min: Mapped[int] = mapped_column(Integer, default=0,
                                           doc="minutes after the start a punch-in is still on time")


class RosterEntry(Base):
    """Who works which shift, and their weekly offs: one employee or one unit (and below), one week
    (``week_start``, a Monday) or standing (no week)."""

    __tablename__ = "roster_entries"
    __table_args__ = (CheckConstraint("(employee_id IS NULL) <> (unit_id IS NULL)", name="one_of_employee_unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str | None] = mapped_column(ForeignKey("employees.employee_id"), default=None, index=True)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None)
    week_start: Mapped[date | None] = mapped_column(Date, default=None, doc="a Monday; None: every week")
    shift_id: Mapped[str | None] = mapped_column(ForeignKey("shifts.shift_id"), default=None,
                                                 doc="None: the home site's default shift")
    weekly_off: Mapped[str | None] = mapped_column(String(20), default=None,
                                                   doc="weekdays off, '6' or '5,6' (Monday = 0); '' none; "
                                                       "None: the configured working weekdays")


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
