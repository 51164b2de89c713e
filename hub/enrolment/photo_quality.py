"""Whether an enrolment photo is good enough to become a template (pure: arrays in, verdict out).

A bad enrolment photo makes a bad template, which then fails the person at
the kiosk every morning, so the hub refuses it with the reason the person
taking the photo can act on. Checked on the largest face: its height in
pixels, its sharpness (variance of the Laplacian of the grey face crop
resized to ``CROP_PX`` high, so the number does not depend on resolution)
and its brightness (mean grey level). Several faces are allowed; the
largest is used and the result says so. The default limits are those the
kiosk uses on live frames (tuned on the dev photos).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biometrics.encoder import FaceBox
from hub.config import EnrolmentConfig

CROP_PX = 128


@dataclass(frozen=True)
class Verdict:
    """``refusal`` None: accepted (``note`` may still say something, e.g. several faces)."""

    face: FaceBox | None
    refusal: str | None = None
    note: str = ""
    face_px: int = 0
    sharpness: float = 0.0
    brightness: float = 0.0


def face_crop_gray(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    crop = np.ascontiguousarray(rgb[max(0, box.top):min(h, box.bottom), max(0, box.left):min(w, box.right)])
    if crop.size == 0:
        return np.zeros((0, 0), np.uint8)
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)


def sharpness(gray: np.ndarray) -> float:
    import cv2

    if gray.size == 0:
        return 0.0
    h, w = gray.shape
    size = (max(1, round(w * CROP_PX / h)), CROP_PX)
    resized = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if h > CROP_PX else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


def judge(rgb: np.ndarray, boxes: Sequence[FaceBox], limits: EnrolmentConfig) -> Verdict:
    """The verdict on the largest of ``boxes`` (the detector's faces in ``rgb``)."""
    if not boxes:
        return Verdict(None, "no face found")
    box = max(boxes, key=lambda b: b.area)
    gray = face_crop_gray(rgb, box)
    sharp, bright = sharpness(gray), float(gray.mean()) if gray.size else 0.0
    note = f"{len(boxes)} faces; used the largest" if len(boxes) > 1 else ""
    measured = {"face_px": box.height, "sharpness": sharp, "brightness": bright}
    refusal = _refusal(box.height, sharp, bright, limits)
    return Verdict(box, refusal, note, **measured)


def _refusal(face_px: int, sharp: float, bright: float, limits: EnrolmentConfig) -> str | None:
    if face_px < limits.min_face_px:
        return f"face too small: {face_px} px high, at least {limits.min_face_px} needed (come closer)"
    if bright < limits.min_brightness:
        return f"too dark: brightness {bright:.0f}, at least {limits.min_brightness:.0f} needed"
    if bright > limits.max_brightness:
        return f"too bright: brightness {bright:.0f}, at most {limits.max_brightness:.0f} allowed"
    if sharp < limits.min_sharpness:
        return f"too blurred: sharpness {sharp:.1f}, at least {limits.min_sharpness:.1f} needed (hold still)"
    return None
