"""The kiosk's liveness checks applied to a finished burst of frames (what the hub runs on a phone's burst).

The phone page cannot run dlib, so it records a short burst while it shows
the challenge the hub drew with the punch nonce, and the hub judges the
burst afterwards with the very checker a kiosk runs live
(``kiosk.liveness.LivenessChecker``, pixel cues included). Pure logic:
callers pass timestamps, landmarks and frames; nothing here decodes images
or runs a model, so the hub and the tests share one definition.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kiosk.liveness.checker import LivenessChecker
from kiosk.liveness.config import LivenessConfig
from kiosk.liveness.state import LivenessState

Challenge = Literal["blink", "turn_left", "turn_right"]
CHALLENGES: tuple[Challenge, ...] = ("blink", "turn_left", "turn_right")


@dataclass(frozen=True)
class BurstFrame:
    """One frame of a burst: seconds since the burst began, the face's 68 landmarks, the RGB frame."""

    ts: float
    landmarks: np.ndarray
    rgb: np.ndarray


@dataclass(frozen=True)
class BurstVerdict:
    """The checker's last word on the burst, and the frame it passed on (None when it never did).

    ``frames_after_pass`` is how many frames followed the pass: a pass on the
    very last frames leaves no room to see the face stay live, so the hub
    treats it as a weak pass (flagged), like a shallow blink (``score``).
    """

    state: LivenessState
    passed_at: int | None
    frames_after_pass: int


def challenge_config(base: LivenessConfig, challenge: Challenge) -> LivenessConfig:
    """The kiosk config narrowed to the one action the hub asked for (its side fixed, not random)."""
    if challenge not in CHALLENGES:
        raise ValueError(f"unknown challenge {challenge!r}; expected one of {CHALLENGES}")
    if challenge == "blink":
        return base.model_copy(update={"mode": "blink"})
    return base.model_copy(update={"mode": "head_turn", "head_turn_direction": challenge.removeprefix("turn_")})


def judge_burst(config: LivenessConfig, challenge: Challenge, frames: Sequence[BurstFrame]) -> BurstVerdict:
    """Feed every frame of the burst to a fresh checker for ``challenge``; passed once it passed.

    A blink passes on the frame the eyes reopen and lapses ``blink_window_s``
    later; a burst is shorter than that, so the first pass stands unless a
    later frame reads as a still image (frames that stop changing), which
    voids it. Timestamps must be finite and non-decreasing (the checker
    refuses others with ValueError).
    """
    checker = LivenessChecker(challenge_config(config, challenge), rng=random.Random(0))
    passed_at: int | None = None
    best: LivenessState | None = None
    state = LivenessState(False, 0.0, "no_frames", config.mode)
    for i, frame in enumerate(frames):
        size = (frame.rgb.shape[1], frame.rgb.shape[0])
        state = checker.feed(frame.ts, frame.landmarks, size, frame.rgb)
        if state.reason == "still_image":
            return BurstVerdict(state, None, 0)
        if state.passed and passed_at is None:
            passed_at, best = i, state
    if passed_at is None:
        return BurstVerdict(state, None, 0)
    return BurstVerdict(best, passed_at, len(frames) - 1 - passed_at)


def is_plausible_timing(times_s: Sequence[float], *, max_span_s: float, min_step_s: float = 0.02) -> bool:
    """Whether burst timestamps can come from a camera: finite, from 0, rising by at least ``min_step_s``,
    within ``max_span_s`` (frames claimed 1 ms apart would make any motion look slow, or any change fast)."""
    if not times_s or not all(math.isfinite(t) for t in times_s) or times_s[0] < 0:
        return False
    steps = np.diff(np.asarray(times_s, dtype=np.float64))
    return bool(np.all(steps >= min_step_s)) and times_s[-1] - times_s[0] <= max_span_s
