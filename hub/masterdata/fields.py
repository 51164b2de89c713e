"""What master-data values look like, and the input models the API and CLI share.

A ``...Patch`` model has every field optional: only the fields given are
changed (``model_dump(exclude_unset=True)``).
"""

import re
from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hub.phone.network import normalise_networks
from protocol.messages import EntityId

CATEGORIES = ("permanent", "contract", "outsourced", "security")
PHONE_POLICIES = ("always", "kiosk_down", "never")
UNIT_KINDS = ("department", "office")
MOBILE = re.compile(r"^\+91[6-9][0-9]{9}$")

Category = Literal["permanent", "contract", "outsourced", "security"]
PhonePolicy = Literal["always", "kiosk_down", "never"]
UnitKind = Literal["department", "office"]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def is_mobile(value: str) -> bool:
    """An Indian mobile number in E.164: +91 and ten digits starting 6-9."""
    return bool(MOBILE.match(value))


def _mobile(value: str) -> str:
    if not is_mobile(value):
        raise ValueError("a mobile number is +91 and 10 digits starting 6-9, e.g. +919812345678")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Kolkata)") from exc
    return value


def _wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("give a wall-clock time without an offset (e.g. 12:00); the site's timezone applies")
    return value


def check_service_dates(joined_on: date | None, left_on: date | None) -> None:
    """Leaving cannot come before joining (either may be unknown). The one copy of this rule:
    the input models use it and so does a change of one date against the stored other."""
    if joined_on is not None and left_on is not None and left_on < joined_on:
        raise ValueError(f"the leaving date {left_on} is before the joining date {joined_on}")


Mobile = Annotated[str, AfterValidator(_mobile)]
SiteTime = Annotated[time, AfterValidator(_wall_clock)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
PhoneNetworks = Annotated[list[str], AfterValidator(normalise_networks)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitPatch(Input):
    name: Name | None = None
    kind: UnitKind | None = Field(None, description="department, or office/unit inside one")
    parent_id: EntityId | None = Field(None, description="the unit above; null for a department")


class UnitIn(UnitPatch):
    unit_id: EntityId
    name: Name
    kind: UnitKind = "office"


class DdoPatch(Input):
    name: Name | None = None
    unit_id: EntityId | None = Field(None, description="the org unit the pay officer belongs to")


class DdoIn(DdoPatch):
    ddo_id: EntityId
    name: Name


class SitePatch(Input):
    name: Name | None = None
    unit_id: EntityId | None = Field(None, description="the org unit the site belongs to")
    lat: float | None = Field(None, ge=-90, le=90, description="geofence centre, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="geofence centre, degrees")
    radius_m: float | None = Field(None, gt=0, le=100_000, description="geofence radius in metres")
    timezone: TimeZoneName | None = Field(None, description="IANA zone the shift times are in")
    shift_start: SiteTime | None = Field(None, description="a punch-in after this is late")
    cutoff: SiteTime | None = Field(None, description="no punch-in by this time: missing")
    min_gap_min: int | None = Field(None, ge=0, le=24 * 60, description="minimum minutes between in and out")
    half_day_hours: float | None = Field(None, ge=0, le=24, description="present for less: half day")
    phone_policy: PhonePolicy | None = Field(None, description="phone punches: always, kiosk_down or never")
    phone_networks: PhoneNetworks | None = Field(
        None, description="CIDR networks of the office (e.g. 10.20.0.0/16); a phone punch from elsewhere is "
                          "flagged; empty or null: no network check")


class SiteIn(SitePatch):
    site_id: EntityId
    name: Name


class EmployeePatch(Input):
    name: Name | None = None
    category: Category | None = None
    home_site_id: EntityId | None = Field(None, description="changing it is a transfer")
    allowed_site_ids: list[EntityId] | None = Field(None, description="other sites where they may punch")
    unit_id: EntityId | None = None
    ddo_id: EntityId | None = None
    mobile: Mobile | None = Field(None, description="E.164, +91XXXXXXXXXX")
    active: bool | None = Field(None, description="false: a leaver (out of every gallery)")
    joined_on: date | None = Field(None, description="date of joining, YYYY-MM-DD")
    left_on: date | None = Field(None, description="date of leaving, YYYY-MM-DD; not before joined_on")

    @field_validator("left_on")
    @classmethod
    def _not_before_joining(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_service_dates(info.data.get("joined_on"), value)
        return value


class EmployeeIn(EmployeePatch):
    employee_id: EntityId = Field(description="staff number")
    name: Name
    category: Category = "permanent"
    home_site_id: EntityId
    allowed_site_ids: list[EntityId] = Field(default_factory=list)
    active: bool = True
