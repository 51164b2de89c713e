"""Has this report already gone to these recipients? (``hub.delivery.models.DeliveryLog``)"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.delivery.models import DeliveryLog


@dataclass(frozen=True)
class Sending:
    """One message of a job: what it is about and to whom."""

    job: str
    period: str
    target: str
    channel: str
    recipient: str

    @classmethod
    def to(cls, job: str, period: str, target: str, channel: str, recipients: Iterable[str]) -> "Sending":
        return cls(job, period, target, channel, ",".join(sorted(recipients)))


def already_sent(sessions: sessionmaker[Session], sending: Sending) -> bool:
    with sessions() as session:
        return session.scalar(select(DeliveryLog.id).where(
            DeliveryLog.job == sending.job, DeliveryLog.period == sending.period, DeliveryLog.target == sending.target,
            DeliveryLog.channel == sending.channel, DeliveryLog.recipient == sending.recipient)) is not None


def mark_sent(sessions: sessionmaker[Session], sending: Sending, now: datetime) -> None:
    """Note a message the server accepted, in a transaction of its own (the next one may fail)."""
    with sessions.begin() as session:
        session.add(DeliveryLog(job=sending.job, period=sending.period, target=sending.target,
                                channel=sending.channel, recipient=sending.recipient, sent_at=now))
