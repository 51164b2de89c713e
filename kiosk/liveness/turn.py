"""A head turn to one side and back, counted only with the nose parallax of a real head."""

from typing import Literal

import numpy as np

from biometrics.pose import head_pose
from kiosk.liveness.geometry import nose_offset
from kiosk.liveness.state import FrameClock, LivenessState


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
        self._clock = FrameClock()
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
