"""Per-site liveness settings (the kiosk's ``liveness:`` section, also the phone check's at the hub)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiosk.liveness.ir import IrConfig

Mode = Literal["blink", "head_turn", "blink_or_head_turn", "blink_and_head_turn", "off"]


class LivenessConfig(BaseModel):
    """Per-site liveness settings (``liveness:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        "blink_and_head_turn",
        description="blink, head_turn, blink_or_head_turn (either passes), blink_and_head_turn (both, in a random "
        "order, each after its own prompt: what a doctored photo cannot follow) or off")
    challenge_step_s: float = Field(
        4.0, gt=0,
        description="blink_and_head_turn: each asked action must come within this long after its prompt "
        "(two steps must fit in decision.attempt_timeout_s)")
    min_pixel_change: float = Field(
        0.3, ge=0,
        description="frames whose face, outside the eyes, changes less than this (median grey levels against the "
        "previous frame) are injected or frozen: still_image; a real camera's noise alone gives 0.5 or more")
    blink_window_s: float = Field(5.0, gt=0, description="a blink counts for this long after it ends")
    blink_closed_ratio: float = Field(
        0.65, gt=0, lt=1,
        description="eyes closed when the eye aspect ratio falls below this share of the person's open-eye baseline",
    )
    blink_reopen_ratio: float = Field(0.9, gt=0, le=1, description="eyes open again above this share of the baseline")
    blink_min_closed_frames: int = Field(
        1, ge=1, description="closed frames a blink needs (1 at 10 fps: blinks last 0.1-0.4 s)"
    )
    blink_max_closed_s: float = Field(0.7, gt=0, description="eyes closed longer than this is not a blink")
    blink_min_eye_px: float = Field(
        20.0, gt=0,
        description="eyes narrower than this (pixels, corner to corner) are too coarse to judge: 'come closer'",
    )
    blink_noise_k: float = Field(
        6.0, ge=0,
        description="a closure must also fall this many standard deviations of the person's EAR flicker below baseline",
    )
    max_face_aspect_change: float = Field(
        0.1, gt=0, lt=1,
        description="no blink when the eye-to-mouth / eye-distance proportion changes by more (a tilted photo)",
    )
    max_brow_drop: float = Field(
        0.25, gt=0, le=1,
        description="no blink when the eyebrows come closer to the eye-corner line by more than this share "
        "(a print folded along the eyes); unvalidated on real blinks, see BENCHMARKS-accuracy.md",
    )
    blink_require_rising: bool = Field(
        True,
        description="a blink must show a half-open frame while the lids rise (they rise in 150-300 ms, over a "
        "frame at 10 fps); a photo swapped back in for its painted-shut copy snaps open")
    blink_min_lash_ratio: float = Field(
        0.6, ge=0, lt=1,
        description="the closed eye's dark lash line (kiosk.liveness.pixels lash_contrast) must keep this share of "
        "the open eye's; an eye painted shut with skin has none. 0 turns the cue off")
    min_motion: float = Field(
        0.001, ge=0,
        description="frames whose non-eye landmarks move less (median over frames of the mean movement, "
        "in eye distances) are a still image",
    )
    head_turn_direction: Literal["left", "right", "random"] = Field(
        "random", description="the person's own side to turn to; random picks one per attempt"
    )
    head_turn_min_yaw_deg: float = Field(
        20.0, gt=0, lt=90, description="turn at least this far from where the head started"
    )
    head_turn_timeout_s: float = Field(6.0, gt=0, description="the challenge fails after this long")
    head_turn_max_step_deg: float = Field(
        25.0, gt=0, description="a yaw jump larger than this between two frames (a swapped photo) fails the attempt"
    )
    head_turn_min_parallax: float = Field(
        0.003, ge=0,
        description="nose shift across the eye-mouth plane (eye distances) per degree of yaw a turn must show; "
        "a flat photo or screen, however turned, shows none",
    )
    head_turn_parallax_frames: int = Field(
        3, ge=1,
        description="frames past head_turn_min_yaw_deg that must show the parallax, and more of them than frames "
        "that do not (a bent print shows it on the odd frame)")
    frames_mirrored: bool = Field(False, description="camera frames are mirrored (selfie view); flips left and right")
    ir: IrConfig = Field(default_factory=IrConfig,
                         description="optional infrared check on top of the mode (kiosk/liveness/ir.py)")

    @model_validator(mode="after")
    def _ir_needs_a_mode(self) -> "LivenessConfig":
        """The IR check withholds a mode's pass; with mode off nothing is checked, so it would do nothing."""
        if self.ir.enabled and self.mode == "off":
            raise ValueError("liveness.ir.enabled needs a liveness mode other than off (the IR check adds to it)")
        return self
