"""The kiosk's decision state machine: idle -> checking -> accepted/refused -> cooldown.

One attempt belongs to the face in front of the kiosk. It ends:
- accepted: the same person named on ``required_frames`` agreeing frames
  (``Consensus``) and liveness passed, and not punched within
  ``repunch_suppress_s`` (then "already punched at 09:14", no new punch);
- refused because of the clock: named and live, but the device clock is
  obviously wrong (kiosk/clock.py), so no punch could carry an honest time;
- refused: not recognised on several frames in a row, or no decision within
  ``attempt_timeout_s`` (liveness never passed, the face stayed uncertain or
  kept failing a quality gate).
After a decision the kiosk rests for ``cooldown_s`` so one visit makes one
punch and the light/sound stays readable; then a new attempt can start.

Pure logic: observations in, ``Outcome`` out; attempts are timed by the
frame timestamp, repeat punches by the monotonic clock (``RepunchGuard``).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kiosk.consensus import PROMPTS as CONSENSUS_PROMPTS
from kiosk.consensus import Consensus
from kiosk.liveness import PROMPTS as LIVENESS_PROMPTS
from kiosk.liveness import LivenessChecker, LivenessConfig, LivenessState
from kiosk.messages import Message, messages
from kiosk.outbox import RememberedPunch
from kiosk.pipeline import Observation

log = logging.getLogger(__name__)

State = Literal["idle", "checking", "keypad", "verifying", "consent", "enrolling", "accepted", "already", "refused",
                "cooldown"]
DECIDED = ("accepted", "already", "refused", "cooldown")  # an attempt ended; the rest after it may still run

# (English, Hindi) pairs from the catalogue; each also carries its key for the screen and voice (kiosk/messages.py)
MESSAGES: dict[str, tuple[str, str]] = {
    **messages("kiosk.decision.", ("accepted", "already")),
    "not_recognised": CONSENSUS_PROMPTS["not_recognised"],
    **messages("kiosk.refused.", ("liveness_failed", "timeout", "cannot_save", "clock_unset")),
    # the staff-number fallback (kiosk/fallback.py): {employee_id} is the number typed so far / entered
    "keypad": Message("kiosk.state.keypad"),
    "verifying": Message("kiosk.state.verifying"),
    **messages("kiosk.refused.", ("id_mismatch", "assisted")),
}


class DecisionConfig(BaseModel):
    """How an attempt is decided (``decision:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    required_frames: int = Field(3, ge=1, description="agreeing frames needed to name someone")
    unknown_frames: int = Field(5, ge=1, description="unknown frames in a row before 'not recognised'")
    look_again_frames: int = Field(
        8, ge=1,
        description="unknown or 'look again' (uncertain) frames with no accept between before 'not recognised' "
                    "(or the keypad, match.mode auto): look again is bounded, never held until attempt_timeout_s")
    max_gap_s: float = Field(1.0, gt=0, description="a longer gap between frames of a face starts over")
    attempt_timeout_s: float = Field(8.0, gt=0, description="an attempt without a decision ends after this long")
    cooldown_s: float = Field(1.0, ge=0, description="rest after a decision before a new attempt starts")
    lost_after_s: float = Field(1.0, gt=0, description="no face for this long ends the attempt")


@dataclass(frozen=True)
class PunchDecision:
    """An accepted person, with the evidence the punch records."""

    employee_id: str
    distance: float
    margin: float | None
    liveness: LivenessState
    method: str = "face"    # "face": named 1:N; "face+id": staff number typed, face verified 1:1


@dataclass(frozen=True)
class Outcome:
    state: State
    prompt: tuple[str, str] | None = None       # (English, Hindi) to show / say
    employee_id: str | None = None
    punch: PunchDecision | None = None          # set once, on the frame that accepts
    reason: str | None = None                   # refused / already: why


class RepunchGuard:
    """Remembers who punched when, so one person standing around makes one punch.

    Windows run on the monotonic clock: a wall clock stepped by NTP or by hand
    must neither stretch a window (a punch "in the future" kept for a day) nor
    end it early (a second punch after a step forward). The wall time is kept
    only to say "already punched at 09:14". ``KioskApp`` seeds the guard from
    the outbox database after a restart (``load``).
    """

    def __init__(self, suppress_s: float) -> None:
        self.suppress_s = suppress_s
        self._last: dict[str, tuple[float, datetime]] = {}    # employee -> (monotonic, wall) of the punch

    def last_punch(self, employee_id: str, mono_s: float) -> datetime | None:
        """Wall time of this person's punch within the window, or None."""
        seen = self._last.get(employee_id)
        if seen is None or mono_s - seen[0] >= self.suppress_s:
            return None
        return seen[1]

    def forget(self, employee_id: str) -> None:
        """Undo ``record``: the punch could not be saved, so the next attempt must not say "already"."""
        self._last.pop(employee_id, None)

    def record(self, employee_id: str, mono_s: float, wall: datetime) -> None:
        self._last[employee_id] = (mono_s, wall)
        for old in [e for e, (m, _) in self._last.items() if mono_s - m >= self.suppress_s]:
            del self._last[old]

    def load(self, remembered: Iterable[RememberedPunch], *, wall_epoch: float, mono_s: float, boot_id: str,
             zone: tzinfo) -> list[RememberedPunch]:
        """Take over the punches a previous run remembered; returns those still within the window,
        re-dated to this boot's monotonic clock, for the caller to store back (so a punch re-dated
        once is not re-dated again by the next restart)."""
        kept = []
        for punch in remembered:
            at = carried_over(punch, wall_epoch=wall_epoch, mono_s=mono_s, boot_id=boot_id)
            if mono_s - at < self.suppress_s:
                self._last[punch.employee_id] = (at, datetime.fromtimestamp(punch.wall_epoch, zone))
                kept.append(replace(punch, mono_s=at, boot_id=boot_id))
        return kept


def carried_over(punch: RememberedPunch, *, wall_epoch: float, mono_s: float, boot_id: str) -> float:
    """When a remembered punch happened, on this run's monotonic clock.

    In the same boot the monotonic clock is the same one: exact, whatever the
    wall clock did. After a reboot only the wall clock can tell its age; a
    punch dated in the device's future (the clock was ahead and has been
    corrected) counts as just now, so it is remembered for one window, never
    until the wall clock catches up.
    """
    if boot_id and punch.boot_id == boot_id:
        return punch.mono_s
    return mono_s - max(0.0, wall_epoch - punch.wall_epoch)


class DecisionMachine:
    """Feeds observations of the face in front of the kiosk to one attempt at a time."""

    def __init__(self, config: DecisionConfig, liveness: LivenessConfig, guard: RepunchGuard,
                 names: Callable[[str], str] = str, clock_ok: Callable[[], bool] | None = None) -> None:
        self.config = config
        self.guard = guard
        self.names = names
        self.clock_ok = clock_ok    # False: the wall clock is obviously wrong, refuse to punch
        self.liveness = LivenessChecker(liveness)
        self.consensus = Consensus(config.required_frames, config.unknown_frames, config.max_gap_s,
                                   config.look_again_frames)
        self.state: State = "idle"
        self._started = 0.0
        self._last_face = 0.0
        self._decided_at = 0.0
        self._liveness: LivenessState | None = None

    def resting(self, ts: float) -> bool:
        """In the cooldown after a decision: the frame at ``ts`` need not be analysed at all."""
        return self.state in DECIDED and ts - self._decided_at < self.config.cooldown_s

    def feed(self, obs: Observation, wall: datetime, mono_s: float) -> Outcome:
        """One frame; ``wall`` is the device's wall-clock time of the frame (for messages and punches),
        ``mono_s`` the monotonic time (for the repeat-punch window)."""
        if self.resting(obs.ts):
            self.state = "cooldown"
            return Outcome("cooldown")
        if self.state in DECIDED:
            self.state = "idle"
        if obs.face is None:
            if self.state == "checking" and obs.ts - self._last_face >= self.config.lost_after_s:
                self.state = "idle"
            return Outcome(self.state)
        if self.state == "idle":
            self._begin(obs.ts)
        self._last_face = obs.ts
        return self._check(obs, wall, mono_s)

    def _begin(self, ts: float) -> None:
        self.state = "checking"
        self._started = ts
        self._liveness = None
        self.consensus.reset()
        self.liveness.reset()

    def _check(self, obs: Observation, wall: datetime, mono_s: float) -> Outcome:
        if self.liveness.config.mode == "off":
            # Nothing to check, so nothing to wait for: a frame without
            # landmarks must not hold the attempt until it times out.
            self._liveness = LivenessState(True, 0.0, None, "off")
        elif obs.landmarks is not None:
            self._liveness = self.liveness.feed(obs.ts, obs.landmarks, obs.image_size, obs.frame, ir=obs.ir)
        prompt: tuple[str, str] | None = None
        named = False
        quality = obs.quality
        if quality is not None and quality.instruction is not None:
            prompt = quality.instruction.message
        if obs.match is not None:
            verdict = self.consensus.feed(obs.ts, obs.match)
            if verdict.verdict == "refuse":
                return self._decide("refused", reason="not_recognised", ts=obs.ts, wall=wall)
            if verdict.verdict == "accept":
                named = True
                live = self._liveness
                if live is not None and live.passed:
                    return self._accept(verdict.employee_id, verdict.distance, verdict.margin, live, obs.ts,
                                        wall, mono_s)
                reason = live.reason if live is not None else None
                prompt = LIVENESS_PROMPTS.get(reason or "", None) or self.liveness.prompt
            elif verdict.prompt and prompt is None:
                prompt = CONSENSUS_PROMPTS[verdict.prompt]
        if obs.ts - self._started >= self.config.attempt_timeout_s:
            return self._decide("refused", reason="liveness_failed" if named else "timeout",
                                ts=obs.ts, wall=wall)
        return Outcome("checking", prompt=prompt)

    def begin(self, ts: float) -> None:
        """Start an attempt now, whatever the state (the staff-number fallback takes over the face)."""
        self._begin(ts)
        self._last_face = ts

    def accept(self, employee_id: str, distance: float, margin: float | None, live: LivenessState, ts: float,
               wall: datetime, mono_s: float, method: str = "face") -> Outcome:
        """Accept someone named by other means (kiosk/fallback.py): the same clock, repeat and message rules."""
        return self._accept(employee_id, distance, margin, live, ts, wall, mono_s, method)

    def conclude(self, state: State, *, ts: float, wall: datetime, reason: str | None = None,
                 employee_id: str | None = None, prompt: tuple[str, str] | None = None) -> Outcome:
        """End the attempt with a decision made elsewhere (kiosk/fallback.py); the cooldown follows as usual."""
        return self._decide(state, ts=ts, wall=wall, reason=reason, employee_id=employee_id, prompt=prompt)

    def _accept(self, employee_id: str, distance: float, margin: float | None, live: LivenessState,
                ts: float, wall: datetime, mono_s: float, method: str = "face") -> Outcome:
        name = self.names(employee_id)
        if self.clock_ok is not None and not self.clock_ok():
            return self._decide("refused", reason="clock_unset", ts=ts, wall=wall, employee_id=employee_id)
        earlier = self.guard.last_punch(employee_id, mono_s)
        if earlier is not None:
            return self._decide("already", reason="already", ts=ts, wall=wall, employee_id=employee_id,
                                prompt=_fill(MESSAGES["already"], name, earlier))
        self.guard.record(employee_id, mono_s, wall)
        decision = PunchDecision(employee_id, distance, margin, live, method)
        return self._decide("accepted", ts=ts, wall=wall, employee_id=employee_id, punch=decision,
                            prompt=_fill(MESSAGES["accepted"], name, wall))

    def _decide(self, state: State, *, ts: float, wall: datetime, reason: str | None = None,
                employee_id: str | None = None, punch: PunchDecision | None = None,
                prompt: tuple[str, str] | None = None) -> Outcome:
        self.state = state
        self._decided_at = ts
        if prompt is None and reason is not None:
            prompt = MESSAGES[reason]
        log.info("attempt %s%s%s", state, f" ({reason})" if reason else "",
                 f": {employee_id}" if employee_id else "")
        return Outcome(state, prompt=prompt, employee_id=employee_id, punch=punch, reason=reason)


def _fill(template: tuple[str, str], name: str, when: datetime) -> tuple[str, str]:
    hhmm = when.strftime("%H:%M")
    if isinstance(template, Message):
        return template.with_params(name=name, time=hhmm)
    return tuple(t.format(name=name, time=hhmm) for t in template)  # type: ignore[return-value]
