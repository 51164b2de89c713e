"""Raspberry Pi ribbon cameras (Camera Module 3 and friends) through picamera2.

picamera2 exists only on Raspberry Pi OS (the ``pi`` extra), so it is
imported inside ``open()``: ``import hardware`` works anywhere, and on
another machine ``open()`` says what to install.

Channel order: picamera2 names formats after libcamera/DRM, whose names
describe a 32-bit word, not the bytes. Its "RGB888" stores each pixel as
the bytes B, G, R (the manual, section 4.2.2.2; picamera2's own
``Helpers.make_image`` reads RGB888 buffers with PIL raw mode "BGR"). It is
the format every Pi camera pipeline supports, so we ask for it and reverse
the channels to the RGB the encoder takes.
"""

import logging
import time

import numpy as np

from hardware.camera import CameraError, Frame

log = logging.getLogger(__name__)

NOT_INSTALLED = "picamera2 is not installed: install the 'pi' extra on a Raspberry Pi"


def rgb888_to_rgb(array: np.ndarray) -> np.ndarray:
    """picamera2 "RGB888" (bytes B, G, R per pixel) -> a contiguous RGB array."""
    return np.ascontiguousarray(array[..., 2::-1])


class Picamera2Camera:
    """The Pi camera's main stream at ``width`` x ``height``, paced by the sensor at ``fps``."""

    def __init__(
        self, width: int = 640, height: int = 480, fps: float = 15.0, camera_num: int = 0, read_timeout_s: float = 2.0
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.camera_num = camera_num
        self.read_timeout_s = read_timeout_s
        self._cam = None
        self._index = 0

    def open(self) -> None:
        if self._cam is not None:
            return
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(NOT_INSTALLED) from exc
        frame_us = int(round(1_000_000 / self.fps))
        cam = None
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(
                main={"format": "RGB888", "size": (self.width, self.height)},
                controls={"FrameDurationLimits": (frame_us, frame_us)},
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises IndexError, RuntimeError, ...: translate them all here
            if cam is not None:
                cam.close()
            raise CameraError(f"Pi camera {self.camera_num} cannot be opened: {type(exc).__name__}: {exc}") from exc
        log.info("Pi camera %d open: main stream %s", self.camera_num, cam.camera_configuration()["main"])
        self._cam = cam
        self._index = 0

    def read(self) -> Frame | None:
        if self._cam is None:
            return None
        try:
            # wait=<seconds> raises TimeoutError on current picamera2 (older ones wait without a limit)
            array = self._cam.capture_array("main", wait=self.read_timeout_s)
        except Exception as exc:
            raise CameraError(f"Pi camera {self.camera_num} stopped delivering frames: {type(exc).__name__}: {exc}") from exc
        frame = Frame(self._index, time.monotonic(), rgb888_to_rgb(array), source=f"picamera2:{self.camera_num}")
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cam is None:
            return
        cam, self._cam = self._cam, None
        try:
            cam.stop()
        finally:
            cam.close()
