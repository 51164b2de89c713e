"""Delivery settings (``HubConfig.delivery``): the SMTP server and who gets which report.

The times themselves live in the systemd timers (OnCalendar=), where an
admin already looks for scheduled jobs; the defaulter list is meant to run
just after the sites' cut-off (12:00 by default).
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="SMTP server (the office relay)")
    port: int = Field(25, ge=1, le=65535, description="SMTP port: 25 or 587 (STARTTLS), 465 (TLS)")
    security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none (only to a relay on this machine), starttls (port 587) or tls (port 465)")
    username: str | None = Field(None, description="SMTP login; null: no login")
    password_file: Path | None = Field(None, description="file holding the SMTP password")
    sender: str = Field("attendance-hub@localhost", description="From: address of the reports")
    timeout_s: float = Field(30.0, gt=0, description="SMTP connection timeout")


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    smtp: SmtpConfig = Field(default_factory=SmtpConfig, description="how mails leave the hub")
    time_zone: str = Field("Asia/Kolkata", description="whose 'today' and 'last month' the jobs mean")
    defaulter_emails: dict[str, list[str]] = Field(
        {}, description="unit id -> addresses that get the unit's daily defaulter list (the unit and the units "
        "below it)")
    defaulter_sms: dict[str, list[str]] = Field(
        {}, description="unit id -> mobile numbers (E.164) that get the daily defaulter count and first names by "
        "SMS, through the phone page's SMS sender (phone.sms_outbox)")
    muster_emails: dict[str, list[str]] = Field(
        {}, description="DDO id -> addresses that get the DDO's monthly muster roll")
    muster_formats: list[Literal["xlsx", "pdf", "csv"]] = Field(
        ["xlsx", "pdf"], description="files attached to the monthly muster roll mail")
