"""An IR frame beside every colour frame: a NoIR camera paired with the colour camera.

The optional infrared liveness check (``kiosk.liveness.ir``) needs, with each
colour frame, an 850 nm picture of the same moment. On a Pi 5 that is a
Camera Module 3 NoIR on the second CSI port (``Picamera2Camera(camera_num=1)``)
next to the colour camera, the 850 nm illuminator lighting both; on a bench,
a folder of IR images replayed (``ReplayCamera``), the behaving fake.

``IrPairedCamera`` is itself a ``FrameSource``: each ``read()`` takes the
next colour frame, then the next IR frame, and hands out the colour frame
with the IR frame (grey) in ``Frame.ir``. IR frames further apart in time
than ``max_skew_s`` are not attached (the person may have moved): the frame
goes out without IR, which the IR check treats as no IR at all. An IR source
that fails or ends never stops the colour camera: the kiosk keeps running,
and a kiosk with the IR check on passes nobody until IR frames return
(logged once per outage).
"""

import logging
from dataclasses import replace

import cv2
import numpy as np

from hardware.camera import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)


def to_ir_gray(image: np.ndarray) -> np.ndarray:
    """One grey channel from an IR camera's frame (a NoIR sensor's RGB under 850 nm is nearly grey)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"IR frame must be HxW or HxWx3, got shape {image.shape}")


class IrPairedCamera:
    """``colour`` frames with the ``ir`` source's frame of the same moment attached (``Frame.ir``)."""

    def __init__(self, colour: FrameSource, ir: FrameSource, max_skew_s: float = 0.1) -> None:
        if max_skew_s <= 0:
            raise ValueError(f"max_skew_s must be > 0 (got {max_skew_s})")
        self.colour = colour
        self.ir = ir
        self.max_skew_s = max_skew_s
        self.ir_frames = 0       # IR frames attached
        self.ir_missing = 0      # colour frames handed out without IR
        self._ir_ok = False      # whether the IR source is open and delivering
        self._ir_down_logged = False

    def open(self) -> None:
        """Open the colour camera (its failure is fatal), then the IR camera (its failure is logged)."""
        self.colour.open()
        try:
            self.ir.open()
            self._ir_ok = True
        except CameraError as exc:
            self._ir_down(f"IR camera cannot be opened: {exc}")

    def read(self) -> Frame | None:
        frame = self.colour.read()
        if frame is None:
            return None
        ir = self._read_ir()
        if ir is None:
            self.ir_missing += 1
            return frame
        if abs(ir.ts_s - frame.ts_s) > self.max_skew_s:
            self.ir_missing += 1
            log.debug("IR frame %.3f s from colour frame %s: not attached", ir.ts_s - frame.ts_s, frame.index)
            return frame
        self.ir_frames += 1
        self._ir_down_logged = False
        return replace(frame, ir=to_ir_gray(ir.rgb))

    def close(self) -> None:
        try:
            self.colour.close()
        finally:
            self.ir.close()
            self._ir_ok = False

    @property
    def ended(self) -> bool:
        return bool(getattr(self.colour, "ended", True))

    def _read_ir(self) -> Frame | None:
        if not self._ir_ok:
            return None
        try:
            ir = self.ir.read()
        except CameraError as exc:
            self._ir_down(f"IR camera stopped delivering frames: {exc}")
            return None
        if ir is None:
            self._ir_down("IR camera has no more frames")
        return ir

    def _ir_down(self, why: str) -> None:
        if not self._ir_down_logged:
            log.error("%s; frames go on without IR (the IR liveness check passes nobody meanwhile)", why)
            self._ir_down_logged = True
