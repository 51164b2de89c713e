"""Handing mails to an SMTP server (smtplib), with the password read from a file and TLS as configured."""

import logging
import smtplib
import ssl
from email.message import EmailMessage

from hub.delivery import MailFailed
from hub.delivery.config import SmtpConfig
from protocol.settings import read_secret

log = logging.getLogger(__name__)


class SmtpMailer:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=ssl.create_default_context())
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        if c.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` (its To: header names the recipients) or raise MailFailed."""
        c = self.config
        try:
            with self._connect() as smtp:
                if c.username:
                    if c.password_file is None:
                        raise MailFailed("delivery.smtp.username is set but delivery.smtp.password_file is not")
                    smtp.login(c.username, read_secret(c.password_file, "SMTP password"))
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailFailed(f"SMTP {c.host}:{c.port} did not take {message['Subject']!r}: "
                             f"{type(exc).__name__}: {exc}") from exc
        if refused:
            log.warning("SMTP refused some recipients of %r: %s", message["Subject"], sorted(refused))
        log.info("mailed %r to %d recipients", message["Subject"], len(message.get_all("To", [])))
