"""The delivery log: one row per report sent, so a timer that runs again the same day (a reboot,
``Persistent=true`` catching up, an admin starting it by hand) does not send the same report twice.

The key is the job, its period (the day or month), the unit or DDO, the channel and the
recipients; the row is written right after the SMTP server or SMS sender accepted the message.
A crash between the two can still send one message twice (at least once, never never).
"""

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import ID_LEN, Base, UTCDateTime


class DeliveryLog(Base):
    __tablename__ = "delivery_log"
    __table_args__ = (UniqueConstraint("job", "period", "target", "channel", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(16), doc="'defaulters' or 'muster'")
    period: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD (defaulters) or YYYY-MM (muster)")
    target: Mapped[str] = mapped_column(String(ID_LEN), doc="the unit or DDO the report is about")
    channel: Mapped[str] = mapped_column(String(8), doc="'email' or 'sms'")
    recipient: Mapped[str] = mapped_column(String(500), doc="the addresses (sorted, comma-separated) or the mobile")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
