"""Multi-frame decision for one tracked face: name someone only after agreeing frames.

A single frame can be lucky; a name on the screen is a punch. ``Consensus``
takes the per-frame ``MatchResult`` of one tracked face and answers:

- ``accept`` after ``required_frames`` accepts *in a row* for the same
  person (an ``uncertain`` frame in between neither counts nor breaks the
  run; an ``unknown`` frame or an accept for someone else starts over);
- ``refuse`` after ``unknown_frames`` unknown frames with no accept in
  between ("not recognised"; uncertain frames do not reset that count), or
  after ``look_again_frames`` unknown *or* uncertain frames with no accept in
  between: "look again" is bounded, so a face that stays only near someone
  is refused (or offered the keypad, kiosk/fallback.py) after a few frames
  instead of holding the kiosk until the attempt times out;
- ``pending`` otherwise, with a prompt ("look at the camera again" after an
  uncertain frame).

An ``uncertain`` frame never starts a run for its closest person: a face that
is only *near* someone is not evidence for them. A gap longer than
``max_gap_s`` between frames means the track was lost, and everything starts
over. Once decided, the verdict stays until ``reset()`` (the next person).

Consecutive frames of one person are strongly correlated, so three agreeing
frames do not make an error three times as unlikely in the exponent; they
mainly stop a single odd frame (motion blur, a half-turned face) from
deciding.
"""

import math
from dataclasses import dataclass
from typing import Literal

from biometrics.matcher import MatchResult
from kiosk.messages import Message, messages

Verdict = Literal["pending", "accept", "refuse"]

# (English, Hindi) pairs from the catalogue (kiosk.prompt.*, kiosk.refused.not_recognised)
PROMPTS: dict[str, tuple[str, str]] = {
    **messages("kiosk.prompt.", ("look_again", "hold_still")),
    "not_recognised": Message("kiosk.refused.not_recognised"),
}


@dataclass(frozen=True)
class ConsensusState:
    verdict: Verdict
    employee_id: str | None = None  # set when verdict == "accept"
    streak: int = 0                 # agreeing accepts so far for ``candidate``
    candidate: str | None = None    # who the current run of accepts names
    prompt: str | None = None       # a key of PROMPTS, or None
    distance: float | None = None   # accept: the worst (largest) distance of the agreeing frames
    margin: float | None = None     # accept: the worst (smallest) margin of those frames


class Consensus:
    """Agreement over consecutive frames of one tracked face."""

    def __init__(self, required_frames: int = 3, unknown_frames: int = 5, max_gap_s: float = 1.0,
                 look_again_frames: int = 8) -> None:
        if required_frames < 1 or unknown_frames < 1 or look_again_frames < 1:
            raise ValueError("required_frames, unknown_frames and look_again_frames must be at least 1")
        if not max_gap_s > 0:
            raise ValueError("max_gap_s must be positive")
        self.required_frames = required_frames
        self.unknown_frames = unknown_frames
        self.max_gap_s = max_gap_s
        self.look_again_frames = look_again_frames
        self.reset()

    @property
    def decided(self) -> bool:
        """A verdict is final: further frames cannot change it until ``reset()``."""
        return self._final is not None

    def reset(self) -> None:
        self._last_ts: float | None = None
        self._final: ConsensusState | None = None
        self._clear_runs()

    def _clear_runs(self) -> None:
        self._candidate: str | None = None
        self._run: list[MatchResult] = []
        self._unknown_run = 0
        self._doubt_run = 0   # unknown or uncertain frames since the last accept

    def feed(self, ts: float, result: MatchResult) -> ConsensusState:
        if not math.isfinite(ts) or (self._last_ts is not None and ts < self._last_ts):
            raise ValueError(f"timestamps must be finite and non-decreasing: {ts!r} after {self._last_ts!r}")
        if self._final is not None:
            return self._final
        if self._last_ts is not None and ts - self._last_ts > self.max_gap_s:
            self._clear_runs()
        self._last_ts = ts
        if result.decision == "accept":
            return self._on_accept(result)
        if result.decision not in ("uncertain", "unknown"):
            raise ValueError(f"unexpected match decision {result.decision!r}")
        self._doubt_run += 1
        if result.decision == "unknown":
            self._candidate, self._run = None, []
            self._unknown_run += 1
        if self._unknown_run >= self.unknown_frames or self._doubt_run >= self.look_again_frames:
            self._final = ConsensusState("refuse", prompt="not_recognised")
            return self._final
        return self._pending("look_again")

    def _on_accept(self, result: MatchResult) -> ConsensusState:
        if result.employee_id is None:
            raise ValueError("an accept MatchResult must name an employee_id")
        self._unknown_run = self._doubt_run = 0
        if result.employee_id != self._candidate:
            self._candidate, self._run = result.employee_id, []
        self._run.append(result)
        if len(self._run) >= self.required_frames:
            margins = [r.margin for r in self._run if r.margin is not None]
            self._final = ConsensusState(
                "accept", employee_id=self._candidate, streak=len(self._run), candidate=self._candidate,
                distance=max(r.distance for r in self._run), margin=min(margins) if margins else None,
            )
            return self._final
        return self._pending("hold_still")

    def _pending(self, prompt: str) -> ConsensusState:
        return ConsensusState("pending", streak=len(self._run), candidate=self._candidate, prompt=prompt)
