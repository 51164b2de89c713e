"""Frames through the kiosk's own face path, and the one genuine liveness video.

Liveness judged on landmarks found some other way (a fixed face box, as the
older tests do) is not what the kiosk sees: the kiosk re-detects the face in
a tracking crop on every frame (``kiosk.pipeline.FrameAnalyzer``), the box
shifts by a pixel or two, and the landmarks shift with it. So every
benchmark sequence here goes through ``FrameAnalyzer``'s detection and
tracking, then ``FaceEncoder.landmarks68`` on the box it found.

The landmarks of a sequence cost ~10 ms a frame; they are cached under
``~/.cache/face-attendance/`` keyed by everything they depend on (never
pixels, never in the repository).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from benchmarks.common import cached_arrays
from biometrics.encoder import FaceEncoder
from biometrics.matcher import MatchThresholds
from kiosk.pipeline import FrameAnalyzer

log = logging.getLogger(__name__)

CACHE = Path.home() / ".cache" / "face-attendance" / "liveness"
FRAME_SIZE = (640, 480)  # (width, height): the kiosk camera's mode
FPS = 10.0


@dataclass
class Track:
    """What the kiosk path found on each frame of one sequence; NaN landmarks where no face was found."""

    landmarks: np.ndarray   # (frames, 68, 2) float32
    found: np.ndarray       # (frames,) bool


def kiosk_track(encoder: FaceEncoder, frames: list[np.ndarray]) -> Track:
    """Detect and track the face as the kiosk does (a fresh ``FrameAnalyzer``), landmark each frame."""
    analyzer = FrameAnalyzer(encoder, MatchThresholds())
    lms = np.full((len(frames), 68, 2), np.nan, np.float32)
    found = np.zeros(len(frames), bool)
    for i, rgb in enumerate(frames):
        boxes = analyzer._find_faces(rgb)  # the kiosk's detect-or-track step, without encoding and matching
        analyzer._last_box = boxes[0] if boxes else None
        if boxes:
            lms[i] = encoder.landmarks68(rgb, boxes[0])
            found[i] = True
    return Track(lms, found)


def cached_track(key: str, make_frames: Callable[[], list[np.ndarray]], encoder: FaceEncoder,
                 cache: Path = CACHE) -> Track:
    """``kiosk_track`` of the frames ``make_frames()`` builds, cached under ``key``."""
    data = cached_arrays(cache, key, lambda: vars(kiosk_track(encoder, make_frames())))
    return Track(data["landmarks"], data["found"])


def on_canvas(rgb: np.ndarray, size: tuple[int, int] = FRAME_SIZE, fill: int = 118) -> np.ndarray:
    """``rgb`` centred on a plain ``size`` frame (a portrait phone video inside the kiosk's landscape view)."""
    w, h = size
    out = np.full((h, w, 3), fill, np.uint8)
    ih, iw = rgb.shape[:2]
    if ih > h or iw > w:
        raise ValueError(f"image {iw}x{ih} does not fit a {w}x{h} frame")
    top, left = (h - ih) // 2, (w - iw) // 2
    out[top:top + ih, left:left + iw] = rgb
    return out


# --- the genuine video -----------------------------------------------------------------------------

# From ../shared/faces/README.md (checked by eye on the EAR trace): blink times, and the stretches
# looking down with the eyes nearly closed, which are neither open eyes nor blinks.
VIDEO_BLINKS_S = (0.4, 1.7, 3.4, 4.7, 9.3, 10.0)
VIDEO_EYES_DOWN_S = ((5.8, 8.1), (11.0, 13.7))


def video_frames(path: Path, fps: float = FPS) -> tuple[np.ndarray, list[np.ndarray]]:
    """The video resampled to ``fps`` (nearest frame), each scaled to 480 px high on a 640x480 frame.

    The phone video is portrait 480x854 at ~24 fps; at 480 px high the face is
    ~155 px, the size of a person ~50 cm from the kiosk camera.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    src_fps = cap.get(cv2.CAP_PROP_FPS)
    raw = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        raw.append(bgr)
    cap.release()
    if not raw or not src_fps:
        raise ValueError(f"no frames in {path}")
    n = int(len(raw) / src_fps * fps)
    times = np.arange(n) / fps
    frames = []
    for t in times:
        bgr = raw[min(len(raw) - 1, int(round(t * src_fps)))]
        h, w = bgr.shape[:2]
        scale = FRAME_SIZE[1] / h
        small = cv2.resize(bgr, (round(w * scale), FRAME_SIZE[1]), interpolation=cv2.INTER_AREA)
        frames.append(on_canvas(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)))
    return times, frames
