"""The per-site mode applied to one tracked face: blink, head turn, either, or both in a random order."""

import math
import random
from collections import deque
from typing import Literal

import numpy as np

from kiosk.liveness.blink import BlinkDetector
from kiosk.liveness.challenge import BlinkTurnChallenge
from kiosk.liveness.config import LivenessConfig
from kiosk.liveness.ir import IR_SPOOF, IrCues
from kiosk.liveness.pixels import FrameCues, PixelCues
from kiosk.liveness.state import LivenessState
from kiosk.liveness.turn import HeadTurnChallenge
from kiosk.messages import messages

# (English, Hindi) pairs from the catalogue (kiosk.prompt.*)
PROMPTS: dict[str, tuple[str, str]] = messages(
    "kiosk.prompt.", ("blink", "turn_left", "turn_right", "still_image", "pose_jump", "face_too_small"))
PROMPTS.update({reason: PROMPTS["still_image"] for reason in IR_SPOOF})  # dark or flat in IR: a screen or a print


class LivenessChecker:
    """The per-site mode applied to one tracked face; ``reset()`` for the next person.

    Call ``feed(ts, landmarks, image_size, frame)`` on every frame of the
    track, with ``ts`` in seconds (monotonic, non-decreasing), the (68, 2)
    landmarks of ``FaceEncoder.landmarks68``, the frame's (width, height)
    and the frame itself (RGB; for the pixel cues of ``kiosk.liveness.pixels``,
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
    or ``ir_pending`` (``kiosk.liveness.ir``).
    ``prompt`` is what to show. The per-track state means a new face must
    get ``reset()``, or one person's blink would vouch for the next.
    """

    def __init__(self, config: LivenessConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.reset()

    def reset(self) -> None:
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
