"""File-replay camera: a folder of images or a video file, as if someone stood there.

Used by `make demo`, the tests and `kiosk bench`, and on a bench without a
camera. Frame timestamps advance by exactly ``1/fps`` per frame, whatever the
wall clock does, so the kiosk's multi-frame decisions are reproducible; with
``pace`` the reader is also held back to real time, as a camera would.
"""

import logging
import time
from pathlib import Path

import numpy as np

from hardware.camera import CameraError, Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


class ReplayCamera:
    """A ``FrameSource`` over image files (sorted by name) or one video file.

    ``repeat`` shows each still image that many times in a row (a person
    standing in front of the camera); ``loop`` starts again at the end.
    An image that cannot be decoded is skipped with a warning, never fatal:
    a bad file in a sample folder must not stop the kiosk.
    """

    def __init__(self, path: Path, fps: float = 10.0, repeat: int = 1, loop: bool = False,
                 pace: bool = True) -> None:
        if fps <= 0 or repeat < 1:
            raise ValueError(f"fps must be > 0 and repeat >= 1 (got fps={fps}, repeat={repeat})")
        self.path = Path(path)
        self.fps = fps
        self.repeat = repeat
        self.loop = loop
        self.pace = pace
        self._files: list[Path] = []
        self._video = None
        self._cursor = 0            # position in the expanded (file, repeat) sequence
        self._index = 0
        self._start: float | None = None
        self._current: tuple[Path, np.ndarray] | None = None
        self._unreadable: set[Path] = set()

    def open(self) -> None:
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise CameraError(f"replay folder {self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif self.path.is_file():
            import cv2

            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise CameraError(f"cannot open video file {self.path}")
        else:
            raise CameraError(f"replay path {self.path} does not exist")
        self._cursor = self._index = 0
        self._start = None

    def read(self) -> Frame | None:
        rgb, source = self._next_image()
        if rgb is None:
            return None
        ts = self._index / self.fps
        if self.pace:
            if self._start is None:
                self._start = time.monotonic()
            delay = self._start + ts - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(index=self._index, ts_s=ts, rgb=rgb, source=source)
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the video; afterwards ``read()`` returns None (a closed camera has no frames)."""
        if self._video is not None:
            self._video.release()
            self._video = None
        self._files = []
        self._current = None

    def _next_image(self) -> tuple[np.ndarray | None, str]:
        if self._video is not None:
            return self._next_video_frame()
        if not self._files:               # not opened, or closed: no frames (even with loop)
            return None, ""
        while True:
            if self._cursor >= len(self._files) * self.repeat:
                if not self.loop:
                    return None, ""
                self._cursor = 0
            path = self._files[self._cursor // self.repeat]
            self._cursor += 1
            if path in self._unreadable:          # known bad: skip without decoding (and warning) again
                self._cursor = (self._cursor + self.repeat - 1) // self.repeat * self.repeat
                continue
            if self._current is None or self._current[0] != path:
                rgb = _load_rgb(path)
                if rgb is None:
                    self._unreadable.add(path)
                    if len(self._unreadable) == len(self._files):
                        raise CameraError(f"no image in {self.path} can be decoded")
                    self._cursor = (self._cursor + self.repeat - 1) // self.repeat * self.repeat
                    continue
                self._current = (path, rgb)
            return self._current[1], path.name

    def _next_video_frame(self) -> tuple[np.ndarray | None, str]:
        import cv2

        ok, bgr = self._video.read()
        if not ok and self.loop:
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._video.read()
        if not ok:
            return None, ""
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), f"{self.path.name}#{self._index}"


def _load_rgb(path: Path) -> np.ndarray | None:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))  # phone photos stand upright
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        log.warning("replay: skipping %s: %s", path, exc)
        return None
