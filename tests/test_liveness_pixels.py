"""Pixel cues of kiosk.liveness.pixels on plain arrays (pure logic; the real-photo cases are in
test_liveness_forgeries.py). The landmark sets are the coordinates of test_liveness.py, not faces."""

import math

import numpy as np
import pytest

from kiosk.liveness.pixels import PixelCues, eye_patch, lash_contrast
from tests.test_liveness import face_points


def textured(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 200, (480, 640, 3), dtype=np.uint8)


def test_identical_frames_do_not_change_however_the_landmarks_move():
    cues = PixelCues()
    frame = textured()
    assert math.isnan(cues.feed(frame, face_points()).still_change)  # nothing to compare the first frame with
    for dx in (1.0, -2.0, 0.5):  # the re-detected box, and so every landmark, shifts
        assert cues.feed(frame.copy(), face_points() + [dx, dx]).still_change == 0.0


def test_only_the_eyes_changing_is_still_and_sensor_noise_is_not():
    cues = PixelCues()
    frame = textured()
    pts = face_points()
    cues.feed(frame, pts)
    eyes = frame.copy()
    eyes[152:188, 132:188] = 90  # both eyes repainted, the rest bit-identical
    eyes[152:188, 212:268] = 90
    assert cues.feed(eyes, pts).still_change == 0.0
    noise = np.random.default_rng(1).normal(0, 2.0, frame.shape)
    assert cues.feed(np.clip(eyes + noise, 0, 255).astype(np.uint8), pts).still_change > 1.0


def test_lash_contrast_sees_a_dark_line_and_not_a_flat_patch():
    flat = np.full((16, 24), 150.0, np.float32)
    line = flat.copy()
    line[9] = 60.0
    assert lash_contrast(flat) == pytest.approx(0.0)
    assert lash_contrast(line) == pytest.approx(0.6)


def test_eye_patch_follows_the_eye_corners():
    gray = np.zeros((400, 400), np.uint8)
    gray[168:173, 140:180] = 255  # a bright bar along the eye line of face_points' left eye (y = 170)
    patch = eye_patch(gray, face_points()[36:42])
    assert patch.shape == (16, 24)
    assert patch[8].mean() > 200 and patch[0].mean() < 10  # the bar in the middle row, dark above
    with pytest.raises(ValueError):
        eye_patch(gray, np.zeros((6, 2)))
