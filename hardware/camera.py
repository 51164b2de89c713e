"""The camera seam: every backend (picamera2, OpenCV/V4L2, file replay) is a FrameSource.

Frames are RGB (HxWx3 uint8), the order dlib and face encoders take; a
kiosk with a NoIR camera also gets the IR frame taken with each one
(``Frame.ir``, HxW grey uint8, from ``hardware.ir_camera.IrPairedCamera``). A
source is created with its settings, opened with ``open()``, and read
until ``read()`` returns None (a replay that has ended, or a closed camera).
"""

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class CameraError(RuntimeError):
    """A camera cannot be opened or has stopped delivering frames."""


@dataclass(frozen=True)
class Frame:
    index: int                 # 0, 1, 2 ... in capture order
    ts_s: float                # monotonic capture time, seconds
    rgb: np.ndarray = field(repr=False)
    source: str = ""           # e.g. the replayed file name, for logs and demo accounts
    ir: np.ndarray | None = field(default=None, repr=False)  # HxW grey IR frame taken with it (hardware.ir_camera)


@runtime_checkable
class FrameSource(Protocol):
    def open(self) -> None:
        """Acquire the device or files; raises CameraError with the reason."""

    def read(self) -> Frame | None:
        """Block until the next frame; None when no more frames will come."""

    def close(self) -> None:
        """Release the device; safe to call twice."""
