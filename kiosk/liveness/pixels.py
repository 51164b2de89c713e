"""Liveness cues read from the pixels, not from landmarks that move with the detector's box.

Two measurements per frame, both cheap (a few small crops, no model):

- ``still_change``: the mean absolute grey-level change, against the previous
  frame, of the face *outside the eyes*, at the same pixel positions. A
  camera looking at anything, a print included, never delivers two
  identical frames (sensor noise alone moves every pixel by a grey level or
  two). Frames injected in place of the camera feed, a frozen camera, or a
  replayed still with only its eyes swapped for painted ones show 0 here,
  however much the kiosk's re-detected face box, and with it every
  landmark, jitters between frames.
- ``lash_contrast``: how dark the darkest horizontal line across the eye is
  against the eye patch's own median, in an eye patch aligned to the eye
  corners. A real closed eye keeps a dark lash line where the lids meet; an
  eye painted shut by filling it with skin has none.

Pure numpy/OpenCV on arrays passed in; ``PixelCues`` keeps only the previous
frame's small grey crop.
"""

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

EYE_PATCH = (24, 16)      # width, height of an aligned eye patch in pixels
FACE_SIDE = 96            # the face crop for still_change is resized to this square


@dataclass(frozen=True)
class FrameCues:
    """The pixel cues of one frame; NaN where the frame could not be measured (no previous frame)."""

    still_change: float
    lash_contrast: float


def gray_of(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if frame.ndim == 2:
        return frame
    raise ValueError(f"frame must be HxW or HxWx3, got shape {frame.shape}")


def eye_patch(gray: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """The eye (its 6 landmarks) cut out along the line of its corners, ``EYE_PATCH`` pixels, float32.

    The patch spans 1.3 eye widths along the corner line and 0.85 across it,
    centred on the corners' midpoint, so the lids, the lashes and a little
    skin above and below are inside whatever the eye's size and roll.
    """
    a, b = eye[0].astype(np.float64), eye[3].astype(np.float64)
    width = float(np.linalg.norm(b - a))
    if width < 2.0:
        raise ValueError(f"eye too small to measure ({width:.1f} px)")
    along = (b - a) / width
    across = np.array([-along[1], along[0]])
    centre = (a + b) / 2.0
    pw, ph = EYE_PATCH
    sx, sy = 1.3 * width / pw, 0.85 * width / ph
    # patch pixel (x, y) -> image: centre + (x - pw/2) * sx * along + (y - ph/2) * sy * across
    m = np.array([[along[0] * sx, across[0] * sy, 0.0], [along[1] * sx, across[1] * sy, 0.0]])
    m[:, 2] = centre - m[:, :2] @ np.array([pw / 2.0, ph / 2.0])
    return cv2.warpAffine(gray, m, EYE_PATCH, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def lash_contrast(patch: np.ndarray) -> float:
    """Darkness of the darkest row (middle 60% of the width) against the patch median, as a share of it."""
    pw = patch.shape[1]
    rows = patch[:, int(pw * 0.2):int(pw * 0.8)].mean(axis=1)
    median = float(np.median(patch))
    if median <= 1.0:
        return 0.0
    return float((median - rows.min()) / median)


def face_crop(gray: np.ndarray, landmarks: np.ndarray) -> tuple[slice, slice] | None:
    """The rows and columns of the face's landmark box, or None when it lies off the frame."""
    h, w = gray.shape
    x0, y0 = np.floor(landmarks.min(axis=0)).astype(int)
    x1, y1 = np.ceil(landmarks.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return slice(y0, y1), slice(x0, x1)


def eyes_mask(landmarks: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """True outside both eyes (each eye's corner box grown by half an eye width), in the crop's pixels."""
    mask = np.ones((rows.stop - rows.start, cols.stop - cols.start), bool)
    for first in (36, 42):
        eye = landmarks[first:first + 6]
        grow = 0.5 * float(np.linalg.norm(eye[3] - eye[0]))
        x0, y0 = np.floor(eye.min(axis=0) - grow).astype(int) - [cols.start, rows.start]
        x1, y1 = np.ceil(eye.max(axis=0) + grow).astype(int) - [cols.start, rows.start]
        mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = False
    return mask


class PixelCues:
    """Per-frame pixel cues of one tracked face; ``reset()`` for the next one."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._previous: np.ndarray | None = None

    def feed(self, frame: np.ndarray, landmarks: np.ndarray) -> FrameCues:
        gray = gray_of(frame)
        pts = np.asarray(landmarks, np.float64)
        change = float("nan")
        region = face_crop(gray, pts)
        if region is not None and self._previous is not None and self._previous.shape == gray.shape:
            rows, cols = region
            keep = eyes_mask(pts, rows, cols)
            diff = np.abs(gray[rows, cols].astype(np.int16) - self._previous[rows, cols].astype(np.int16))
            if keep.any():
                change = float(diff[keep].mean())
        self._previous = gray
        try:
            contrast = float(np.mean([lash_contrast(eye_patch(gray, pts[s:s + 6])) for s in (36, 42)]))
        except ValueError:
            contrast = float("nan")
        return FrameCues(change, contrast)
