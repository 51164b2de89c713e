"""HRMS push settings (``HubConfig.hrms``): the targets, where their secrets are, how often and how hard to retry.

Secrets are never inline: each target names a file (``LoadCredential=``
under systemd; a bare name is looked up in ``$CREDENTIALS_DIRECTORY``).
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator

TargetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="short name of the target; "
                                  "the outbox keys rows by it, so renaming a target sends everything again")]


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TargetName
    timeout_s: float = Field(15.0, gt=0, description="HTTP timeout of one request")
    site_ids: list[str] = Field([], description="push only punches made at these sites; empty: every site")


class FrappeTarget(_Target):
    """Frappe HRMS: ``POST /api/resource/Employee Checkin`` with ``Authorization: token key:secret``."""

    kind: Literal["frappe"] = "frappe"
    url: HttpUrl = Field(description="the Frappe site, e.g. https://hr.example.gov.in")
    token_file: Path = Field(description="file holding 'api_key:api_secret' of the Frappe API user")
    time_zone: str = Field("Asia/Kolkata", description="the Frappe site's system time zone: Employee Checkin "
                           "times are naive local times in it")


class OdooTarget(_Target):
    """Odoo: ``hr.attendance`` check_in/check_out through the external XML-RPC API."""

    kind: Literal["odoo"] = "odoo"
    url: HttpUrl = Field(description="the Odoo server, e.g. https://erp.example.gov.in")
    database: str = Field(description="the Odoo database name")
    login: str = Field(description="the Odoo user the hub logs in as")
    password_file: Path = Field(description="file holding that user's password or API key")
    employee_field: str = Field("barcode", description="hr.employee field that holds the hub's employee_id "
                                "(barcode = badge ID; or identification_id, ...)")
    time_zone: str = Field("Asia/Kolkata", description="local time zone that decides which day a punch belongs to")


class WebhookTarget(_Target):
    """Any receiver: a JSON POST signed with HMAC-SHA256 over the timestamp and the body."""

    kind: Literal["webhook"] = "webhook"
    url: HttpUrl = Field(description="where each punch is POSTed")
    secret_file: Path = Field(description="file holding the shared HMAC secret")
    time_zone: str = Field("Asia/Kolkata", description="local time zone of the payload's local_time")


Target = Annotated[FrappeTarget | OdooTarget | WebhookTarget, Field(discriminator="kind")]


class HrmsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[Target] = Field([], description="where punches go; empty: `hub hrms-push` has nothing to do")
    since: AwareDatetime | None = Field(None, description="push only punches received at or after this instant "
                                        "(ISO 8601 with offset); null: every stored punch")
    poll_interval_s: float = Field(10.0, gt=0, description="how often the pusher looks for new punches")
    batch_size: int = Field(200, ge=1, le=10_000, description="punches taken from the queue per target and round")
    retry_initial_s: float = Field(5.0, gt=0, description="wait before the first retry of a failed send")
    retry_max_s: float = Field(3600.0, gt=0, description="cap of the wait between retries (doubles each time)")

    @model_validator(mode="after")
    def _names_are_unique(self) -> "HrmsConfig":
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"hrms.targets: each name once (the outbox keys rows by it): {names}")
        return self


def secret_files(config: HrmsConfig) -> list[tuple[str, Path, str]]:
    """(config key, file, what it holds) of every target's secret, for ``hub check-config``."""
    out = []
    for i, t in enumerate(config.targets):
        key = f"hrms.targets.{i}"
        if isinstance(t, FrappeTarget):
            out.append((f"{key}.token_file", t.token_file, f"Frappe api_key:api_secret of {t.name}"))
        elif isinstance(t, OdooTarget):
            out.append((f"{key}.password_file", t.password_file, f"Odoo password of {t.name}"))
        else:
            out.append((f"{key}.secret_file", t.secret_file, f"webhook secret of {t.name}"))
    return out
