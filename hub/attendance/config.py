"""Regularisation settings (``HubConfig.regularisation``): the reasons an employee may give for
correcting a day, how many requests a month, how far back, and what may be attached."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
AttachmentType = Literal["application/pdf", "image/jpeg", "image/png"]


class ReasonText(BaseModel):
    """A reason as the phone page shows it, in both languages."""

    model_config = ConfigDict(extra="forbid")

    code: ReasonCode = Field(description="stored with each request (lower case, digits, _)")
    en: str = Field(min_length=1, max_length=100, description="English label")
    hi: str = Field(min_length=1, max_length=100, description="Hindi label")


DEFAULT_REASONS = [
    ReasonText(code="forgot_punch", en="Forgot to punch", hi="पंच करना भूल गए"),
    ReasonText(code="kiosk_down", en="Kiosk was not working", hi="कियोस्क काम नहीं कर रहा था"),
    ReasonText(code="on_duty_elsewhere", en="On duty elsewhere", hi="कहीं और ड्यूटी पर"),
]


class RegularisationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reasons: list[ReasonText] = Field(
        default_factory=lambda: list(DEFAULT_REASONS), min_length=1,
        description="the reasons the phone page offers, in this order: code, English and Hindi label")
    max_per_month: int = Field(
        3, ge=1, le=31, description="requests an employee may make for the days of one month (rejected ones count too)")
    max_days_back: int = Field(
        31, ge=1, le=366, description="how many days back a day may still be corrected (today counts as 0)")
    max_reason_chars: int = Field(500, ge=20, le=4000, description="longest reason text accepted")
    attachment_dir: Path | None = Field(
        None, description="where attachments are kept (owner-only files); null: a 'regularisation' folder next "
        "to the SQLite database (required with PostgreSQL)")
    max_attachment_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024,
                                      description="larger attachments are refused")
    attachment_types: list[AttachmentType] = Field(
        ["application/pdf", "image/jpeg", "image/png"], min_length=1,
        description="file types accepted, judged by the file's content, not its name")

    @field_validator("reasons")
    @classmethod
    def _codes_unique(cls, reasons: list[ReasonText]) -> list[ReasonText]:
        codes = [r.code for r in reasons]
        if len(set(codes)) != len(codes):
            raise ValueError(f"reason codes must differ: {codes}")
        return reasons

    def reason(self, code: str) -> ReasonText | None:
        """The configured reason of ``code`` (None: unknown, or no longer configured)."""
        return next((r for r in self.reasons if r.code == code), None)
