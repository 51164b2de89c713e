"""USB (UVC) cameras through OpenCV's V4L2 backend, as a FrameSource.

OpenCV hands out BGR; the pipeline takes RGB, so every frame is converted
here and nowhere else. A camera that opens but then stops delivering (cable
pulled, driver wedged) fails after ``max_failed_reads`` reads in a row (each
waits up to ``read_timeout_s``) with a CameraError naming the device, so the
kiosk can report it instead of showing a frozen picture. A video *file*
given as the device simply ends (None).
"""

import logging
import os
import time
from pathlib import Path

import cv2

from hardware.camera import CameraError, Frame

log = logging.getLogger(__name__)


class OpenCvCamera:
    """A V4L2 camera (index or ``/dev/videoN``) or a video file, read with cv2.VideoCapture."""

    def __init__(
        self,
        device: int | str,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        max_failed_reads: int = 5,
        read_timeout_s: float = 2.0,
    ) -> None:
        self.device = device
        self.width = width
        self.height = height
        self.fps = fps
        self.max_failed_reads = max_failed_reads
        self.read_timeout_s = read_timeout_s
        self._cap: cv2.VideoCapture | None = None
        self._index = 0

    @property
    def is_device(self) -> bool:
        """A live camera (retries failed reads) rather than a file (ends at the last frame)."""
        return isinstance(self.device, int) or str(self.device).startswith("/dev/")

    def open(self) -> None:
        if self._cap is not None:
            return
        self._check_path()
        api = cv2.CAP_V4L2 if self.is_device else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.device, api)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"camera {self.device!r} cannot be opened: OpenCV can read no video from it")
        if self.is_device:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer queued frames: less lag behind reality
            # A dead camera makes each read wait this long (OpenCV's own default is 10 s).
            if not cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.read_timeout_s * 1000):
                log.info("camera %r: backend ignores the read timeout; a stalled read may take 10 s", self.device)
        log.info(
            "camera %r open: %dx%d at %.1f fps (asked %dx%d at %.1f)",
            self.device,
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            cap.get(cv2.CAP_PROP_FPS),
            self.width,
            self.height,
            self.fps,
        )
        self._cap = cap
        self._index = 0

    def _check_path(self) -> None:
        """Turn the common mistakes into a reason before OpenCV hides them."""
        path = Path(f"/dev/video{self.device}" if isinstance(self.device, int) else self.device)
        if not path.exists():
            what = "no such file"
            if self.is_device:
                what = "no such device (is the camera plugged in? see `v4l2-ctl --list-devices`)"
            raise CameraError(f"camera {path} cannot be opened: {what}")
        if not os.access(path, os.R_OK):
            hint = " (is the kiosk user in the 'video' group?)" if self.is_device else ""
            raise CameraError(f"camera {path} cannot be opened: permission denied{hint}")

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        failures = 0
        while True:
            ok, bgr = self._cap.read()
            if ok and bgr is not None:
                break
            if not self.is_device:
                return None  # end of the file
            failures += 1
            if failures >= self.max_failed_reads:
                raise CameraError(
                    f"camera {self.device!r} stopped delivering frames: {failures} reads failed in a row"
                )
        frame = Frame(self._index, time.monotonic(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), source=str(self.device))
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
