"""The on-screen overlay: the camera picture with the face box, name, time and what to do.

``render`` is pure (frame in, BGR picture out) so it is tested headless;
``WindowDisplay`` shows it in an OpenCV window on the kiosk's screen. The
window needs an OpenCV build with GUI support (``opencv-python``, not the
``-headless`` wheel the tests use) and a display; without them the kiosk
logs why and runs on, since lights and buzzer still work.
"""

import logging
from datetime import datetime

import cv2
import numpy as np

from hardware.camera import Frame
from kiosk.decision import Outcome
from kiosk.pipeline import Observation

log = logging.getLogger(__name__)

COLOURS = {  # BGR
    "accepted": (60, 180, 60),
    "already": (0, 190, 230),
    "refused": (40, 40, 220),
    "checking": (230, 200, 60),
}


def render(rgb: np.ndarray, obs: Observation | None, outcome: Outcome | None, now: datetime) -> np.ndarray:
    """The picture to show: mirrored like a mirror, a coloured box, a banner with the message."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    height, width = bgr.shape[:2]
    state = outcome.state if outcome else "idle"
    colour = COLOURS.get(state, (200, 200, 200))
    if obs is not None and obs.face is not None:
        box = obs.face
        cv2.rectangle(bgr, (box.left, box.top), (box.right, box.bottom), colour, 3)
    bgr = cv2.flip(bgr, 1)
    banner_h = max(40, height // 8)
    cv2.rectangle(bgr, (0, height - banner_h), (width, height), colour, -1)
    message = outcome.prompt[0] if outcome and outcome.prompt else "Please stand in front of the camera"
    scale = banner_h / 70
    cv2.putText(bgr, message, (12, height - banner_h // 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2,
                cv2.LINE_AA)
    cv2.putText(bgr, now.strftime("%H:%M:%S"), (width - 150, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                (255, 255, 255), 2, cv2.LINE_AA)
    return bgr


class WindowDisplay:
    """A full-screen OpenCV window; disables itself (with one log line) when there is no GUI."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._last: tuple[Observation | None, Outcome | None] = (None, None)
        self._broken = False

    def show(self, frame: Frame, obs: Observation | None, outcome: Outcome | None) -> None:
        if self._broken:
            return
        if outcome is not None and outcome.state != "cooldown":
            self._last = (obs, outcome)
        picture = render(frame.rgb, *self._last, datetime.now())
        try:
            cv2.imshow(self.title, picture)
            cv2.waitKey(1)
        except cv2.error as exc:
            self._broken = True
            log.error("no on-screen overlay (OpenCV without GUI support or no display): %s", exc)
