"""What every liveness check returns, and the clock they all keep."""

import math
from dataclasses import dataclass

from protocol.messages import LivenessInfo


@dataclass(frozen=True)
class LivenessState:
    passed: bool
    score: float           # 0..1: blink depth, or head-turn progress
    reason: str | None     # why not (yet) passed; None when passed
    method: str = "blink"  # what was checked: blink, head_turn, off


class FrameClock:
    """Rejects time going backwards: a reordered frame would fake a blink."""

    def __init__(self) -> None:
        self.last: float | None = None

    def tick(self, ts: float) -> None:
        if not math.isfinite(ts) or (self.last is not None and ts < self.last):
            raise ValueError(f"timestamps must be finite and non-decreasing: {ts!r} after {self.last!r}")
        self.last = ts


def liveness_info(state: LivenessState) -> LivenessInfo | None:
    """What the punch records; None when liveness is off (not checked)."""
    if state.method == "off":
        return None
    return LivenessInfo(passed=state.passed, score=round(state.score, 3), method=state.method)
