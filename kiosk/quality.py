"""Quality gates on a frame before its face is trusted, each with an instruction.

Pure functions of the frame, the detector's boxes and (optionally) the 68
landmarks of the largest face. A failed gate does not guess: it tells the
person what to do ("Come closer", "पास आइए") and the pipeline tries the next
frame.

The measures and default limits are ``biometrics.face_quality``'s, the same
the hub checks enrolment photos with. The defaults were tuned on the dev photos (BENCHMARKS-accuracy.md): they
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
from biometrics.face_quality import (  # noqa: F401  (re-exported: the kiosk's names for the shared measures)
    BOX_PER_CHIN_BROW,
    DEFAULT_LIMITS,
    FaceLimits,
    face_crop_gray,
    face_height_px,
    measure,
    problems,
    sharpness,
)
from biometrics.pose import HeadPose

MESSAGES: dict[str, tuple[str, str]] = {
    "no_face": ("Please stand in front of the camera", "कृपया कैमरे के सामने खड़े होइए"),
    "too_small": ("Come closer", "पास आइए"),
    "too_blurred": ("Hold still", "स्थिर रहिए"),
    "too_dark": ("Too dark: move into the light", "बहुत अँधेरा है: रोशनी में आइए"),
    "too_bright": ("Too bright: step out of direct light", "बहुत तेज़ रोशनी है: सीधी रोशनी से हटिए"),
    "multiple_faces": ("One person at a time: checking the nearest face",
                       "एक बार में एक व्यक्ति: सबसे पास वाला चेहरा जाँचा जा रहा है"),
    "not_frontal": ("Look straight at the camera", "सीधे कैमरे की ओर देखिए"),
}


class QualityConfig(BaseModel):
    """Quality gates (``quality:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    min_face_px: int = Field(
        DEFAULT_LIMITS.min_face_px, ge=20,
        description="smallest face height in pixels (as a detector box would be; measured from the landmarks "
                    "when they are known); smaller means too far")
    min_sharpness: float = Field(
        DEFAULT_LIMITS.min_sharpness, ge=0,
        description="variance of the Laplacian of the face crop resized to crop_px; below is too blurred",
    )
    crop_px: int = Field(DEFAULT_LIMITS.crop_px, ge=32,
                         description="face crops are resized to this height before the sharpness measure")
    min_brightness: float = Field(DEFAULT_LIMITS.min_brightness, ge=0, le=255,
                                  description="mean grey level of the face crop; below is too dark")
    max_brightness: float = Field(
        DEFAULT_LIMITS.max_brightness, ge=0, le=255, description="mean grey level of the face crop; above is too bright"
    )
    max_yaw_deg: float = Field(DEFAULT_LIMITS.max_yaw_deg, gt=0, le=90,
                               description="largest head turn (coarse pose from landmarks)")
    max_pitch_deg: float = Field(DEFAULT_LIMITS.max_pitch_deg, gt=0, le=90,
                                 description="largest head tilt up or down (coarse pose)")
    multiple_faces_block: bool = Field(
        False, description="refuse frames with more than one face instead of using the largest one"
    )

    def limits(self) -> FaceLimits:
        """These gates as the shared ``FaceLimits``."""
        return FaceLimits(self.min_face_px, self.min_sharpness, self.crop_px, self.min_brightness,
                          self.max_brightness, self.max_yaw_deg, self.max_pitch_deg)


@dataclass(frozen=True)
class QualityIssue:
    code: str
    message_en: str
    message_hi: str
    blocking: bool = True  # False: a notice (more than one face, the largest is used)


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


def largest_face(boxes: Sequence[FaceBox]) -> int | None:
    """Index of the largest box (the closest person), or None for no boxes."""
    if not boxes:
        return None
    return max(range(len(boxes)), key=lambda i: boxes[i].area)


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
    m = measure(rgb, box, landmarks, config.crop_px)
    issues += [issue(code) for code in problems(m, config.limits())]
    return QualityReport(index, tuple(issues), m.face_px, m.sharpness, m.brightness, m.pose)
