"""Settings of the phone fallback (the ``phone:`` section of the hub config)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiosk.liveness import LivenessConfig


class ThrottleRule(BaseModel):
    """``max_failures`` within ``window_s`` locks the key for ``lockout_s``."""

    model_config = ConfigDict(extra="forbid")

    max_failures: int = Field(ge=1, description="failures (or sends) allowed inside one window")
    window_s: float = Field(gt=0, description="length of the counting window, seconds")
    lockout_s: float = Field(gt=0, description="how long the key is refused once the limit is reached, seconds")


def _rule(max_failures: int, window_s: float, lockout_s: float) -> ThrottleRule:
    return ThrottleRule(max_failures=max_failures, window_s=window_s, lockout_s=lockout_s)


class PhoneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_https: bool = Field(
        True, description="refuse phone pages and API over plain HTTP, except from 127.0.0.1/localhost; "
                          "behind a TLS proxy run uvicorn with --proxy-headers so the scheme is seen")
    sms_outbox: Path = Field(
        Path("/var/lib/hub/sms-outbox.jsonl"),
        description="the default SMS sender appends each message here as a JSON line (mode 0600) for an admin")
    accept_distance: float = Field(
        0.515, gt=0, lt=2,
        description="selfie accepted when its score (biometrics.matcher.verify: distance to the mean enrolled template, "
                    "normalised for how many photos it averages) is under this (BENCHMARKS-accuracy-calib.md)")
    marginal_match_band: float = Field(
        0.05, ge=0, description="accepted with distance within this band under accept_distance: flagged for review")
    max_accuracy_m: float = Field(50.0, gt=0, description="positions reported less accurate than this are refused")
    marginal_accuracy_fraction: float = Field(
        0.8, gt=0, le=1, description="accuracy worse than this fraction of max_accuracy_m is flagged for review")
    max_speed_kmh: float = Field(
        150.0, gt=0, description="travel since the employee's last punch faster than this is refused")
    travel_tolerance_m: float = Field(
        500.0, ge=0, description="distance the travel check forgives (position noise, large sites)")
    nonce_ttl_s: float = Field(120.0, gt=0, description="a punch nonce is valid this long after it is issued")
    otp_ttl_s: float = Field(600.0, gt=0, description="an SMS activation code is valid this long")
    otp_max_attempts: int = Field(5, ge=1, description="wrong entries of one code before it is void")
    setup_ttl_s: float = Field(900.0, gt=0, description="time to set the password after the code is verified")
    session_ttl_s: float = Field(12 * 3600.0, gt=0, description="a login on a phone lasts this long")
    min_password_length: int = Field(10, ge=8, description="shortest password accepted")
    max_selfie_bytes: int = Field(2_000_000, ge=10_000, description="larger selfie uploads are refused")
    max_selfie_pixels: int = Field(
        12_000_000, ge=100_000, description="selfies with more pixels are refused before decoding")
    selfie_max_side: int = Field(
        800, ge=200, description="selfies are scaled down to this longest side before face detection")
    max_reason_chars: int = Field(500, ge=20, description="longest reason text accepted")
    challenge: Literal["required", "off"] = Field(
        "required",
        description="required: each nonce comes with a blink or head turn drawn at random, and a punch sends a burst "
                    "of frames the hub checks with the kiosk's liveness code; off: one selfie, no liveness "
                    "(every such punch is flagged liveness_unchecked)")
    burst_min_frames: int = Field(10, ge=4, description="a burst with fewer frames is refused")
    burst_max_frames: int = Field(
        30, ge=4, description="the page records this many frames ~100 ms apart; a burst with more is refused")
    max_burst_frame_bytes: int = Field(300_000, ge=10_000, description="a larger burst frame is refused")
    max_burst_bytes: int = Field(
        4_000_000, ge=100_000,
        description="all frames of a burst together; a punch request larger than this (plus 64 KiB for the "
                    "form) is refused from its Content-Length before the body is read")
    burst_max_span_s: float = Field(8.0, gt=0, description="first to last frame of a burst at most this long")
    burst_max_side: int = Field(640, ge=200, description="burst frames are scaled down to this longest side")
    burst_max_missing_fraction: float = Field(
        0.2, ge=0, lt=1, description="more frames than this share without a face: not live (the face left)")
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig,
        description="the kiosk's liveness settings (kiosk.yaml liveness:) the hub judges bursts with; mode and "
                    "head_turn_direction are set per punch by the drawn challenge")
    marginal_liveness_score: float = Field(
        0.45, ge=0, le=1,
        description="a blink whose depth (1 - closed / open eye ratio) is under this passed narrowly: flagged")
    marginal_liveness_frames: int = Field(
        2, ge=0, description="liveness passed on one of the burst's last this-many frames: flagged (barely seen)")
    refuse_outside_network: bool = Field(
        False, description="refuse, instead of flag, a phone punch from outside its site's phone_networks")
    login_per_employee: ThrottleRule = Field(
        default_factory=lambda: _rule(5, 900, 900), description="wrong passwords per staff number")
    login_per_address: ThrottleRule = Field(
        default_factory=lambda: _rule(30, 900, 900), description="failed logins per client address")
    code_per_employee: ThrottleRule = Field(
        default_factory=lambda: _rule(10, 3600, 3600), description="wrong SMS codes per staff number from one address (all its codes)")
    code_per_address: ThrottleRule = Field(
        default_factory=lambda: _rule(30, 3600, 3600), description="wrong SMS codes per client address")
    sms_per_employee: ThrottleRule = Field(
        default_factory=lambda: _rule(10, 3600, 3600),
        description="codes requested per staff number from all addresses (generous: strangers' requests must "
                    "not use up the owner's; sms_per_requester limits each of them)")
    sms_per_requester: ThrottleRule = Field(
        default_factory=lambda: _rule(3, 3600, 3600), description="codes requested per staff number from one address")
    sms_per_address: ThrottleRule = Field(
        default_factory=lambda: _rule(50, 3600, 3600),
        description="codes requested per client address (an office activating together shares one address)")

    @model_validator(mode="after")
    def _burst_bounds(self) -> "PhoneConfig":
        if self.burst_min_frames > self.burst_max_frames:
            raise ValueError(f"burst_min_frames ({self.burst_min_frames}) is above burst_max_frames "
                             f"({self.burst_max_frames})")
        return self

    @model_validator(mode="after")
    def _no_infrared(self) -> "PhoneConfig":
        """The kiosk's IR check needs an IR camera beside the colour one; a phone sends colour frames only."""
        if self.liveness.ir.enabled:
            raise ValueError("phone.liveness.ir.enabled: a phone has no IR camera; the IR check is for kiosks")
        return self
