"""Liveness from 68-point landmarks over time: a blink, a head turn, or both in a random order.

Pure logic: callers pass timestamps, the landmarks ``FaceEncoder.landmarks68``
found on each frame of one tracked face and, for the pixel cues, the frame;
nothing here touches a camera or dlib.

What these checks stop, and what they do not (BENCHMARKS-liveness.md has
the rates, measured on forgeries built from photos of unseen people):

- A still picture never blinks and never turns its head, so it never
  passes. Frames that do not change *in their pixels* outside the eyes
  (injected or replayed frames, a frozen camera, a still with painted eyes
  swapped in) are flagged ``still_image`` (``kiosk.liveness_pixels``); the
  landmarks alone cannot tell, because the kiosk re-detects the face box on
  every frame and the landmarks move with it. A print in front of a real
  camera is *not* caught by that: sensor noise moves every pixel.
- Tilting a printed photo foreshortens it and lowers the eye aspect ratio
  like a blink would; a blink is therefore counted only when the face's own
  proportions (eye line to mouth, against eye distance) stay put while the
  eyes close, and only when the eyebrows do not come down with the lids (a
  print folded back along the eyes).
- A photo alternated with a copy whose eyes are painted shut closes and
  opens its "eyes" in one frame each way; real lids rise more slowly than
  they fall, so a blink must show a half-open frame on the way up
  (``blink_require_rising``), and, where the pixels are given, the closed
  eye must keep a lash line (``blink_min_lash_ratio``).
- Turning a photo about its vertical axis fools solvePnP into a head turn;
  the turn counts only with the nose parallax a real head shows, on several
  frames; a bent or curved print shows it on the odd frame, and its pose
  estimate tends to flip, which now fails the attempt.
- ``blink_and_head_turn`` (the default) asks for both, in an order drawn
  per attempt, each counted only after its own prompt
  (``kiosk.liveness_challenge``): the props that fake one do not fake the
  other.
- A *video* of the person (phone or tablet replay) blinks and turns like the
  person: these checks do not stop it. That needs a passive texture/depth cue
  or hardware: with a NoIR camera and an 850 nm illuminator, ``ir.enabled``
  adds the infrared check of ``kiosk.liveness_ir`` (a screen is dark in IR,
  most prints flat; unvalidated without the hardware), see BENCHMARKS-liveness.md.
"""

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from biometrics.pose import head_pose
from kiosk.messages import messages
from kiosk.liveness_ir import IR_SPOOF, IrConfig, IrCues
from kiosk.liveness_pixels import FrameCues, PixelCues
from protocol.messages import LivenessInfo

# iBUG 68: eye on the image's left 36..41, on the image's right 42..47.
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
NON_EYE = np.r_[0:36, 48:68]  # points that stay put in a blink

Mode = Literal["blink", "head_turn", "blink_or_head_turn", "blink_and_head_turn", "off"]

# (English, Hindi) pairs from the catalogue (kiosk.prompt.*)
PROMPTS: dict[str, tuple[str, str]] = messages(
    "kiosk.prompt.", ("blink", "turn_left", "turn_right", "still_image", "pose_jump", "face_too_small"))
PROMPTS.update({reason: PROMPTS["still_image"] for reason in IR_SPOOF})  # dark or flat in IR: a screen or a print


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
        description="the closed eye's dark lash line (kiosk.liveness_pixels lash_contrast) must keep this share of "
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
                         description="optional infrared check on top of the mode (kiosk/liveness_ir.py)")

    @model_validator(mode="after")
    def _ir_needs_a_mode(self) -> "LivenessConfig":
        """The IR check withholds a mode's pass; with mode off nothing is checked, so it would do nothing."""
        if self.ir.enabled and self.mode == "off":
            raise ValueError("liveness.ir.enabled needs a liveness mode other than off (the IR check adds to it)")
        return self


@dataclass(frozen=True)
class LivenessState:
    passed: bool
    score: float           # 0..1: blink depth, or head-turn progress
    reason: str | None     # why not (yet) passed; None when passed
    method: str = "blink"  # what was checked: blink, head_turn, off


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes (Soukupová & Čech 2016): ~0.3 open, <0.2 closed."""
    pts = _check_landmarks(landmarks)
    return (_ear(pts[LEFT_EYE]) + _ear(pts[RIGHT_EYE])) / 2.0


def _ear(eye: np.ndarray) -> float:
    p1, p2, p3, p4, p5, p6 = eye
    width = float(np.linalg.norm(p1 - p4))
    if width == 0.0:
        return 0.0
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width)


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (each the midpoint of its corners)."""
    pts = _check_landmarks(landmarks)
    left = (pts[36] + pts[39]) / 2.0
    right = (pts[42] + pts[45]) / 2.0
    return float(np.linalg.norm(right - left))


def face_aspect(landmarks: np.ndarray) -> float:
    """Eye-line-to-mouth distance over eye distance, from points a blink does not move.

    A real blink leaves it unchanged; foreshortening a photo (tilting it,
    turning it) changes it in proportion.
    """
    pts = _check_landmarks(landmarks)
    eyes_mid = (pts[36] + pts[39] + pts[42] + pts[45]) / 4.0
    mouth_mid = (pts[48] + pts[54]) / 2.0
    iod = eye_distance(pts)
    return float(np.linalg.norm(mouth_mid - eyes_mid)) / iod if iod else 0.0


def brow_gap(landmarks: np.ndarray) -> float:
    """Mean distance of the eyebrow points from the line through the outer eye corners, over the eye distance.

    A blink moves the lids, not the brows or the eye corners, so it leaves
    this put; folding the top of a print back along the eyes shrinks it
    with the lids.
    """
    pts = _check_landmarks(landmarks)
    a, b = pts[36], pts[45]
    along = b - a
    length = float(np.linalg.norm(along))
    iod = eye_distance(pts)
    if length == 0.0 or iod == 0.0:
        return 0.0
    normal = np.array([-along[1], along[0]]) / length
    return float(np.mean(np.abs((pts[17:27] - a) @ normal))) / iod


def landmark_motion(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean movement of the non-eye landmarks between two frames, over the eye distance.

    A mean, not a median: dlib returns whole-pixel landmarks, so on a steady
    face most points repeat exactly between frames and a median reads 0.
    """
    prev, cur = _check_landmarks(previous), _check_landmarks(current)
    iod = eye_distance(cur)
    if iod == 0.0:
        return 0.0
    return float(np.mean(np.linalg.norm(cur[NON_EYE] - prev[NON_EYE], axis=1))) / iod


# Where the outer eye corners (36, 45) and the mouth corners (54, 48) sit on an
# average frontal face, in eye distances from the eyes' midpoint (median of
# the near-frontal dev photos, rounded and made symmetric).
PLANE_IDS = (36, 45, 54, 48)
PLANE_TEMPLATE = np.array([(-0.70, 0.0), (0.70, 0.0), (0.48, 1.02), (-0.48, 1.02)])


def nose_offset(landmarks: np.ndarray) -> float:
    """Where the nose tip sits across the face, in a frame no flat picture can move it in.

    The outer eye corners and the mouth corners are mapped onto an average
    frontal face by the one homography that does it, and the nose tip goes
    along; the answer is its x there (eye distances, positive towards the
    image's right like yaw). Every view of a flat print or screen, however
    it is tilted, turned or held close, is a homography of that print, so
    the answer stays put (up to landmark noise). A real head's nose stands
    out of the eye-mouth plane and slides sideways when the head turns.
    """
    pts = _check_landmarks(landmarks)
    h = _homography(pts[list(PLANE_IDS)], PLANE_TEMPLATE)
    x, _, w = h @ np.r_[pts[30], 1.0]
    if not (math.isfinite(x) and math.isfinite(w)) or abs(w) < 1e-9:
        raise ValueError("landmarks too degenerate for a face plane")
    return float(x / w)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking four points ``src`` onto ``dst`` (direct linear solve).

    ``src`` is first moved to its centroid and scaled to unit size, so pixel
    coordinates do not make the 8x8 system ill-conditioned.
    """
    centre = src.mean(axis=0)
    scale = float(np.mean(np.linalg.norm(src - centre, axis=1)))
    if not scale > 0.0:
        raise ValueError("landmarks too degenerate for a face plane")
    norm = np.array([[1 / scale, 0, -centre[0] / scale], [0, 1 / scale, -centre[1] / scale], [0, 0, 1.0]])
    s = (src - centre) / scale
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(s, dst)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -u * x, -u * y)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -v * x, -v * y)
        b[2 * i], b[2 * i + 1] = u, v
    try:
        h = np.linalg.solve(a, b)
    except np.linalg.LinAlgError as exc:
        raise ValueError("landmarks too degenerate for a face plane") from exc
    return np.r_[h, 1.0].reshape(3, 3) @ norm


def _nanmedian(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks must be a finite (68, 2) array, got shape {pts.shape}")
    return pts


class _Clock:
    """Rejects time going backwards: a reordered frame would fake a blink."""

    def __init__(self) -> None:
        self.last: float | None = None

    def tick(self, ts: float) -> None:
        if not math.isfinite(ts) or (self.last is not None and ts < self.last):
            raise ValueError(f"timestamps must be finite and non-decreasing: {ts!r} after {self.last!r}")
        self.last = ts


class _Sample(NamedTuple):
    ts: float
    ear: float
    aspect: float   # face_aspect
    left: float     # EAR of each eye
    right: float
    eye_px: float   # eye width, corner to corner
    brow: float     # brow_gap
    lash: float     # kiosk.liveness_pixels lash_contrast; NaN when the pixels were not given


class BlinkDetector:
    """Counts open -> closed -> open blinks against the person's own open-eye EAR.

    The baseline is the 75th percentile of the EAR over the window, frozen
    while the eyes are closed, so it adapts to narrow or wide eyes without
    being dragged down by the blink itself. dlib's landmarks are whole
    pixels, so on a small face a one-pixel flicker moves the EAR by 20% or
    more. Hence: eyes narrower than ``min_eye_px`` are not judged at all
    ("come closer"); a closure has to clear the measured noise too
    (``noise_k`` standard deviations of the EAR's own frame-to-frame flicker
    below the baseline, never less than the rounding noise of whole-pixel
    landmarks); and it has to close *both* eyes. A closure that also
    changes the face's proportions (``face_aspect``: a tilted print) or
    brings the brows down with the lids (``brow_gap``: a print folded along
    the eyes) is not a blink. Nor is one whose eyes go from closed straight
    to open with no half-open frame between (``require_rising``: lids rise
    in 150-300 ms, a photo swapped back for its painted-shut copy in one
    frame), or, given ``lash`` per frame, one whose closed eyes lost the
    dark lash line the open eyes had (``min_lash_ratio``: painted with skin).
    Feed one tracked face; ``reset()`` when the track changes.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        closed_ratio: float = 0.65,
        min_closed_frames: int = 1,
        max_closed_s: float = 0.7,
        reopen_ratio: float = 0.9,
        max_face_aspect_change: float = 0.1,
        min_motion: float = 0.001,
        noise_k: float = 6.0,
        min_eye_px: float = 20.0,
        min_baseline_frames: int = 8,
        max_brow_drop: float = 0.25,
        require_rising: bool = True,
        min_lash_ratio: float = 0.0,
    ) -> None:
        self.window_s = window_s
        self.closed_ratio = closed_ratio
        self.min_closed_frames = min_closed_frames
        self.max_closed_s = max_closed_s
        self.reopen_ratio = reopen_ratio
        self.max_face_aspect_change = max_face_aspect_change
        self.min_motion = min_motion
        self.noise_k = noise_k
        self.min_eye_px = min_eye_px
        self.min_baseline_frames = min_baseline_frames
        self.max_brow_drop = max_brow_drop
        self.require_rising = require_rising
        self.min_lash_ratio = min_lash_ratio
        self.reset()

    def reset(self) -> None:
        self._clock = _Clock()
        self._samples: deque[_Sample] = deque()
        self._motions: deque[tuple[float, float]] = deque()  # ts, motion
        self._previous: np.ndarray | None = None
        self._phase = "start"  # start -> open -> closed -> open ...; too_long waits for open
        self._closure: dict | None = None
        self._blinks: deque[tuple[float, float, float]] = deque()  # ts of reopening, depth, ts the lids closed
        self._last_rejection: str | None = None

    def feed(self, ts: float, landmarks: np.ndarray, lash: float = math.nan) -> LivenessState:
        """One frame's landmarks, and its eyes' ``lash_contrast`` when the pixels were measured."""
        pts = _check_landmarks(landmarks)
        self._clock.tick(ts)
        left, right = _ear(pts[LEFT_EYE]), _ear(pts[RIGHT_EYE])
        eye_px = float(np.linalg.norm(pts[36] - pts[39]) + np.linalg.norm(pts[42] - pts[45])) / 2.0
        sample = _Sample(ts, (left + right) / 2.0, face_aspect(pts), left, right, eye_px, brow_gap(pts), float(lash))
        if self._previous is not None:
            self._motions.append((ts, landmark_motion(self._previous, pts)))
        self._previous = pts
        self._forget_before(ts - self.window_s)
        if eye_px < self.min_eye_px:  # too coarse to tell a blink from a pixel flicker
            self._phase, self._closure = "start", None
            state = self._state()
            return state if state.passed or state.reason == "still_image" else LivenessState(
                False, 0.0, "face_too_small", "blink")
        self._step(sample)
        self._samples.append(sample)
        return self._state()

    def _forget_before(self, horizon: float) -> None:
        for queue in (self._samples, self._motions, self._blinks):
            while queue and queue[0][0] < horizon:
                queue.popleft()

    def _baseline(self) -> dict | None:
        """Open-eye EAR (both, each eye), and the EAR below which the eyes count as closed."""
        if len(self._samples) < self.min_baseline_frames:
            return None
        ears = np.array([s.ear for s in self._samples])
        base = float(np.percentile(ears, 75))
        # Flicker from the mean absolute frame-to-frame change (sigma ~ 0.886 x
        # that for Gaussian noise): a median would read 0 on whole-pixel
        # landmarks that mostly repeat, and a blink adds only two jumps. Never
        # below the rounding noise alone, about 0.2 / eye width (px).
        # The largest fifth of the steps is left out (and the mean of the rest
        # scaled back up: 0.70 of the full mean for Gaussian noise), so a
        # blink's own two jumps do not raise the noise estimate until the
        # next blink is missed.
        steps = np.sort(np.abs(np.diff(ears)))
        flicker = 0.886 * float(np.mean(steps[:max(1, int(len(steps) * 0.8))])) / 0.70
        rounding = 0.2 / float(np.median([s.eye_px for s in self._samples]))
        noise = max(flicker, rounding)
        return {"ear": base, "closed": min(self.closed_ratio * base, base - self.noise_k * noise),
                "left": float(np.percentile([s.left for s in self._samples], 75)),
                "right": float(np.percentile([s.right for s in self._samples], 75))}

    def _is_closed(self, sample: _Sample, base: dict) -> bool:
        return (sample.ear < base["closed"] and sample.left < self.closed_ratio * base["left"]
                and sample.right < self.closed_ratio * base["right"])

    def _step(self, sample: _Sample) -> None:
        if self._phase == "closed":
            self._step_closed(sample)
            return
        base = self._baseline()
        if base is None or base["ear"] <= 0.0:
            return
        if sample.ear >= self.reopen_ratio * base["ear"]:
            self._phase = "open"
        elif self._phase == "open" and self._is_closed(sample, base):
            recent = list(self._samples)[-3:]  # the open face just before
            self._phase = "closed"
            self._closure = {"base": base, "start": sample.ts, "frames": 1, "min_ear": sample.ear,
                             "open_aspect": float(np.median([s.aspect for s in recent])),
                             "open_brow": float(np.median([s.brow for s in recent])), "during": [sample],
                             "open_lash": _nanmedian([s.lash for s in recent]), "closed_lash": [sample.lash],
                             "rising": False}

    def _step_closed(self, sample: _Sample) -> None:
        c = self._closure
        if sample.ts - c["start"] > self.max_closed_s:
            self._phase, self._closure, self._last_rejection = "too_long", None, "eyes_closed_too_long"
            return
        c["during"].append(sample)  # every frame until the eyes are open again, and that one
        if sample.ear < self.reopen_ratio * c["base"]["ear"]:
            if self._is_closed(sample, c["base"]):
                c["frames"] += 1
                c["min_ear"] = min(c["min_ear"], sample.ear)
                c["closed_lash"].append(sample.lash)
            else:
                c["rising"] = True  # half open: the lids on their way up
            return
        self._phase, self._closure = "open", None
        if c["frames"] < self.min_closed_frames:
            self._last_rejection = "blink_too_short"
            return
        aspect_change = max(abs(s.aspect / c["open_aspect"] - 1.0) for s in c["during"])
        brow_drop = max(1.0 - s.brow / c["open_brow"] for s in c["during"]) if c["open_brow"] > 0 else 0.0
        if aspect_change > self.max_face_aspect_change or brow_drop > self.max_brow_drop:
            self._last_rejection = "face_distorted"
            return
        if self.require_rising and not c["rising"]:
            self._last_rejection = "eyes_snapped_open"
            return
        lash_ratio = _nanmedian(c["closed_lash"]) / c["open_lash"] if c["open_lash"] > 0 else math.nan
        if lash_ratio < self.min_lash_ratio:  # False for NaN: without pixels the cue is not applied
            self._last_rejection = "eyes_painted"
            return
        self._blinks.append((sample.ts, 1.0 - c["min_ear"] / c["base"]["ear"], c["start"]))
        self._last_rejection = None

    def blinked_since(self, ts: float) -> bool:
        """Whether a blink that began (the lids closing) at or after ``ts`` has been counted."""
        return any(start >= ts for _, _, start in self._blinks)

    def is_moving(self) -> bool | None:
        """Whether the landmarks move between frames at all; None until two frames were seen."""
        if not self._motions:
            return None
        return float(np.median([m for _, m in self._motions])) >= self.min_motion

    def _state(self) -> LivenessState:
        moving = self.is_moving()
        if moving is False:
            return LivenessState(False, 0.0, "still_image", "blink")
        if self._blinks:
            score = float(min(1.0, max(d for _, d, _ in self._blinks)))
            if moving:
                return LivenessState(True, score, None, "blink")
        return LivenessState(False, 0.0, self._last_rejection or "no_blink", "blink")


class HeadTurnChallenge:
    """Asks for a turn to one side and back; passes on the turn-and-return.

    Yaw is measured from where the head started (the median of the first
    three frames), because uncalibrated pose carries a per-person bias.
    ``direction`` is the person's own side in un-mirrored frames: their left
    is positive yaw (see biometrics.pose).

    solvePnP alone is fooled by a flat photo turned about its vertical axis
    (the narrower face fits a turned head). A real head also shows parallax:
    its nose tip slides across the plane of the eye and mouth corners
    (``nose_offset``), by a median 0.0080 eye distances per degree over pairs
    of dev photos of one person, while no view of a flat picture moves it.
    The turn counts only when the nose moved at least ``min_parallax`` per
    degree of the yaw change on ``parallax_frames`` frames past ``min_yaw_deg``,
    and on more of them than not: a bent or curved print shows parallax on
    the odd frame of a swing, a head on every frame of its turn. A yaw jump
    of more than ``max_step_deg`` between frames (a photo swapped, or the
    pose of a bent print flipping) fails the challenge for good: restarting
    it would hand the forger another try (BENCHMARKS-liveness.md).
    """

    def __init__(self, direction: Literal["left", "right"], min_yaw_deg: float = 20.0,
                 timeout_s: float = 6.0, max_step_deg: float = 25.0, min_parallax: float = 0.003,
                 parallax_frames: int = 3) -> None:
        if direction not in ("left", "right"):
            raise ValueError(f"direction must be 'left' or 'right', got {direction!r}")
        self.direction = direction
        self.min_yaw_deg = min_yaw_deg
        self.timeout_s = timeout_s
        self.max_step_deg = max_step_deg
        self.min_parallax = min_parallax
        self.parallax_frames = parallax_frames
        self.reset()

    def reset(self) -> None:
        self._clock = _Clock()
        self._start_ts: float | None = None
        self._first: list[tuple[float, float]] = []
        self._origin: tuple[float, float] | None = None
        self._last_yaw: float | None = None
        self._peak = 0.0
        self._deep = 0   # frames past min_yaw_deg with the parallax of a real head
        self._flat = 0   # frames past min_yaw_deg without it
        self._result: LivenessState | None = None

    def feed(self, ts: float, landmarks: np.ndarray, image_size: tuple[int, int]) -> LivenessState:
        return self.feed_pose(ts, head_pose(landmarks, image_size).yaw, nose_offset(landmarks))

    def feed_pose(self, ts: float, yaw_deg: float, nose: float) -> LivenessState:
        """The check on a yaw (``biometrics.pose.head_pose``) and a ``nose_offset`` already computed."""
        self._clock.tick(ts)
        if self._result is not None:
            return self._result
        if self._start_ts is None:
            self._start_ts = ts
        jumped = self._last_yaw is not None and abs(yaw_deg - self._last_yaw) > self.max_step_deg
        self._last_yaw = yaw_deg
        if jumped:  # a swapped or flipped picture; restarting would give a forger another try
            self._result = LivenessState(False, 0.0, "pose_jump", "head_turn")
            return self._result
        if self._origin is None:
            self._first.append((yaw_deg, nose))
            if len(self._first) < 3:
                return self._pending(ts, "no_head_turn")
            self._origin = tuple(float(v) for v in np.median(self._first, axis=0))
        sign = 1.0 if self.direction == "left" else -1.0
        turn = sign * (yaw_deg - self._origin[0])
        shift = sign * (nose - self._origin[1])
        self._peak = max(self._peak, turn)
        if turn >= self.min_yaw_deg:
            if shift >= self.min_parallax * turn:
                self._deep += 1
            else:
                self._flat += 1
        reached = self._deep >= self.parallax_frames and self._deep > self._flat
        if reached and turn <= self.min_yaw_deg / 2.0:
            self._result = LivenessState(True, 1.0, None, "head_turn")
            return self._result
        return self._pending(ts, "flat_face" if self._flat and not reached else "no_head_turn")

    def _pending(self, ts: float, reason: str) -> LivenessState:
        progress = float(min(1.0, max(0.0, self._peak / self.min_yaw_deg)))
        if ts - self._start_ts > self.timeout_s:
            self._result = LivenessState(False, progress, "timeout", "head_turn")
            return self._result
        return LivenessState(False, progress, reason, "head_turn")


class LivenessChecker:
    """The per-site mode applied to one tracked face; ``reset()`` for the next person.

    Call ``feed(ts, landmarks, image_size, frame)`` on every frame of the
    track, with ``ts`` in seconds (monotonic, non-decreasing), the (68, 2)
    landmarks of ``FaceEncoder.landmarks68``, the frame's (width, height)
    and the frame itself (RGB; for the pixel cues of ``kiosk.liveness_pixels``,
    skipped when None). It returns the ``LivenessState`` now: ``passed`` is
    True while a blink seen in the last ``blink_window_s`` stands, and from a
    completed head turn or blink-and-turn challenge on (those stay passed, a
    blink lapses), so check it when the punch is made. ``reason`` while not
    passed: ``still_image`` (landmarks or pixels that do not move),
    ``face_too_small``, ``no_blink``, ``blink_too_short``,
    ``eyes_closed_too_long``, ``face_distorted`` (blink); ``no_head_turn``,
    ``flat_face``, ``pose_jump``, ``timeout`` (head turn; ``timeout`` and
    ``pose_jump`` are final until ``reset()``); ``next_step`` (the first
    action of ``blink_and_head_turn`` passed, the second is asked now);
    with ``ir.enabled``, ``ir_dark`` and ``ir_flat`` (a screen or a print in
    the IR frame), and, instead of a pass, ``ir_no_glint``, ``ir_missing``
    or ``ir_pending`` (``kiosk.liveness_ir``).
    ``prompt`` is what to show. The per-track state means a new face must
    get ``reset()``, or one person's blink would vouch for the next.
    """

    def __init__(self, config: LivenessConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.reset()

    def reset(self) -> None:
        from kiosk.liveness_challenge import BlinkTurnChallenge  # it builds on this module's checks

        c = self.config
        self.blink = BlinkDetector(
            window_s=c.blink_window_s, closed_ratio=c.blink_closed_ratio,
            min_closed_frames=c.blink_min_closed_frames, max_closed_s=c.blink_max_closed_s,
            reopen_ratio=c.blink_reopen_ratio, max_face_aspect_change=c.max_face_aspect_change,
            min_motion=c.min_motion, noise_k=c.blink_noise_k, min_eye_px=c.blink_min_eye_px,
            max_brow_drop=c.max_brow_drop, require_rising=c.blink_require_rising,
            min_lash_ratio=c.blink_min_lash_ratio,
        )
        asked = c.head_turn_direction
        if asked == "random":
            asked = self._rng.choice(("left", "right"))
        self.asked_direction: Literal["left", "right"] = asked
        self.head_turn = self._make_turn(c.head_turn_timeout_s)
        order = ("blink", "turn") if self._rng.random() < 0.5 else ("turn", "blink")
        self.challenge = BlinkTurnChallenge(self.blink, lambda: self._make_turn(c.challenge_step_s), order,
                                            c.challenge_step_s)
        self.pixels = PixelCues()
        self.ir = IrCues(c.ir)
        self._changes: deque[tuple[float, float]] = deque()  # ts, still_change

    def _make_turn(self, timeout_s: float) -> HeadTurnChallenge:
        c = self.config
        # In a mirrored frame the person's left shows where an un-mirrored frame shows their right.
        seen = {"left": "right", "right": "left"}[self.asked_direction] if c.frames_mirrored else self.asked_direction
        return HeadTurnChallenge(seen, c.head_turn_min_yaw_deg, timeout_s, c.head_turn_max_step_deg,
                                 c.head_turn_min_parallax, c.head_turn_parallax_frames)

    @property
    def prompt(self) -> tuple[str, str] | None:
        """What to ask the person (English, Hindi), or None when nothing is asked."""
        mode = self.config.mode
        if mode == "off":
            return None
        if mode == "blink" or (mode == "blink_and_head_turn" and self.challenge.current == "blink"):
            return PROMPTS["blink"]
        return PROMPTS[f"turn_{self.asked_direction}"]

    def feed(self, ts: float, landmarks: np.ndarray, image_size: tuple[int, int],
             frame: np.ndarray | None = None, cues: FrameCues | None = None,
             ir: np.ndarray | None = None) -> LivenessState:
        """One frame; ``cues`` (already measured, e.g. by a benchmark) stands in for ``frame``.

        ``ir``: the IR frame taken with it (HxW grey), read only when ``ir.enabled``.
        """
        mode = self.config.mode
        if mode == "off":
            return LivenessState(True, 0.0, None, "off")
        if cues is None and frame is not None:
            cues = self.pixels.feed(frame, landmarks)
        lash = cues.lash_contrast if cues is not None else math.nan
        state = self._feed_mode(mode, ts, landmarks, image_size, lash)
        if cues is not None and self._pixels_still(ts, cues.still_change):
            return LivenessState(False, 0.0, "still_image", state.method)
        if self.config.ir.enabled:
            return self._with_ir(state, self.ir.feed(ts, ir, landmarks, image_size))
        return state

    @staticmethod
    def _with_ir(state: LivenessState, ir_reason: str | None) -> LivenessState:
        """A pass needs the IR verdict too; a face dark or flat in IR is named so whatever the mode says."""
        if ir_reason is None:
            return state
        if state.passed or ir_reason in IR_SPOOF:
            return LivenessState(False, state.score, ir_reason, state.method)
        return state

    def _pixels_still(self, ts: float, change: float) -> bool:
        """Whether the face's pixels outside the eyes stood still (median over the blink window)."""
        if math.isfinite(change):
            self._changes.append((ts, change))
        while self._changes and self._changes[0][0] < ts - self.config.blink_window_s:
            self._changes.popleft()
        if len(self._changes) < 2:
            return False
        return float(np.median([c for _, c in self._changes])) < self.config.min_pixel_change

    def _feed_mode(self, mode: str, ts: float, landmarks: np.ndarray, image_size: tuple[int, int],
                   lash: float) -> LivenessState:
        if mode == "blink":
            return self.blink.feed(ts, landmarks, lash)
        if mode == "head_turn":
            return self.head_turn.feed(ts, landmarks, image_size)
        if mode == "blink_and_head_turn":
            return self.challenge.feed(ts, landmarks, image_size, lash)
        blink = self.blink.feed(ts, landmarks, lash)
        turn = self.head_turn.feed(ts, landmarks, image_size)
        if turn.reason == "pose_jump":
            return turn
        if blink.passed:
            return blink
        if turn.passed and self.blink.is_moving() is not False:
            return turn
        # A timed-out turn is not the end here: a blink can still pass.
        return blink if blink.reason == "still_image" or turn.reason == "timeout" else turn


def liveness_info(state: LivenessState) -> LivenessInfo | None:
    """What the punch records; None when liveness is off (not checked)."""
    if state.method == "off":
        return None
    return LivenessInfo(passed=state.passed, score=round(state.score, 3), method=state.method)
