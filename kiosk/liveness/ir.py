"""Optional infrared liveness: what an 850 nm frame of the face says that a colour frame cannot.

Where the kiosk has a NoIR camera and an 850 nm illuminator beside its
colour camera (hardware/README.md), each colour frame comes with an IR frame
(``hardware.ir_camera``), and three cues are read from it inside the face
that the colour frame's landmarks locate:

- ``level``: the median IR brightness of the face. Skin lit by the
  illuminator reflects 850 nm well; a phone or tablet screen emits no
  infrared and its glass mirrors the illuminator away, so a face *shown on a
  screen* is dark in IR however bright it looks in colour (``ir_dark``).
- ``relief``: the shading of a solid face under a light beside the camera
  (dark eye sockets and sides, bright forehead, nose and cheeks), as the
  standard deviation of the blurred face over its mean. Most printer inks
  are nearly transparent at 850 nm, so a print shows as almost blank paper:
  flat (``ir_flat``).
- ``glints``: the illuminator's specular reflection on the cornea, a small
  spot far brighter than the rest of the eye. Paper and a print of an eye
  have none (``ir_no_glint``); eyes closed in a blink have none either, so
  only a share of the frames must show one.

Pure numpy/OpenCV on arrays passed in: ``IrCues`` keeps the last
``window_s`` of measurements and gives a verdict over them, never over one
frame. **Nothing here has been validated on real IR pictures**: this
repository has no IR photo of a face, a print or a screen, and the defaults
below are physical reasoning to be measured on the hardware (see
hardware/README.md). The tests use synthetic, non-face IR frames to check
the plumbing and the thresholds' arithmetic only.
"""

import logging
import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)

# Verdicts. The first two say "not a face" outright; the rest only withhold a pass.
IR_SPOOF = ("ir_dark", "ir_flat")
IR_WITHHOLD = ("ir_no_glint", "ir_missing", "ir_pending")


class IrConfig(BaseModel):
    """``liveness.ir`` in kiosk.yaml. Defaults are unvalidated starting points (no IR data here)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        False, description="check the IR frame (needs camera.ir: a NoIR camera with an 850 nm illuminator); a "
        "kiosk with this on and no IR frame passes nobody")
    window_s: float = Field(2.0, gt=0, description="the verdict is over the IR measurements of this many seconds")
    min_frames: int = Field(3, ge=1, description="IR measurements the window must hold before any verdict")
    min_face_level: float = Field(
        60.0, ge=0, le=255,
        description="median IR grey level of the face below this: a screen (emits no IR): ir_dark. Unvalidated")
    min_relief: float = Field(
        0.08, ge=0,
        description="shading of the blurred face (std over mean) below this: flat paper, ir_flat. Unvalidated")
    glint_min_level: float = Field(
        200.0, ge=0, le=255, description="a corneal glint is at least this bright (grey level). Unvalidated")
    glint_min_rise: float = Field(
        80.0, ge=0, le=255, description="and this much brighter than the median of its eye patch. Unvalidated")
    glint_max_share: float = Field(
        0.1, gt=0, le=1,
        description="and covers at most this share of the eye patch (a glint is small; white paper is not)")
    min_glint_share: float = Field(
        0.3, ge=0, le=1,
        description="share of the window's frames that must show a glint in either eye (blinks hide it); "
        "0 turns the glint cue off (e.g. a site where most staff wear glasses). Unvalidated")
    offset_px: tuple[float, float] = Field(
        (0.0, 0.0),
        description="where the face sits in the IR frame against the colour frame, after scaling to the IR "
        "frame's size (x, y pixels): the two cameras' parallax, measured at installation")


@dataclass(frozen=True)
class IrMeasure:
    """One IR frame's cues inside the face."""

    level: float    # median grey level, 0..255
    relief: float   # std / mean of the blurred face
    glints: int     # eyes (0..2) showing a specular spot


def to_ir_points(landmarks: np.ndarray, colour_size: tuple[int, int], ir_shape: tuple[int, ...],
                 offset_px: tuple[float, float]) -> np.ndarray:
    """The colour frame's landmarks where they fall in the IR frame (scale to its size, then shift)."""
    w, h = colour_size
    sx, sy = ir_shape[1] / w, ir_shape[0] / h
    pts = np.asarray(landmarks, np.float64) * (sx, sy)
    return pts + np.asarray(offset_px, np.float64)


def _clip_box(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return (int(max(0, math.floor(x0))), int(max(0, math.floor(y0))),
            int(min(w, math.ceil(x1))), int(min(h, math.ceil(y1))))


def face_patch(ir: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face's bounding patch (float32) and a mask of the face inside it: the outline of jaw and brows.

    Only the face counts: the corners of its box beside the chin are the
    background, which would add contrast to a flat print held in front of
    a dark room. Raises ValueError when the face lies off the IR frame.
    """
    outline = np.r_[pts[0:17], pts[26:16:-1]]
    x0, y0, x1, y1 = _clip_box(outline[:, 0].min(), outline[:, 1].min(), outline[:, 0].max(),
                               outline[:, 1].max(), ir.shape)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"face region outside or too small in the {ir.shape[1]}x{ir.shape[0]} IR frame")
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(outline - (x0, y0)).astype(np.int32)], 1)
    if mask.sum() < 64:
        raise ValueError("face outline covers too few IR pixels")
    return ir[y0:y1, x0:x1].astype(np.float32), mask.astype(bool)


def relief_of(patch: np.ndarray, mask: np.ndarray) -> float:
    """Std over mean, inside the face, of the face blurred to its coarse shading (~1/12 of its width).

    The blur is normalised by the blurred mask, so the background outside
    the outline does not bleed in at its edge.
    """
    sigma = max(1.0, patch.shape[1] / 12.0)
    weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    coarse = cv2.GaussianBlur(patch * mask, (0, 0), sigma) / np.maximum(weight, 1e-6)
    inside = coarse[mask]
    mean = float(inside.mean())
    return float(inside.std()) / mean if mean > 1.0 else 0.0


def has_glint(ir: np.ndarray, eye: np.ndarray, config: IrConfig) -> bool:
    """A small spot in the eye patch far brighter than the patch: the illuminator on the cornea."""
    cx, cy = eye[:, 0].mean(), eye[:, 1].mean()
    width = float(np.ptp(eye[:, 0]))
    half_w, half_h = max(3.0, 0.75 * width), max(3.0, 0.45 * width)
    x0, y0, x1, y1 = _clip_box(cx - half_w, cy - half_h, cx + half_w, cy + half_h, ir.shape)
    patch = ir[y0:y1, x0:x1]
    if patch.size == 0:
        return False
    peak = float(patch.max())
    if peak < config.glint_min_level or peak - float(np.median(patch)) < config.glint_min_rise:
        return False
    return float((patch >= config.glint_min_level).mean()) <= config.glint_max_share


def measure(ir: np.ndarray, landmarks: np.ndarray, colour_size: tuple[int, int], config: IrConfig) -> IrMeasure:
    """The cues of one IR frame (HxW grey uint8) for the face the colour frame's landmarks locate."""
    if ir.ndim != 2:
        raise ValueError(f"IR frame must be HxW grey, got shape {ir.shape}")
    pts = to_ir_points(landmarks, colour_size, ir.shape, config.offset_px)
    patch, mask = face_patch(ir, pts)
    glints = sum(has_glint(ir, pts[eye], config) for eye in (LEFT_EYE, RIGHT_EYE))
    return IrMeasure(float(np.median(patch[mask])), relief_of(patch, mask), int(glints))


def verdict(measures: list[IrMeasure], config: IrConfig) -> str | None:
    """None when the window looks like a live face in IR; else the reason (``IR_SPOOF`` or ``IR_WITHHOLD``)."""
    if len(measures) < config.min_frames:
        return "ir_pending"
    if float(np.median([m.level for m in measures])) < config.min_face_level:
        return "ir_dark"
    if float(np.median([m.relief for m in measures])) < config.min_relief:
        return "ir_flat"
    if sum(m.glints > 0 for m in measures) < config.min_glint_share * len(measures):
        return "ir_no_glint"
    return None


class IrCues:
    """The IR measurements of one tracked face over the last ``window_s``; ``reset()`` for the next person."""

    def __init__(self, config: IrConfig) -> None:
        self.config = config
        self._window: deque[tuple[float, IrMeasure]] = deque()

    def reset(self) -> None:
        self._window.clear()

    def feed(self, ts: float, ir: np.ndarray | None, landmarks: np.ndarray,
             colour_size: tuple[int, int]) -> str | None:
        """Add one frame's IR (None when the IR camera gave none) and return the verdict over the window."""
        while self._window and self._window[0][0] < ts - self.config.window_s:
            self._window.popleft()
        if ir is not None:
            try:
                self._window.append((ts, measure(ir, landmarks, colour_size, self.config)))
            except ValueError as exc:  # the face off the IR frame (registration): counted as no frame
                log.debug("IR frame at %.3f s not measured: %s", ts, exc)
        if not self._window:
            return "ir_missing"
        return verdict([m for _, m in self._window], self.config)
