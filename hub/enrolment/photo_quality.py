"""Whether an enrolment photo is good enough to become a template (pure: arrays in, verdict out).

A bad enrolment photo makes a bad template, which then fails the person at
the kiosk every morning, so the hub refuses it with the reason the person
taking the photo can act on. The measures are ``biometrics.face_quality``'s,
the very ones the kiosk gates live frames with (face height from the 68
landmarks, sharpness, brightness, head pose), and the default limits are
the same (``EnrolmentConfig`` starts from ``biometrics.face_quality.FaceLimits``):
a photo the hub accepts would pass the kiosk's gate. Several faces are
allowed; the largest is used and the result says so.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biometrics.encoder import FaceBox
from biometrics.face_quality import FaceLimits, FaceMeasures, measure, problems
from hub.config import EnrolmentConfig


@dataclass(frozen=True)
class Verdict:
    """``refusal`` None: accepted (``note`` may still say something, e.g. several faces)."""

    face: FaceBox | None
    refusal: str | None = None
    note: str = ""
    face_px: int = 0
    sharpness: float = 0.0
    brightness: float = 0.0


def limits_of(config: EnrolmentConfig) -> FaceLimits:
    """The enrolment limits as the shared ``FaceLimits``."""
    return FaceLimits(min_face_px=config.min_face_px, min_sharpness=config.min_sharpness,
                      min_brightness=config.min_brightness, max_brightness=config.max_brightness,
                      max_yaw_deg=config.max_yaw_deg, max_pitch_deg=config.max_pitch_deg)


def judge(rgb: np.ndarray, boxes: Sequence[FaceBox], limits: EnrolmentConfig,
          landmarks: np.ndarray | None = None) -> Verdict:
    """The verdict on the largest of ``boxes`` (the detector's faces in ``rgb``).

    ``landmarks`` are the 68 landmarks of that face: with them the size is
    measured as the kiosk measures it and the pose is checked; without them
    the box height stands for the size.
    """
    if not boxes:
        return Verdict(None, "no face found")
    box = max(boxes, key=lambda b: b.area)
    m = measure(rgb, box, landmarks)
    note = f"{len(boxes)} faces; used the largest" if len(boxes) > 1 else ""
    refusal = _refusal(m, limits)
    return Verdict(box, refusal, note, m.face_px, m.sharpness, m.brightness)


def _refusal(m: FaceMeasures, limits: EnrolmentConfig) -> str | None:
    found = problems(m, limits_of(limits))
    if not found:
        return None
    code = found[0]
    if code == "too_small":
        return f"face too small: {m.face_px} px high, at least {limits.min_face_px} needed (come closer)"
    if code == "too_dark":
        return f"too dark: brightness {m.brightness:.0f}, at least {limits.min_brightness:.0f} needed"
    if code == "too_bright":
        return f"too bright: brightness {m.brightness:.0f}, at most {limits.max_brightness:.0f} allowed"
    if code == "too_blurred":
        return (f"too blurred: sharpness {m.sharpness:.1f}, at least {limits.min_sharpness:.1f} needed "
                "(hold still)")
    assert m.pose is not None
    return (f"face turned: yaw {m.pose.yaw:.0f} deg, pitch {m.pose.pitch:.0f} deg; at most "
            f"{limits.max_yaw_deg:.0f} / {limits.max_pitch_deg:.0f} allowed (look straight at the camera)")
