"""Hand the pipeline the newest camera frame, never a queue of old ones.

A camera delivers at its own pace; detection and encoding sometimes take
longer than a frame interval. Reading the camera in the pipeline's own loop
lets the driver's buffers fill, and the picture the kiosk judges falls ever
further behind the person in front of it. Here a capture thread reads
continuously into a one-slot buffer: a new frame replaces an unread one
(counted as dropped), and ``read()`` returns the newest frame not yet handed
out. The grabber is itself a FrameSource, so the pipeline does not know.
"""

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from hardware.camera import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)


def forget_before(times_s: "deque[float]", oldest_s: float) -> None:
    """Drop entries older than ``oldest_s`` from an ascending deque of times."""
    while times_s and times_s[0] < oldest_s:
        times_s.popleft()


def rate_per_s(times_s: "deque[float]", now_s: float, window_s: float) -> float:
    """Events per second over the last ``window_s`` (older entries are dropped); 0 when unknown."""
    forget_before(times_s, now_s - window_s)
    if len(times_s) < 2 or times_s[-1] <= times_s[0]:
        return 0.0
    return (len(times_s) - 1) / (times_s[-1] - times_s[0])


@dataclass(frozen=True)
class GrabberStats:
    captured: int      # frames read from the source
    delivered: int     # frames handed to read() callers
    dropped: int       # frames replaced before anyone read them
    camera_fps: float  # capture rate over the sliding window


class LatestFrameGrabber:
    """A capture thread over ``source`` with a one-slot, newest-wins buffer."""

    def __init__(
        self,
        source: FrameSource,
        fps_window_s: float = 3.0,
        stop_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.fps_window_s = fps_window_s
        self.stop_timeout_s = stop_timeout_s
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slot: Frame | None = None
        self._ended = True  # nothing runs before start(): read() returns None, never hangs
        self._error: CameraError | None = None
        self._captured = 0
        self._delivered = 0
        self._dropped = 0
        self._arrivals: deque[float] = deque()

    # FrameSource
    def open(self) -> None:
        self.start()

    def close(self) -> None:
        self.stop()

    def start(self) -> None:
        """Open the source (CameraError here, in the caller) and start capturing."""
        if self._thread is not None:
            return
        self.source.open()
        self._stop.clear()
        self._slot, self._ended, self._error = None, False, None
        self._thread = threading.Thread(target=self._capture_loop, name="frame-grabber", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing, wake every blocked reader (they get None) and close the source."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join(self.stop_timeout_s)
        if thread.is_alive():
            # Closing a device while another thread is inside its read can crash the driver.
            log.error("camera read did not return within %.1f s; leaving the source open", self.stop_timeout_s)
            return
        self.source.close()

    def read(self, timeout_s: float | None = None) -> Frame | None:
        """The newest frame not yet handed out; blocks until one arrives.

        None when the grabber is stopped, the source has ended (after its
        last frame), or ``timeout_s`` passed. Raises the source's CameraError
        once the last good frame has been handed out.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self._ended or self._stop.is_set(), timeout_s)
            if self._stop.is_set():
                return None
            frame, self._slot = self._slot, None
            if frame is not None:
                self._delivered += 1
                return frame
            if self._error is not None:
                raise self._error
            return None

    @property
    def ended(self) -> bool:
        """The source has no more frames (or failed): a None from read() is final."""
        with self._cond:
            return self._ended and self._slot is None

    @property
    def stats(self) -> GrabberStats:
        with self._cond:
            fps = rate_per_s(self._arrivals, self._clock(), self.fps_window_s)
            return GrabberStats(self._captured, self._delivered, self._dropped, fps)

    @property
    def dropped(self) -> int:
        return self.stats.dropped

    @property
    def camera_fps(self) -> float:
        return self.stats.camera_fps

    def _capture_loop(self) -> None:
        error: CameraError | None = None
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                self._put(frame)
        except CameraError as exc:
            log.error("capture stopped: %s", exc)
            error = exc
        except Exception as exc:  # a driver bug must not leave readers waiting forever
            log.exception("capture failed")
            error = CameraError(f"capture failed: {type(exc).__name__}: {exc}")
        with self._cond:
            self._error = error
            self._ended = True
            self._cond.notify_all()

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self._slot is not None:
                self._dropped += 1
            self._slot = frame
            self._captured += 1
            now = self._clock()
            self._arrivals.append(now)
            forget_before(self._arrivals, now - self.fps_window_s)
            self._cond.notify_all()
