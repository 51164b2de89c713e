"""One definition of face quality, used by the hub's enrolment check and the kiosk's frame gate.

A template made from a bad photo fails its person every morning, and a
probe made from a bad frame is a guess; both are judged here by the same
measures against the same default limits, so "good enough" means one thing
(issue 16: the hub used to refuse faces under 80 px of detector box while
the kiosk accepted 64 px measured on the landmarks):

- size: the face's height in pixels from the 68 landmarks (chin to brow,
  scaled to the detector box's sense), or the box height when no landmarks
  are known;
- sharpness: variance of the Laplacian of the grey face crop resized to
  ``crop_px`` high (so it does not depend on how many pixels the face has);
- light: mean grey level of the face crop;
- pose: coarse yaw and pitch from the landmarks.

Pure: arrays in, measures and problem codes out. The wording shown to
people stays with each caller (kiosk screen, hub refusal reasons). The
default limits and the measurements behind them: BENCHMARKS-accuracy.md
(quality gates on dev) and BENCHMARKS-accuracy-calib.md (calib, tuning half).
"""

from dataclasses import dataclass

import numpy as np

from biometrics.encoder import FaceBox
from biometrics.pose import HeadPose, head_pose

# dlib's detector box is this many times the chin-to-brow distance (median over the
# dev photos, full-resolution detection; 90% of faces within 0.97-1.23).
BOX_PER_CHIN_BROW = 1.12


@dataclass(frozen=True)
class FaceLimits:
    """The shared default limits (kiosk ``quality:`` and hub ``enrolment:`` start from these)."""

    min_face_px: int = 64
    min_sharpness: float = 10.0
    crop_px: int = 128
    min_brightness: float = 55.0
    max_brightness: float = 210.0
    max_yaw_deg: float = 45.0
    max_pitch_deg: float = 30.0


DEFAULT_LIMITS = FaceLimits()


@dataclass(frozen=True)
class FaceMeasures:
    face_px: int
    sharpness: float
    brightness: float
    pose: HeadPose | None  # None without landmarks


def face_height_px(landmarks: np.ndarray) -> float:
    """The face's height in the detector-box sense, from the 68 landmarks.

    A face found on a downscaled frame gets a box as coarse as that frame
    (a 90 px face boxed 68-75 px on a half-size frame); the landmarks are
    fitted at full resolution, so size is judged on them. The chin-to-brow
    distance does not change with head roll.
    """
    brow_mid = (landmarks[19] + landmarks[24]) / 2
    return BOX_PER_CHIN_BROW * float(np.linalg.norm(landmarks[8] - brow_mid))


def face_crop_gray(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    """The grey face crop, the box clipped to the image (empty when outside it)."""
    import cv2

    h, w = rgb.shape[:2]
    crop = np.ascontiguousarray(rgb[max(0, box.top):min(h, box.bottom), max(0, box.left):min(w, box.right)])
    if crop.size == 0:
        return np.zeros((0, 0), np.uint8)
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)


def sharpness(gray_crop: np.ndarray, crop_px: int = 128) -> float:
    """Variance of the Laplacian after resizing the crop to ``crop_px`` high.

    Resizing first makes the number independent of how many pixels the face
    has: a large face crop is smooth pixel-to-pixel even when sharp.
    """
    import cv2

    if gray_crop.size == 0:
        return 0.0
    h, w = gray_crop.shape
    size = (max(1, round(w * crop_px / h)), crop_px)
    interp = cv2.INTER_AREA if h > crop_px else cv2.INTER_LINEAR
    resized = cv2.resize(gray_crop, size, interpolation=interp)
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


def measure(rgb: np.ndarray, box: FaceBox, landmarks: np.ndarray | None = None,
            crop_px: int = DEFAULT_LIMITS.crop_px) -> FaceMeasures:
    """Size, sharpness, light and (with landmarks) pose of the face in ``box``."""
    face_px = round(face_height_px(landmarks)) if landmarks is not None else box.height
    gray = face_crop_gray(rgb, box)
    bright = float(gray.mean()) if gray.size else 0.0
    pose = head_pose(landmarks, (rgb.shape[1], rgb.shape[0])) if landmarks is not None else None
    return FaceMeasures(face_px, sharpness(gray, crop_px), bright, pose)


def problems(m: FaceMeasures, limits: FaceLimits) -> list[str]:
    """The codes of every limit ``m`` breaks, in the order a person should fix them."""
    out = []
    if m.face_px < limits.min_face_px:
        out.append("too_small")
    if m.brightness < limits.min_brightness:
        out.append("too_dark")
    elif m.brightness > limits.max_brightness:
        out.append("too_bright")
    if m.sharpness < limits.min_sharpness:
        out.append("too_blurred")
    if m.pose is not None and (abs(m.pose.yaw) > limits.max_yaw_deg or abs(m.pose.pitch) > limits.max_pitch_deg):
        out.append("not_frontal")
    return out
