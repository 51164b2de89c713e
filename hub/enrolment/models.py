"""Tables of enrolment beside the templates (on ``hub.db.Base``): the consent records."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import ID_LEN, Base, UTCDateTime, utcnow


class ConsentRecord(Base):
    """That a person was shown the notice (which version, in which language) and agreed to
    biometric enrolment (DPDP Act 2023): how, when and who recorded it. Withdrawal sets
    ``withdrawn_at`` and erases the person's photos and templates (hub/enrolment/consent.py)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), index=True)
    notice_version: Mapped[str] = mapped_column(String(32), doc="hub.enrolment.consent.NOTICE_VERSION when given")
    language: Mapped[str] = mapped_column(String(8), doc="the notice's language: 'en' or 'hi'")
    channel: Mapped[str] = mapped_column(String(16), doc="'dashboard', 'kiosk', 'phone' or 'paper'")
    recorded_by: Mapped[str] = mapped_column(String(100), doc="the admin, kiosk command or the person themselves")
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100), default=None)
