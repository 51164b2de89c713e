"""On a real Raspberry Pi only: the ribbon camera and the GPIO pins. Skips itself elsewhere.

Run on the terminal: ``python -m pytest tests/test_hw_pi.py -m hardware``.
The camera must be connected; the LEDs and buzzer blink/beep once.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hardware.camera import CameraError
from hardware.indicators import Indicators, IndicatorsConfig
from hardware.picamera2_camera import Picamera2Camera


def is_raspberry_pi() -> bool:
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


pytestmark = pytest.mark.hardware
if not is_raspberry_pi():
    pytest.skip("needs a Raspberry Pi", allow_module_level=True)


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is None, reason="picamera2 not installed (the 'pi' extra)")
def test_the_pi_camera_delivers_rgb_frames_at_the_asked_size():
    camera = Picamera2Camera(640, 480, 15)
    try:
        camera.open()
    except CameraError as exc:
        pytest.fail(f"camera not usable: {exc}")
    try:
        frames = [camera.read() for _ in range(10)]
    finally:
        camera.close()
    assert [f.index for f in frames] == list(range(10))
    for frame in frames:
        assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
    assert any(frame.rgb.std() > 1 for frame in frames), "the camera returns blank frames (lens cap? cable?)"


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is None, reason="lgpio not installed (the 'pi' extra)")
def test_the_indicators_drive_the_real_pins():
    indicators = Indicators(IndicatorsConfig(accept_s=0.3, refuse_s=0.3))
    indicators.open()
    try:
        indicators.accepted()
        assert indicators.wait_idle(10)
        indicators.refused()
        assert indicators.wait_idle(10)
    finally:
        indicators.close()
