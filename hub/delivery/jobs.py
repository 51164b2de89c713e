"""The two scheduled jobs: today's defaulter lists to each configured unit, last month's muster roll to each DDO.

A failed mail or SMS to one unit or DDO is logged and the others still go;
the job then ends with an error (non-zero exit for systemd, which logs it
and shows the unit as failed), so nothing fails silently. Each message that
went out is noted in the delivery log (``hub.delivery.sent``), so running a
job again for the same day or month sends only what had not gone yet.
"""

import logging
import tempfile
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from hub.db import utcnow
from hub.delivery import DeliveryError
from hub.delivery.config import DeliveryConfig
from hub.delivery.defaulters import defaulter_list
from hub.delivery.messages import defaulter_mail, defaulter_sms, muster_mail
from hub.delivery.sent import Sending, already_sent, mark_sent
from hub.phone.sms import SmsFailed, SmsSender
from hub.reports import export
from hub.reports import queries as reports
from hub.reports.config import ExportConfig
from hub.reports.files import RenderedFile, render_month
from hub.reports.heading import ddo_heading

log = logging.getLogger(__name__)


class Mailer(Protocol):
    """What the jobs need of hub.delivery.mailer.SmtpMailer."""

    def send(self, message: EmailMessage) -> None: ...


def today(config: DeliveryConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.time_zone)).date()


def last_month(config: DeliveryConfig, now: datetime) -> str:
    first = today(config, now).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _skip(sessions: sessionmaker[Session], sending: Sending) -> bool:
    """True when the delivery log says this message went out already (a timer run again)."""
    if already_sent(sessions, sending):
        log.info("%s %s of %s by %s already sent; not sending again", sending.job, sending.period, sending.target,
                 sending.channel)
        return True
    return False


def send_defaulters(sessions: sessionmaker[Session], config: DeliveryConfig, ctx: reports.ReportContext, *,
                    day: date, mailer: Mailer, sms: SmsSender | None) -> int:
    """Mail (and SMS) each configured unit its defaulters of ``day``; returns messages sent."""
    units = sorted(set(config.defaulter_emails) | set(config.defaulter_sms))
    sent, failures = 0, []
    for unit_id in units:
        with sessions() as session:
            found = defaulter_list(session, ctx, unit_id=unit_id, day=day)
        log.info("defaulters %s %s: %d of %d", unit_id, day, len(found.defaulters), found.employees)
        try:
            to = config.defaulter_emails.get(unit_id)
            sending = Sending.to("defaulters", day.isoformat(), unit_id, "email", to or [])
            if to and not _skip(sessions, sending):
                mailer.send(defaulter_mail(found, sender=config.smtp.sender, to=to))
                mark_sent(sessions, sending, utcnow())
                sent += 1
            for mobile in config.defaulter_sms.get(unit_id, []):
                if sms is None:
                    raise DeliveryError("delivery.defaulter_sms is set but no SMS sender is configured")
                sending = Sending.to("defaulters", day.isoformat(), unit_id, "sms", [mobile])
                if _skip(sessions, sending):
                    continue
                sms.send(mobile, defaulter_sms(found), purpose="defaulters")
                mark_sent(sessions, sending, utcnow())
                sent += 1
        except (DeliveryError, SmsFailed) as exc:
            log.error("defaulters of %s not delivered: %s", unit_id, exc)
            failures.append(f"{unit_id}: {exc}")
    if failures:
        raise DeliveryError(f"{len(failures)} of {len(units)} units not delivered: " + "; ".join(failures))
    return sent


def _files(fmt: str, session: Session, ddo_id: str, month: str, roll: reports.Muster,
           exports: ExportConfig) -> tuple[str, RenderedFile]:
    name = f"muster-{ddo_id}-{month}.{fmt}"
    if fmt == "csv":
        data = export.muster_csv(roll)
        out = tempfile.TemporaryFile()
        out.write(data)
        out.seek(0)
        return name, RenderedFile(out, "text/csv", "csv", len(data))
    heading = ddo_heading(session, title="Muster roll", ddo_id=ddo_id, month=month)
    return name, render_month(fmt, heading, roll, exports)


def send_musters(sessions: sessionmaker[Session], config: DeliveryConfig, ctx: reports.ReportContext, *,
                 month: str, mailer: Mailer, exports: ExportConfig) -> int:
    """Mail each configured DDO its muster roll of ``month``; returns mails sent."""
    sent, failures = 0, []
    for ddo_id, to in sorted(config.muster_emails.items()):
        with sessions() as session:
            roll = reports.payroll_days(session, ctx, ddo_id=ddo_id, month=month)
            files = [_files(fmt, session, ddo_id, month, roll, exports) for fmt in config.muster_formats]
        sending = Sending.to("muster", month, ddo_id, "email", to)
        if _skip(sessions, sending):
            continue
        try:
            mailer.send(muster_mail(ddo_id, month, len(roll.rows), files, sender=config.smtp.sender, to=to))
            mark_sent(sessions, sending, utcnow())
            sent += 1
        except DeliveryError as exc:
            log.error("muster roll of %s not delivered: %s", ddo_id, exc)
            failures.append(f"{ddo_id}: {exc}")
    if failures:
        raise DeliveryError(f"{len(failures)} of {len(config.muster_emails)} DDOs not delivered: " + "; ".join(failures))
    return sent
