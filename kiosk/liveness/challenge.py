"""A blink *and* a head turn, in a random order, each within its own window after its prompt.

Why both: a photo alternated with a copy whose eyes are painted shut fakes a
blink, and a folded or curved print swung left and right can fake a turn,
but the two tricks need different props; asking for both, in an order the
forger cannot know in advance, with each action counted only after its own
prompt (a blink made before "please blink" does not count), leaves a doctored
photo with no prop that answers both (BENCHMARKS-liveness.md has the rates).

Pure logic on the landmarks of one tracked face, like ``kiosk.liveness``;
``LivenessChecker`` builds one per attempt.
"""

import logging
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from kiosk.liveness.blink import BlinkDetector
from kiosk.liveness.state import LivenessState
from kiosk.liveness.turn import HeadTurnChallenge

log = logging.getLogger(__name__)

Step = Literal["blink", "turn"]
METHOD = "blink_and_head_turn"


class BlinkTurnChallenge:
    """Asks for ``order[0]``, then ``order[1]``; each must be done within ``step_s`` of its prompt.

    A step's prompt counts as shown from the first frame fed in that step
    (the first frame of the attempt, or the frame after the previous step
    passed); the blink must *begin* then or later, and the turn is measured
    from where the head is in that step's first frames. The blink detector is
    fed every frame so its open-eye baseline is ready when the blink step
    starts; the turn challenge is made fresh for its step, and a pose jump in
    it fails the attempt.
    """

    def __init__(self, blink: BlinkDetector, make_turn: Callable[[], HeadTurnChallenge],
                 order: tuple[Step, Step], step_s: float) -> None:
        if sorted(order) != ["blink", "turn"]:
            raise ValueError(f"order must be blink and turn in some order, got {order!r}")
        self.blink = blink
        self.make_turn = make_turn
        self.order = order
        self.step_s = step_s
        self.turn: HeadTurnChallenge | None = None
        self._step = 0
        self._step_start: float | None = None
        self._result: LivenessState | None = None

    @property
    def current(self) -> Step | None:
        """The action asked now; None when the challenge is over."""
        return self.order[self._step] if self._step < len(self.order) and self._result is None else None

    def feed(self, ts: float, landmarks: np.ndarray, image_size: tuple[int, int],
             lash: float = math.nan) -> LivenessState:
        blink_state = self.blink.feed(ts, landmarks, lash)
        if self._result is not None:
            return self._result
        if self._step_start is None:
            self._step_start = ts
        if blink_state.reason == "still_image":
            return LivenessState(False, self._progress(), "still_image", METHOD)
        if self.order[self._step] == "blink":
            done = self.blink.blinked_since(self._step_start)
            reason = blink_state.reason or "no_blink"  # an earlier blink, before this prompt, does not count
        else:
            if self.turn is None:
                self.turn = self.make_turn()
            turn_state = self.turn.feed(ts, landmarks, image_size)
            if turn_state.reason == "pose_jump":
                return self._end(LivenessState(False, self._progress(), "pose_jump", METHOD))
            done, reason = turn_state.passed, turn_state.reason
        if done:
            log.debug("liveness step %s passed at %.2f s", self.order[self._step], ts)
            self._step += 1
            self._step_start = None  # the next prompt is shown from the next frame on
            if self._step == len(self.order):
                return self._end(LivenessState(True, 1.0, None, METHOD))
            return LivenessState(False, self._progress(), "next_step", METHOD)
        if ts - self._step_start > self.step_s:
            return self._end(LivenessState(False, self._progress(), "timeout", METHOD))
        return LivenessState(False, self._progress(), reason, METHOD)

    def _progress(self) -> float:
        return self._step / len(self.order)

    def _end(self, state: LivenessState) -> LivenessState:
        self._result = state
        return state
