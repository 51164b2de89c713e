"""Enrolment at the kiosk: consent on screen, then a few good frames, encoded here.

The hub's ``enrol`` command names a person. For ``consent_s`` the screen
shows the consent text (``kiosk.state.consent``: whose face is taken, what
for, "step away if you do not agree"); no frame is used meanwhile. Then each
frame goes through the kiosk's own quality gate (kiosk/quality.py, with
"one person at a time" blocking, so nobody else's face is enrolled) and a
frame that passes becomes one 128-d template (``kiosk.state.enrolling``
says how many are done). With ``frames`` templates the capture ends
``ok``; at ``timeout_s`` after consent it ends failed, saying why. Only
templates leave the kiosk (in the signed ``cmd/result``), never frames.

While an enrolment runs, frames go here instead of to punching
(``KioskApp.process``). Pure of I/O apart from the encoder; the clock is passed in.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from biometrics.encoder import FaceEncoder
from hardware.camera import Frame
from kiosk.decision import Outcome, State
from kiosk.messages import Message
from kiosk.quality import QualityConfig, assess
from protocol import messages

log = logging.getLogger(__name__)

SAME_FRAME_DISTANCE = 1e-6  # a template this close to one already taken is the same still image again

# (command id, ok, detail, base64 templates): the capture has ended
DoneHandler = Callable[[str, bool, str, list[str]], None]


@dataclass
class _Capture:
    command_id: str
    args: messages.EnrolArgs
    started_s: float
    templates: list[np.ndarray] = field(default_factory=list)
    last_problem: str = "no face seen"


class EnrolCapture:
    """One enrolment at a time; ``begin`` from the link's thread, ``feed`` from the frame loop."""

    def __init__(self, encoder: FaceEncoder, quality: QualityConfig, on_done: DoneHandler, *,
                 upsample: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.encoder = encoder
        self.quality = quality.model_copy(update={"multiple_faces_block": True})
        self.on_done = on_done
        self.upsample = upsample
        self.clock = clock
        self._lock = threading.Lock()
        self._current: _Capture | None = None

    @property
    def active(self) -> bool:
        return self._current is not None

    def begin(self, command_id: str, args: messages.EnrolArgs) -> str | None:
        """Start capturing; the reason it cannot (another enrolment is running), else None."""
        with self._lock:
            if self._current is not None:
                return f"another enrolment ({self._current.args.employee_id}) is running; try again after it"
            self._current = _Capture(command_id, args, self.clock())
        log.info("enrolment %s of %s: consent shown for %.0f s", command_id, args.employee_id, args.consent_s)
        return None

    def feed(self, frame: Frame) -> Outcome:
        """Use one frame; what the screen shows now."""
        capture = self._current
        if capture is None:
            return Outcome("idle")
        args = capture.args
        elapsed = self.clock() - capture.started_s
        if elapsed < args.consent_s:
            return _outcome("consent", name=args.name or args.employee_id)
        if elapsed > args.consent_s + args.timeout_s:
            self._finish(capture, False, f"only {len(capture.templates)} of {args.frames} good frames within "
                                         f"{args.timeout_s:.0f} s (last problem: {capture.last_problem})")
            return Outcome("idle")
        self._take(capture, frame)
        if len(capture.templates) >= args.frames:
            self._finish(capture, True, f"{len(capture.templates)} templates of {args.employee_id}")
            return Outcome("idle")
        return _outcome("enrolling", done=len(capture.templates), total=args.frames)

    def _take(self, capture: _Capture, frame: Frame) -> None:
        rgb = frame.rgb
        boxes = sorted(self.encoder.detect(rgb, self.upsample), key=lambda b: b.area, reverse=True)
        if not boxes:
            capture.last_problem = "no face seen"
            return
        report = assess(rgb, boxes, self.encoder.landmarks68(rgb, boxes[0]), self.quality)
        if not report.ok:
            capture.last_problem = report.instruction.code if report.instruction else "quality"
            return
        template = self.encoder.encode(rgb, boxes[report.face_index or 0]).astype(np.float32)
        if any(float(np.linalg.norm(template - t)) < SAME_FRAME_DISTANCE for t in capture.templates):
            return
        capture.templates.append(template)
        log.info("enrolment %s: good frame %d of %d", capture.command_id, len(capture.templates), capture.args.frames)

    def _finish(self, capture: _Capture, ok: bool, detail: str) -> None:
        with self._lock:
            self._current = None
        log.info("enrolment %s of %s %s: %s", capture.command_id, capture.args.employee_id,
                 "done" if ok else "failed", detail)
        templates = [messages.encode_template(t) for t in capture.templates] if ok else []
        self.on_done(capture.command_id, ok, detail, templates)


def _outcome(state: str, **params: object) -> Outcome:
    """The screen's state (``kiosk.state.<state>``), its parameters carried to the screen and voice."""
    return Outcome(cast(State, state), prompt=Message(f"kiosk.state.{state}", **params))
