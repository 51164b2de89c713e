"""A FrameSource that stops or fails on command, around any other source: the camera faults, for tests and benches.

A real camera stops in two ways: it hangs (the driver's read never
returns, the ribbon cable came loose) or it errors (V4L2 ``select()``
timeout, libcamera's "device disconnected"). ``FaultyCamera`` does both on
request around a real source (the file replay), behind the same
interface, so the kiosk's self-healing runs exactly as on a wall:

- ``hang()``: ``read()`` blocks until ``close()`` (as a stuck driver does
  until the device is released) or ``resume()``;
- ``fail(opens)``: ``read()`` raises ``CameraError``, and so do the next
  ``opens`` calls of ``open()``; the open after them works again, as a camera
  that comes back after a few restarts.

``opens`` counts every ``open()`` call, so a test can see the restarts.
"""

import threading

from hardware.camera import CameraError, Frame, FrameSource


class FaultyCamera:
    """``source`` with faults switched on and off by the test."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.opens = 0
        self._lock = threading.Lock()
        self._hanging = False
        self._failing = False
        self._failed_opens_left = 0
        self._released = threading.Event()   # set by close() or resume(): a hanging read returns

    def hang(self) -> None:
        with self._lock:
            self._hanging = True
            self._released.clear()

    def fail(self, opens: int = 0) -> None:
        with self._lock:
            self._failing, self._failed_opens_left = True, opens

    def resume(self) -> None:
        """No more faults from the next read on (a hanging read returns and reads on)."""
        with self._lock:
            self._hanging = self._failing = False
            self._failed_opens_left = 0
        self._released.set()

    def open(self) -> None:
        with self._lock:
            self.opens += 1
            if self._failed_opens_left > 0:
                self._failed_opens_left -= 1
                raise CameraError(f"camera not found (simulated; {self._failed_opens_left} more failed opens)")
            self._failing = self._hanging = False    # a successful open is a fresh device
        self.source.open()

    def read(self) -> Frame | None:
        with self._lock:
            hanging, failing = self._hanging, self._failing
        if failing:
            raise CameraError("camera read failed (simulated: device disconnected)")
        if hanging:
            self._released.wait()
            with self._lock:
                if self._hanging:             # released by close(): a closed camera has no frames
                    return None
        return self.source.read()

    def close(self) -> None:
        self._released.set()
        self.source.close()
