"""Quality gates on a frame before its face is trusted, each with an instruction.

Pure functions of the frame, the detector's boxes and (optionally) the 68
landmarks of the largest face. A failed gate does not guess: it tells the
person what to do ("Come closer", "पास आइए") and the pipeline tries the next
frame.

The defaults were tuned on the dev photos (BENCHMARKS-accuracy.md): they
pass 97% of them (203/209) and reject every passing photo blurred (Gaussian
sigma 3 on a ~107 px face, which moves the encoding by ~0.4, as far apart as
two photos of one person usually are), darkened to 30% (which moves it by
~0.2) or shrunk to a 60 px face. The yaw bound is loose (45 degrees of the
coarse pose) because genuine distances on the dev photos did not grow with
yaw up to there.
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from biometrics.encoder import FaceBox
from biometrics.pose import HeadPose, head_pose
from kiosk.messages import Message, messages

# (English, Hindi) pairs from the catalogue (kiosk.quality.*)
MESSAGES: dict[str, tuple[str, str]] = messages(
    "kiosk.quality.", ("no_face", "too_small", "too_blurred", "too_dark", "too_bright", "multiple_faces", "not_frontal"))


class QualityConfig(BaseModel):
    """Quality gates (``quality:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    min_face_px: int = Field(
        64, ge=20,
        description="smallest face height in pixels (as a detector box would be; measured from the landmarks "
                    "when they are known); smaller means too far")
    min_sharpness: float = Field(
        10.0, ge=0,
        description="variance of the Laplacian of the face crop resized to crop_px; below is too blurred",
    )
    crop_px: int = Field(128, ge=32, description="face crops are resized to this height before the sharpness measure")
    min_brightness: float = Field(55.0, ge=0, le=255, description="mean grey level of the face crop; below is too dark")
    max_brightness: float = Field(
        210.0, ge=0, le=255, description="mean grey level of the face crop; above is too bright"
    )
    max_yaw_deg: float = Field(45.0, gt=0, le=90, description="largest head turn (coarse pose from landmarks)")
    max_pitch_deg: float = Field(30.0, gt=0, le=90, description="largest head tilt up or down (coarse pose)")
    multiple_faces_block: bool = Field(
        False, description="refuse frames with more than one face instead of using the largest one"
    )


@dataclass(frozen=True)
class QualityIssue:
    code: str
    message_en: str
    message_hi: str
    blocking: bool = True  # False: a notice (more than one face, the largest is used)

    @property
    def message(self) -> Message:
        """The instruction as a catalogue message, so the screen and voice can use the site's languages."""
        return Message(f"kiosk.quality.{self.code}")


@dataclass(frozen=True)
class QualityReport:
    face_index: int | None       # index into the boxes given of the face that was assessed
    issues: tuple[QualityIssue, ...]
    face_px: int = 0
    sharpness: float | None = None
    brightness: float | None = None
    pose: HeadPose | None = None

    @property
    def ok(self) -> bool:
        return self.face_index is not None and not any(i.blocking for i in self.issues)

    @property
    def instruction(self) -> QualityIssue | None:
        """The first issue to show the person (blocking ones first)."""
        ordered = sorted(self.issues, key=lambda i: not i.blocking)
        return ordered[0] if ordered else None


def issue(code: str, blocking: bool = True) -> QualityIssue:
    en, hi = MESSAGES[code]
    return QualityIssue(code, en, hi, blocking)


# dlib's detector box is this many times the chin-to-brow distance (median over the
# dev photos, full-resolution detection; 90% of faces within 0.97-1.23).
BOX_PER_CHIN_BROW = 1.12


def face_height_px(landmarks: np.ndarray) -> float:
    """The face's height in the detector-box sense, from the 68 landmarks.

    A face found on a downscaled frame gets a box as coarse as that frame
    (a 90 px face boxed 68-75 px on a half-size frame); the landmarks are
    fitted at full resolution, so "come closer" is judged on them. The
    chin-to-brow distance does not change with head roll.
    """
    brow_mid = (landmarks[19] + landmarks[24]) / 2
    return BOX_PER_CHIN_BROW * float(np.linalg.norm(landmarks[8] - brow_mid))


def largest_face(boxes: Sequence[FaceBox]) -> int | None:
    """Index of the largest box (the closest person), or None for no boxes."""
    if not boxes:
        return None
    return max(range(len(boxes)), key=lambda i: boxes[i].area)


def face_crop_gray(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    """The grey face crop, the box clipped to the image (empty when outside it)."""
    import cv2

    h, w = rgb.shape[:2]
    top, bottom = max(0, box.top), min(h, box.bottom)
    left, right = max(0, box.left), min(w, box.right)
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
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


def assess(
    rgb: np.ndarray,
    boxes: Sequence[FaceBox],
    landmarks: np.ndarray | None = None,
    config: QualityConfig | None = None,
) -> QualityReport:
    """Check the largest face in ``rgb`` (HxWx3 uint8).

    ``landmarks`` are the 68 landmarks of that largest face; without them
    the frontal gate is skipped.
    """
    config = config or QualityConfig()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB frame, got shape {rgb.shape}")
    index = largest_face(boxes)
    if index is None:
        return QualityReport(None, (issue("no_face"),))
    box = boxes[index]
    issues: list[QualityIssue] = []
    if len(boxes) > 1:
        issues.append(issue("multiple_faces", blocking=config.multiple_faces_block))
    face_px = round(face_height_px(landmarks)) if landmarks is not None else box.height
    if face_px < config.min_face_px:
        issues.append(issue("too_small"))
    gray = face_crop_gray(rgb, box)
    sharp = sharpness(gray, config.crop_px)
    bright = float(gray.mean()) if gray.size else 0.0
    if bright < config.min_brightness:
        issues.append(issue("too_dark"))
    elif bright > config.max_brightness:
        issues.append(issue("too_bright"))
    if sharp < config.min_sharpness:
        issues.append(issue("too_blurred"))
    pose = None
    if landmarks is not None:
        pose = head_pose(landmarks, (rgb.shape[1], rgb.shape[0]))
        if abs(pose.yaw) > config.max_yaw_deg or abs(pose.pitch) > config.max_pitch_deg:
            issues.append(issue("not_frontal"))
    return QualityReport(index, tuple(issues), face_px, sharp, bright, pose)
