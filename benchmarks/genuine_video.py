"""The genuine side: a real person blinking (``../shared/faces/video/blink-1.mp4``) through the kiosk path.

A window is one simulated attempt: ``WINDOW_S`` seconds of the video fed to
a fresh ``LivenessChecker`` from its start, which is when the prompt is
shown. It *holds the asked action* when the first thing the eyes do after
its start is a blink, at least ``OPEN_BEFORE_S`` later (eyes open until
then, so the detector has its open-eye baseline), and early enough that
``AFTER_S`` of the window is left. Windows start every frame (0.1 s).

What this measures: the blink check's pass rate on real blinks, and the
delay from the blink (the video's annotated time) to the pass, which is
the liveness share of the decision time beyond the person's own reaction.
What it cannot: a head turn (the person never turns), so the turn step of
``blink_and_head_turn`` has no genuine measurement here.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import cached_arrays
from benchmarks.forgery_suite import cues_of
from benchmarks.liveness_frames import (
    CACHE,
    FPS,
    FRAME_SIZE,
    VIDEO_BLINKS_S,
    VIDEO_EYES_DOWN_S,
    kiosk_track,
    video_frames,
)
from biometrics.encoder import FaceEncoder
from kiosk.liveness import LivenessChecker, LivenessConfig
from kiosk.liveness.pixels import FrameCues

WINDOW_S = 3.0
OPEN_BEFORE_S = 1.0
AFTER_S = 0.6


@dataclass
class Window:
    start_s: float
    blink_s: float


@dataclass
class WindowResult:
    window: Window
    passed: bool
    delay_s: float | None   # pass time minus the blink's annotated time


def video_track(path: Path, encoder: FaceEncoder) -> dict[str, np.ndarray]:
    """Times, landmarks, found and pixel cues of the video at 10 fps (cached; frames decoded when needed)."""
    frames: list[np.ndarray] | None = None

    def built() -> list[np.ndarray]:
        nonlocal frames
        if frames is None:
            frames = video_frames(path)[1]
        return frames

    key = f"video-{path.stem}-{path.stat().st_size}"
    track = cached_arrays(CACHE, key, lambda: vars(kiosk_track(encoder, built())))
    from benchmarks.forgery_suite import CUES_VERSION
    cues = cached_arrays(CACHE, f"{key}-cues{CUES_VERSION}",
                         lambda: cues_of(built(), track["landmarks"], track["found"]))
    return {**track, **cues}


def windows(duration_s: float) -> list[Window]:
    """Every window start (one per frame) whose first event is a blink after a second of open eyes."""
    events = sorted([(b, "blink") for b in VIDEO_BLINKS_S] + [(a, "down") for a, _ in VIDEO_EYES_DOWN_S])
    out = []
    for k in range(int((duration_s - WINDOW_S) * FPS) + 1):
        start = k / FPS
        if any(a - 0.2 <= start <= b for a, b in VIDEO_EYES_DOWN_S):
            continue
        after = [(t, kind) for t, kind in events if t >= start - 0.1]
        if not after:
            continue
        t, kind = after[0]
        # the previous blink must be over (a blink lasts ~0.3 s) before the eyes count as open
        previous = [b for b in VIDEO_BLINKS_S if b < start - 0.1]
        if previous and start - previous[-1] < 0.3 - 1e-6:
            continue
        if kind == "blink" and t - start >= OPEN_BEFORE_S - 1e-6 and t + AFTER_S <= start + WINDOW_S + 1e-6:
            out.append(Window(start, t))
    return out


def run_window(data: dict[str, np.ndarray], window: Window, config: LivenessConfig, seed: int,
               blink_step: bool = False) -> WindowResult:
    """Feed the window; ``blink_step``: the blink-first order of blink_and_head_turn, passed = its first step."""
    checker = LivenessChecker(config, rng=random.Random(seed))
    if blink_step:
        checker.challenge.order = ("blink", "turn")
    first, last = int(round(window.start_s * FPS)), int(round((window.start_s + WINDOW_S) * FPS))
    for i in range(first, min(last, len(data["found"]))):
        if not data["found"][i]:
            continue
        ts = i / FPS
        cues = FrameCues(float(data["still_change"][i]), float(data["lash_contrast"][i]))
        state = checker.feed(ts, data["landmarks"][i], FRAME_SIZE, cues=cues)
        done = state.passed or (blink_step and checker.challenge.current == "turn")
        if done:
            return WindowResult(window, True, ts - window.blink_s)
    return WindowResult(window, False, None)


def whole_video_blinks(data: dict[str, np.ndarray], config: LivenessConfig) -> list[float]:
    """Times the blink detector counted a blink when fed the whole video (does one blink hide the next?)."""
    checker = LivenessChecker(config.model_copy(update={"mode": "blink"}))
    seen: set[float] = set()
    for i in range(len(data["found"])):
        if data["found"][i]:
            checker.feed(i / FPS, data["landmarks"][i], FRAME_SIZE)
            seen |= {reopened for reopened, _, _ in checker.blink._blinks}
    return sorted(seen)
