"""Reports delivered on a schedule: the daily defaulter list per unit and the monthly muster roll per DDO.

``defaulters`` decides who has not punched by the cut-off; ``messages``
builds the mails (with the CSV / xlsx / PDF attached) and SMS texts;
``mailer`` hands mails to an SMTP server; ``jobs`` ties them together for
``hub deliver defaulters|muster``, which systemd timers start
(systemd/hub-defaulters.timer, systemd/hub-muster-mail.timer).
"""

from hub.errors import HubError


class DeliveryError(HubError):
    """Root of the delivery errors."""


class MailFailed(DeliveryError, OSError):
    """The SMTP server did not take a mail."""
