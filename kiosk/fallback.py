"""The staff-number fallback: type your number, then the live face is checked 1:1 against that person.

Open-set 1:N naming gets harder as the gallery grows (a stranger is close to
*someone* more often, BENCHMARKS-accuracy.md), and some faces stay "look
again". A typed staff number turns the question into 1:1: is this live face
the person of that number (``biometrics.matcher.verify``, closest template,
at ``match.verify_distance``), with the same liveness check as ever.

``match.mode`` (a site setting):
- ``identify``: the face alone, as before; the keypad is not used;
- ``verify_with_id``: the number first, always;
- ``auto``: the face alone while the gallery holds at most ``auto_max_people``
  people; above that the number first; and whenever the face is refused
  "not recognised" (after the bounded look-again, kiosk/consensus.py) the
  keypad is offered instead of the red light.

A 1:1 that fails is never a punch: the attempt ends ``refused`` with reason
``id_mismatch`` and ``failed`` says what was claimed, for the kiosk to keep
as an assisted attempt for the officer (kiosk/assisted.py).

Pure logic like kiosk/decision.py, whose ``DecisionMachine`` still owns the
attempt's liveness, the repeat-punch rule, the clock check and the cooldown.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from biometrics.matcher import VERIFY_ACCEPT_DISTANCE, verify
from kiosk.decision import MESSAGES, DecisionMachine, Outcome
from kiosk.messages import Message
from kiosk.keypad import EvdevKeypad, FakeKeypad, Keypad, KeypadEntry
from kiosk.liveness import PROMPTS as LIVENESS_PROMPTS
from kiosk.liveness import LivenessState
from kiosk.pipeline import Observation

log = logging.getLogger(__name__)

Mode = Literal["identify", "verify_with_id", "auto"]
Phase = Literal["face", "keypad", "verifying"]
METHOD = "face+id"  # the punch's ``method`` when the number was typed and the face verified 1:1


class KeypadConfig(BaseModel):
    """The staff-number keypad (``match.keypad:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "evdev", "fake"] = Field(
        "none", description="none; evdev: a USB keypad or keyboard as a Linux input device; fake: keys typed by "
                            "a test or bench (kiosk/keypad.py)")
    device: Path | None = Field(None, description="evdev: /dev/input/by-id/... of the keypad")
    max_digits: int = Field(12, ge=1, le=32, description="longest staff number accepted")


class MatchConfig(BaseModel):
    """How a person is found (``match:`` in kiosk.yaml): by face alone, or by staff number and face."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        "identify",
        description="identify: face alone; verify_with_id: staff number first, face checked 1:1; auto: face alone "
                    "while the gallery holds at most auto_max_people, else the number first, and the keypad "
                    "offered after 'not recognised'")
    auto_max_people: int = Field(
        500, ge=0,
        description="auto: above this many people in the gallery ask for the staff number first "
                    "(a stranger's chance of being near someone grows with the gallery, BENCHMARKS-accuracy.md)")
    verify_distance: float = Field(
        VERIFY_ACCEPT_DISTANCE, gt=0, lt=2,
        description="1:1 accept under this score (biometrics.matcher.verify, scored as 1:N matching is); chosen on "
                    "calib's tuning half for strangers accepted <= 0.05% (BENCHMARKS-accuracy-calib.md); keep it "
                    "at or under the hub's punches.max_match_distance")
    keypad_timeout_s: float = Field(20.0, gt=0, description="no key for this long ends the entry")
    keep_snapshots: bool = Field(
        False,
        description="keep a face photo with each assisted attempt for the officer (only where the site allows "
                    "kiosks to keep photos; otherwise the attempt is kept without one)")
    keypad: KeypadConfig = Field(default_factory=KeypadConfig)


@dataclass(frozen=True)
class FailedAttempt:
    """A staff number whose 1:1 check failed: what the assisted record keeps."""

    claimed_id: str
    distance: float | None      # the closest 1:1 distance seen; None: no face was checked
    liveness_passed: bool
    known: bool                 # the number is in this kiosk's gallery


def fill(key: str, **values: str) -> Message:
    """A fallback message (a catalogue ``Message``) with its parameters filled in."""
    return MESSAGES[key].with_params(**values)


class FallbackFlow:
    """One kiosk's attempts: the face (``DecisionMachine``), or the staff number and a 1:1 check."""

    def __init__(self, config: MatchConfig, machine: DecisionMachine, keypad: Keypad | None,
                 templates: Callable[[str], list[np.ndarray]], people: Callable[[], int]) -> None:
        self.config = config
        self.machine = machine
        self.keypad = keypad if config.mode != "identify" else None
        self.templates = templates
        self.people = people
        self.entry = KeypadEntry(config.keypad.max_digits)
        self.phase: Phase = "face"
        self.failed: FailedAttempt | None = None     # set with each id_mismatch outcome
        self._since = 0.0                            # start of the keypad entry / of the 1:1 check
        self._claimed = ""
        self._claimed_templates: list[np.ndarray] = []
        self._passes: list[float] = []
        self._fails = 0
        self._best: float | None = None
        self._checked = 0                            # frames whose face was checked 1:1
        self._live: LivenessState | None = None
        self._typed = False                          # a key was pressed in this entry

    def resting(self, ts: float) -> bool:
        """In the cooldown after a decision (the frame need not be analysed)."""
        return self.phase == "face" and self.machine.resting(ts)

    def number_first(self) -> bool:
        """Whether this kiosk asks for the staff number before looking at the face."""
        if self.keypad is None:
            return False
        return self.config.mode == "verify_with_id" or self.people() > self.config.auto_max_people

    def feed(self, obs: Observation, wall: datetime, mono_s: float) -> Outcome:
        keys = self.keypad.poll() if self.keypad is not None else []
        if self.phase == "face":
            if self.resting(obs.ts) or self.keypad is None:
                return self.machine.feed(obs, wall, mono_s)
            if keys or (obs.face is not None and self.number_first()):
                self._ask_number(obs.ts)
            else:
                outcome = self.machine.feed(obs, wall, mono_s)
                if outcome.state == "refused" and outcome.reason == "not_recognised" and self.config.mode == "auto":
                    log.info("not recognised: staff number offered")
                    self._ask_number(obs.ts)
                    return Outcome("keypad", prompt=fill("keypad", employee_id=""))
                return outcome
        live = self._liveness(obs)
        if self.phase == "keypad":
            return self._keypad(obs, keys, wall)
        return self._verify(obs, live, wall, mono_s)

    # -- phases ---------------------------------------------------------------------

    def _ask_number(self, ts: float) -> None:
        self.machine.begin(ts)         # a fresh attempt: liveness starts over with it
        self.phase, self._since = "keypad", ts
        self.entry.digits = ""
        self._live = None
        self._typed = False

    def _keypad(self, obs: Observation, keys: list[str], wall: datetime) -> Outcome:
        for key in keys:
            self._since, self._typed = obs.ts, True  # typing: the entry stays open
            number = self.entry.press(key)
            if number is not None:
                self._start_verify(number, obs.ts)
                return Outcome("verifying", prompt=fill("verifying", employee_id=number))
        if obs.ts - self._since >= self.config.keypad_timeout_s:
            self.phase = "face"
            if not self._typed:   # nobody took up the keypad (someone walking past): no red light, no buzzer
                self.machine.state = "idle"
                return Outcome("idle")
            return self.machine.conclude("refused", ts=obs.ts, wall=wall, reason="timeout")
        return Outcome("keypad", prompt=fill("keypad", employee_id=self.entry.digits))

    def _start_verify(self, number: str, ts: float) -> None:
        self.phase, self._since = "verifying", ts
        self._claimed = number
        self._claimed_templates = list(self.templates(number))
        self._passes, self._fails, self._best, self._checked = [], 0, None, 0
        log.info("staff number %s entered (%s): checking the face 1:1", number,
                 "known" if self._claimed_templates else "not in this kiosk's gallery")

    def _verify(self, obs: Observation, live: LivenessState | None, wall: datetime, mono_s: float) -> Outcome:
        decision = self.machine.config
        prompt = fill("verifying", employee_id=self._claimed)
        if obs.probe is not None:
            ok, distance = verify(self._claimed_templates, obs.probe, self.config.verify_distance)
            self._checked += 1
            if np.isfinite(distance):
                self._best = distance if self._best is None else min(self._best, distance)
            if ok:
                self._passes.append(distance)
                self._fails = 0
            else:
                self._passes, self._fails = [], self._fails + 1
            if self._fails >= decision.unknown_frames:
                return self._mismatch(obs.ts, wall, live)
        matched = len(self._passes) >= decision.required_frames
        if matched and live is not None and live.passed:
            self.phase = "face"
            return self.machine.accept(self._claimed, max(self._passes), None, live, obs.ts, wall, mono_s, METHOD)
        if matched:
            prompt = LIVENESS_PROMPTS.get((live.reason if live else None) or "", None) or \
                self.machine.liveness.prompt or prompt
        if obs.ts - self._since >= decision.attempt_timeout_s:
            if matched or not self._checked:   # live face never shown, or no face to check at all
                self.phase = "face"
                return self.machine.conclude("refused", ts=obs.ts, wall=wall,
                                             reason="liveness_failed" if matched else "timeout")
            return self._mismatch(obs.ts, wall, live)
        return Outcome("verifying", prompt=prompt)

    def _mismatch(self, ts: float, wall: datetime, live: LivenessState | None) -> Outcome:
        self.phase = "face"
        self.failed = FailedAttempt(self._claimed, self._best, bool(live and live.passed),
                                    bool(self._claimed_templates))
        return self.machine.conclude("refused", ts=ts, wall=wall, reason="id_mismatch",
                                     prompt=fill("id_mismatch", employee_id=self._claimed))

    def _liveness(self, obs: Observation) -> LivenessState | None:
        """The attempt's liveness, fed with every frame of the fallback as the face path does."""
        checker = self.machine.liveness
        if checker.config.mode == "off":
            return LivenessState(True, 0.0, None, "off")
        if obs.landmarks is not None:
            self._live = checker.feed(obs.ts, obs.landmarks, obs.image_size)
        return self._live


def keypad_of(config: KeypadConfig) -> Keypad | None:
    """The keypad kiosk.yaml names (``match.keypad``); None without one."""
    if config.kind == "evdev":
        if config.device is None:
            raise ValueError("match.keypad.kind evdev needs match.keypad.device")
        return EvdevKeypad(config.device)
    if config.kind == "fake":
        return FakeKeypad()
    return None
