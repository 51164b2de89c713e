"""A blink counted against the person's own open eyes, and refused when a print or a painted photo fakes it."""

import math
from collections import deque
from typing import NamedTuple

import numpy as np

from kiosk.liveness.geometry import LEFT_EYE, RIGHT_EYE, brow_gap, check_landmarks, ear_of, face_aspect, landmark_motion
from kiosk.liveness.state import FrameClock, LivenessState


def _nanmedian(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


class _Sample(NamedTuple):
    ts: float
    ear: float
    aspect: float   # face_aspect
    left: float     # EAR of each eye
    right: float
    eye_px: float   # eye width, corner to corner
    brow: float     # brow_gap
    lash: float     # kiosk.liveness.pixels lash_contrast; NaN when the pixels were not given


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
        self._clock = FrameClock()
        self._samples: deque[_Sample] = deque()
        self._motions: deque[tuple[float, float]] = deque()  # ts, motion
        self._previous: np.ndarray | None = None
        self._phase = "start"  # start -> open -> closed -> open ...; too_long waits for open
        self._closure: dict | None = None
        self._blinks: deque[tuple[float, float, float]] = deque()  # ts of reopening, depth, ts the lids closed
        self._last_rejection: str | None = None

    def feed(self, ts: float, landmarks: np.ndarray, lash: float = math.nan) -> LivenessState:
        """One frame's landmarks, and its eyes' ``lash_contrast`` when the pixels were measured."""
        pts = check_landmarks(landmarks)
        self._clock.tick(ts)
        left, right = ear_of(pts[LEFT_EYE]), ear_of(pts[RIGHT_EYE])
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
