"""Per-frame analysis: gate, find, check and name the face in front of the kiosk.

Stages, cheapest first, each timed (``StageTimes``):
1. change gate: an unchanged frame of an empty scene is not looked at again;
2. detection on a downscaled copy (HOG cost grows with pixels), or only
   around the face found in the previous frame (tracking: that crop scaled so
   the face is ``track_face_px`` tall, searched without upsampling), with a
   full search again every ``full_detect_every`` frames so a closer person is
   seen (timed as ``track`` and ``detect``);
3. 68 landmarks at full resolution (quality, pose, liveness) and the quality
   gates, which say what the person should do;
4. the 128-d encoding at full resolution, only for faces that passed;
5. open-set 1:N match against the current gallery.

Pure of I/O: frames in, ``Observation`` out. The decision over several
frames is ``kiosk.decision``.
"""

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from biometrics.encoder import FaceBox, FaceEncoder
from biometrics.matcher import Gallery, MatchResult, MatchThresholds, match
from kiosk.quality import QualityConfig, QualityReport, assess

STAGES = ("gate", "track", "detect", "landmarks", "quality", "encode", "match")


class PipelineConfig(BaseModel):
    """Speed settings of the frame pipeline (``pipeline:`` in kiosk.yaml)."""

    model_config = ConfigDict(extra="forbid")

    detect_width: int = Field(320, ge=80, description="frames are downscaled to this width for face detection")
    track_margin: float = Field(0.6, ge=0, description="tracking searches the last face box grown by this share")
    track_face_px: int = Field(
        100, ge=90, le=200,
        description="tracking scales the crop so the last face is this tall; dlib's detector window is 80 px")
    full_detect_every: int = Field(10, ge=1, description="a full-frame search at least every N frames")
    change_threshold: float = Field(
        2.0, ge=0, description="mean grey-level change (0-255, on a 64x48 thumbnail) below which a frame is unchanged"
    )


@dataclass
class StageTimes:
    """Seconds spent per stage, summed, and how often each ran."""

    total_s: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    count: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STAGES})

    def add(self, stage: str, seconds: float) -> None:
        self.total_s[stage] += seconds
        self.count[stage] += 1

    def mean_ms(self, stage: str) -> float | None:
        n = self.count[stage]
        return 1000 * self.total_s[stage] / n if n else None


@dataclass(frozen=True)
class Observation:
    """What one frame showed. ``face`` is None when nobody was found."""

    ts: float
    image_size: tuple[int, int]                # (width, height)
    face: FaceBox | None = None
    faces_found: int = 0
    landmarks: np.ndarray | None = field(default=None, repr=False)
    quality: QualityReport | None = None
    match: MatchResult | None = None
    skipped: bool = False                      # unchanged empty scene: not analysed
    probe: np.ndarray | None = field(default=None, repr=False)  # the 128-d encoding, for a 1:1 check (fallback)
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)  # the RGB frame, for liveness pixel cues
    ir: np.ndarray | None = field(default=None, repr=False, compare=False)  # the IR frame taken with it, if any


class FrameAnalyzer:
    """Turns frames into observations, keeping the little state tracking needs."""

    def __init__(self, encoder: FaceEncoder, thresholds: MatchThresholds,
                 quality: QualityConfig | None = None, config: PipelineConfig | None = None,
                 upsample: int = 1) -> None:
        self.encoder = encoder
        self.thresholds = thresholds
        self.quality = quality or QualityConfig()
        self.config = config or PipelineConfig()
        self.upsample = upsample
        self.times = StageTimes()
        self._thumb: np.ndarray | None = None
        self._last_box: FaceBox | None = None
        self._since_full = 0
        self._last_named: tuple[np.ndarray, MatchResult] | None = None  # the last encoding and its match

    def analyze(self, ts: float, rgb: np.ndarray, gallery: Gallery, identity_settled: bool = False,
                ir: np.ndarray | None = None) -> Observation:
        """Gate, detect/track, landmarks, quality, and (unless ``identity_settled``) encode and match.

        ``identity_settled``: the decision already named the face in front (its verdict is final until the
        face goes), so the 100+ ms encoding changes nothing and is skipped; the last encoding and match are
        carried on. That leaves liveness its frames: a blink lasts 0.1-0.4 s and falls between frames when
        every frame is encoded (BENCHMARKS-decision.md). ``ir``: the IR frame taken with ``rgb``, passed on
        to liveness with the observation.
        """
        height, width = rgb.shape[:2]
        size = (width, height)
        with _timed(self.times, "gate"):
            unchanged = self._unchanged(rgb)
        if unchanged and self._last_box is None:
            return Observation(ts, size, skipped=True)

        boxes = self._find_faces(rgb)
        if not boxes:
            self._last_box = self._last_named = None
            return Observation(ts, size)
        box = boxes[0]
        self._last_box = box

        with _timed(self.times, "landmarks"):
            landmarks = self.encoder.landmarks68(rgb, box)
        with _timed(self.times, "quality"):
            report = assess(rgb, boxes, landmarks, self.quality)
        result = probe = None
        if report.ok and identity_settled and self._last_named is not None:
            probe, result = self._last_named
        elif report.ok:
            with _timed(self.times, "encode"):
                probe = self.encoder.encode(rgb, box)
            with _timed(self.times, "match"):
                result = match(gallery, probe, self.thresholds)
            self._last_named = (probe, result)
        return Observation(ts, size, box, len(boxes), landmarks, report, result, probe=probe, frame=rgb, ir=ir)

    def _unchanged(self, rgb: np.ndarray) -> bool:
        thumb = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (64, 48), interpolation=cv2.INTER_AREA)
        previous, self._thumb = self._thumb, thumb.astype(np.int16)
        if previous is None:
            return False
        return float(np.abs(self._thumb - previous).mean()) < self.config.change_threshold

    def _find_faces(self, rgb: np.ndarray) -> list[FaceBox]:
        """Boxes in full-resolution coordinates, largest first: tracked if possible, else a full search."""
        self._since_full += 1
        if self._last_box is not None and self._since_full < self.config.full_detect_every:
            with _timed(self.times, "track"):
                found = self._detect_near(rgb, self._last_box)
            if found:
                return found
        self._since_full = 0
        with _timed(self.times, "detect"):
            return self._detect_scaled(rgb, 0, 0, min(1.0, self.config.detect_width / rgb.shape[1]), self.upsample)

    def _detect_near(self, rgb: np.ndarray, box: FaceBox) -> list[FaceBox]:
        grow_x = int(box.width * self.config.track_margin)
        grow_y = int(box.height * self.config.track_margin)
        h, w = rgb.shape[:2]
        left, top = max(0, box.left - grow_x), max(0, box.top - grow_y)
        right, bottom = min(w, box.right + grow_x), min(h, box.bottom + grow_y)
        if right - left < 40 or bottom - top < 40:
            return []
        # The crop is scaled so the face is just above the detector's 80 px window
        # and searched without upsampling: a few ms instead of a full search's
        # tens. A face as large as before, or larger (coming closer), is found;
        # one that shrank by a fifth or more falls back to the full search.
        factor = self.config.track_face_px / max(1, box.height)
        return self._detect_scaled(rgb[top:bottom, left:right], left, top, factor, 0)

    def _detect_scaled(self, rgb: np.ndarray, dx: int, dy: int, factor: float, upsample: int) -> list[FaceBox]:
        if factor == 1.0:
            small = rgb
        else:
            interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
            small = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=interpolation)
        boxes = self.encoder.detect(np.ascontiguousarray(small), upsample)
        h, w = rgb.shape[:2]
        return [
            FaceBox(max(0, b.left) + dx, max(0, b.top) + dy, min(w, b.right) + dx, min(h, b.bottom) + dy)
            for b in (box.scaled(1 / factor) for box in boxes)
        ]


class _timed:
    def __init__(self, times: StageTimes, stage: str) -> None:
        self.times, self.stage = times, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_exc) -> None:
        self.times.add(self.stage, time.perf_counter() - self.start)
