"""A ``FaceEncoder`` that remembers its answers on disk, so shipped code paths can be benchmarked at scale.

The calibration set (``../shared/faces/calib``, ~3,600 photos) costs ~8 min
of CPU to detect, landmark and encode once. The benchmark must run the
code that ships (``hub.enrol.encode_photo`` for enrolment,
``kiosk.pipeline.FrameAnalyzer.analyze`` for probes), not a re-implementation
of it, so instead of caching "the encoding of a photo" this caches each
dlib call by what it was given: the image's pixels (sha256 of the array),
the call and its arguments. Whatever path calls ``detect``, ``landmarks68``
or ``encode`` with the same pixels and box gets dlib's own earlier answer.

The cache lives outside the repository (``~/.cache/face-attendance/dlib``
by default), one small ``.npy`` per call, keyed also by the dlib build. It
holds boxes, landmarks and encodings of the shared test photos, no pixels.
"""

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from biometrics.encoder import FaceBox, FaceEncoder, dlib_build

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(os.environ.get("FACE_ATTENDANCE_CACHE", Path.home() / ".cache" / "face-attendance")) / "dlib"


def _pixels_key(rgb: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(rgb).tobytes())
    h.update(repr(rgb.shape).encode())
    return h.hexdigest()[:40]


class CachingEncoder(FaceEncoder):
    """``FaceEncoder`` with each call memoised on disk by (pixels, call, arguments).

    ``last_encoding`` is the most recent encoding returned, so a caller of
    ``FrameAnalyzer.analyze`` can read the probe the pipeline computed.
    """

    def __init__(self, upsample: int = 1, num_jitters: int = 1, cache_dir: Path = DEFAULT_DIR) -> None:
        super().__init__(upsample, num_jitters)
        build = dlib_build().replace(" ", "_").replace("(", "").replace(")", "")
        self.cache_dir = Path(cache_dir) / build
        self.last_encoding: np.ndarray | None = None
        self.hits = self.misses = 0

    def _path(self, rgb: np.ndarray, call: str) -> Path:
        key = _pixels_key(rgb)
        return self.cache_dir / key[:2] / f"{key}-{call}.npy"

    def _remember(self, path: Path, compute) -> np.ndarray:
        if path.is_file():
            self.hits += 1
            return np.load(path)
        self.misses += 1
        value = np.asarray(compute())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, value)
        os.replace(tmp, path)
        return value

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[FaceBox]:
        up = self.upsample if upsample is None else upsample
        boxes = self._remember(
            self._path(rgb, f"detect-u{up}"),
            lambda: np.array([[b.left, b.top, b.right, b.bottom] for b in super(CachingEncoder, self).detect(rgb, up)],
                             dtype=np.int64).reshape(-1, 4))
        return [FaceBox(*(int(v) for v in row)) for row in boxes]

    def encode(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        call = f"encode-j{self.num_jitters}-{box.left}_{box.top}_{box.right}_{box.bottom}"
        enc = self._remember(self._path(rgb, call), lambda: super(CachingEncoder, self).encode(rgb, box))
        self.last_encoding = enc.astype(np.float32)
        return self.last_encoding

    def landmarks68(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        call = f"lm68-{box.left}_{box.top}_{box.right}_{box.bottom}"
        return self._remember(self._path(rgb, call),
                              lambda: super(CachingEncoder, self).landmarks68(rgb, box)).astype(np.float32)
