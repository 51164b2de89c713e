"""dlib HOG face detection, landmarks and the 128-d ResNet face encoding.

We call dlib directly with the model files of ``face_recognition_models``
(the same models face_recognition uses) instead of importing
face_recognition: that package declares ``dlib`` as a dependency and pip
would compile it, and calling dlib directly lets one landmark pass serve both
the encoding and, later, liveness.
"""

import importlib.resources
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics import ImageInvalid

log = logging.getLogger(__name__)

ENCODING_DIMS = 128


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixel coordinates of the image it was found in."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float) -> "FaceBox":
        return FaceBox(*(int(round(v * factor)) for v in (self.left, self.top, self.right, self.bottom)))


def model_path(name: str) -> Path:
    """Path of a model file shipped in the face_recognition_models package."""
    return Path(str(importlib.resources.files("face_recognition_models") / "models" / name))


def dlib_build() -> str:
    """Which dlib is running, for benchmark reports (BLAS matters ~3-4x)."""
    import dlib

    blas = "BLAS" if getattr(dlib, "DLIB_USE_BLAS", False) else "no BLAS"
    return f"dlib {dlib.__version__} ({blas})"


class FaceEncoder:
    """Detects faces and computes 128-d encodings.

    dlib's models are loaded on first use (about 0.3 s) and shared by the
    instance. Calls are serialised with a lock because dlib objects are not
    documented as thread-safe.
    """

    def __init__(self, upsample: int = 1, num_jitters: int = 1) -> None:
        self.upsample = upsample
        self.num_jitters = num_jitters
        self._lock = threading.Lock()
        self._detector = None
        self._shape5 = None
        self._shape68 = None
        self._net = None

    def _load(self) -> None:
        if self._net is not None:
            return
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._shape5 = dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))
        self._net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat")))
        log.info("face models loaded: %s", dlib_build())

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[FaceBox]:
        """Face boxes in ``rgb`` (HxWx3 uint8), largest first, clipped to the image."""
        with self._lock:
            self._load()
            rects = self._detector(rgb, self.upsample if upsample is None else upsample)
        h, w = rgb.shape[:2]
        boxes = [
            FaceBox(max(0, r.left()), max(0, r.top()), min(w, r.right()), min(h, r.bottom()))
            for r in rects
        ]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def encode(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        """The 128-d float32 encoding of the face in ``box``."""
        import dlib

        rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
        with self._lock:
            self._load()
            shape = self._shape5(rgb, rect)
            vec = self._net.compute_face_descriptor(rgb, shape, self.num_jitters)
        return np.asarray(vec, dtype=np.float32)

    def landmarks68(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        """The 68 iBUG landmarks as an (68, 2) float32 array (for liveness and pose)."""
        import dlib

        with self._lock:
            self._load()
            if self._shape68 is None:
                self._shape68 = dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))
            shape = self._shape68(rgb, dlib.rectangle(box.left, box.top, box.right, box.bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def encode_largest(self, rgb: np.ndarray) -> tuple[FaceBox, np.ndarray] | None:
        """Encoding of the largest face, or None when no face is found."""
        boxes = self.detect(rgb)
        if not boxes:
            return None
        return boxes[0], self.encode(rgb, boxes[0])


def load_image_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as an RGB uint8 array, honouring EXIF rotation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ImageInvalid(f"cannot read image {path}: {exc}") from exc
