"""The optional infrared check (kiosk/liveness/ir.py): its arithmetic and its place in the liveness decision.

There is no IR photo of a face, a print or a screen in this repository or in
../shared/faces, and none is drawn here. The IR frames below are synthetic
and *not faces*: a grey ellipse where the landmarks put the face, with or
without two dark blobs (shading where eye sockets would be) and two
2-pixel bright dots (where corneal glints would be). They check that the
cues are measured where the colour frame's landmarks say, that the
thresholds do what their descriptions say, and that the checker and the
decision withhold or refuse as documented. Whether real skin, prints and
screens under 850 nm fall on the sides of the thresholds the module claims
is NOT tested: that needs the hardware (hardware/README.md).
"""

import cv2
import numpy as np
import pytest

from kiosk.liveness import PROMPTS, LivenessChecker, LivenessConfig
from kiosk.liveness.ir import IrConfig, IrCues, IrMeasure, measure, to_ir_points, verdict
from tests.test_liveness import BLINK, OPEN, face_points, sequence

SIZE = (640, 480)


def ir_frame(pts: np.ndarray, level: float = 150, shaded: bool = True, glints: int = 2,
             shape: tuple[int, int] = (480, 640), background: float = 20, seed: int = 0) -> np.ndarray:
    """A synthetic IR frame (not a face): a grey polygon a little larger than the landmarks' jaw-and-brow
    outline, optional dark blobs at the eyes' and the face sides' places (shading), optional bright dots
    at the eye centres."""
    h, w = shape
    img = np.full((h, w), background, np.float32)
    outline = np.round(np.r_[pts[0:17], pts[26:16:-1]]).astype(np.int32)
    cv2.fillPoly(img, [outline], level)
    cv2.polylines(img, [outline], True, level, 12)  # 6 px beyond the outline: the measured face is inside
    if shaded:
        shade = np.zeros_like(img)
        for eye in (slice(36, 42), slice(42, 48)):
            cx, cy = pts[eye].mean(axis=0)
            cv2.circle(shade, (int(cx), int(cy)), 16, 0.7 * level, -1)
        for side in (pts[2], pts[14]):
            cv2.circle(shade, (int(side[0]), int(side[1])), 22, 0.6 * level, -1)
        img -= cv2.GaussianBlur(shade, (0, 0), 6)
    img += np.random.default_rng(seed).normal(0, 2, img.shape)  # sensor noise
    for eye in (slice(36, 42), slice(42, 48))[:glints]:
        cx, cy = pts[eye].mean(axis=0).astype(int)
        img[cy - 1:cy + 1, cx - 1:cx + 1] = 250
    return np.clip(img, 0, 255).astype(np.uint8)


def test_cues_are_read_where_the_landmarks_put_the_face():
    pts = face_points()
    live = measure(ir_frame(pts), pts, SIZE, IrConfig())
    assert live.level > 60 and live.relief > 0.08 and live.glints == 2
    flat = measure(ir_frame(pts, shaded=False, glints=0), pts, SIZE, IrConfig())
    assert flat.relief < 0.05 and flat.glints == 0 and flat.level == pytest.approx(150, abs=3)
    dark = measure(ir_frame(pts, level=25), pts, SIZE, IrConfig())
    assert dark.level < 30
    # the same ellipse 150 px to the right of where the landmarks say: the cues read the background
    moved = measure(np.roll(ir_frame(pts), 150, axis=1), pts, SIZE, IrConfig())
    assert moved.level < 30 and moved.glints == 0


def test_a_half_size_ir_frame_and_the_installation_offset_are_mapped():
    pts = face_points()
    assert np.allclose(to_ir_points(pts, SIZE, (240, 320), (0, 0)), pts / 2)
    assert np.allclose(to_ir_points(pts, SIZE, (480, 640), (12, -5)), pts + (12, -5))
    half = ir_frame(pts / 2, shape=(240, 320))
    assert measure(half, pts, SIZE, IrConfig()).glints == 2
    shifted = np.roll(ir_frame(pts), 30, axis=1)  # the IR camera sees the face 30 px further right
    assert measure(shifted, pts, SIZE, IrConfig()).glints == 0
    assert measure(shifted, pts, SIZE, IrConfig(offset_px=(30, 0))).glints == 2


def test_a_bright_patch_filling_the_eye_is_not_a_glint():
    pts = face_points()
    img = ir_frame(pts, glints=2)
    cx, cy = pts[36:42].mean(axis=0).astype(int)
    img[cy - 8:cy + 8, cx - 18:cx + 18] = 250  # white paper where the left eye is, not a small specular spot
    assert measure(img, pts, SIZE, IrConfig()).glints == 1  # the right eye's dot only
    assert measure(img, pts, SIZE, IrConfig(glint_max_share=1.0)).glints == 2  # refused by the size rule alone


M = IrMeasure
LIVE, DARK, FLAT, NO_GLINT = M(150, 0.2, 2), M(25, 0.2, 2), M(150, 0.02, 0), M(150, 0.2, 0)


@pytest.mark.parametrize("window, expected", [
    ([LIVE] * 5, None),
    ([LIVE] * 2, "ir_pending"),                      # fewer than min_frames (3)
    ([DARK] * 5, "ir_dark"),                         # a screen: no IR from it
    ([FLAT] * 5, "ir_flat"),                         # a print: ink transparent at 850 nm
    ([NO_GLINT] * 5, "ir_no_glint"),
    ([LIVE, NO_GLINT, NO_GLINT, LIVE, NO_GLINT], None),       # 2/5 frames with a glint >= 0.3 (blinks hide it)
    ([LIVE, NO_GLINT, NO_GLINT, NO_GLINT, NO_GLINT], "ir_no_glint"),  # 1/5 < 0.3
    ([DARK, DARK, LIVE, LIVE, LIVE], None),          # medians, not one frame
    ([DARK, DARK, DARK, LIVE, LIVE], "ir_dark"),
])
def test_verdict_over_the_window(window, expected):
    assert verdict(window, IrConfig()) == expected


def test_the_glint_cue_can_be_turned_off():
    assert verdict([NO_GLINT] * 5, IrConfig(min_glint_share=0.0)) is None


def test_cues_keep_only_the_window_and_name_a_missing_ir_frame():
    pts = face_points()
    cues = IrCues(IrConfig(window_s=1.0))
    assert cues.feed(0.0, None, pts, SIZE) == "ir_missing"
    states = [cues.feed(0.1 * i, ir_frame(pts, level=25), pts, SIZE) for i in range(1, 6)]
    assert states[:2] == ["ir_pending"] * 2 and states[-1] == "ir_dark"
    live = [cues.feed(0.6 + 0.1 * i, ir_frame(pts, seed=i), pts, SIZE) for i in range(1, 12)]
    assert live[-1] is None  # the dark frames have left the 1-s window
    assert cues.feed(5.0, None, pts, SIZE) == "ir_missing"  # nothing within the window any more
    with pytest.raises(ValueError, match="grey"):
        measure(np.zeros((480, 640, 3), np.uint8), pts, SIZE, IrConfig())


def blink_with_ir(make_ir, enabled: bool = True):
    """The synthetic blink of test_liveness fed with an IR frame per frame; the states."""
    checker = LivenessChecker(LivenessConfig(mode="blink", ir=IrConfig(enabled=enabled)))
    return [checker.feed(ts, pts, SIZE, ir=make_ir(i, pts)) for i, (ts, pts) in
            enumerate(sequence(OPEN + BLINK + [1.0] * 5))]


def test_a_blink_passes_with_live_ir_and_not_without_ir():
    assert blink_with_ir(lambda i, pts: ir_frame(pts, seed=i))[-1].passed
    no_ir = blink_with_ir(lambda i, pts: None)
    assert not any(s.passed for s in no_ir) and no_ir[-1].reason == "ir_missing"
    assert blink_with_ir(lambda i, pts: None, enabled=False)[-1].passed  # off: IR is not read


@pytest.mark.parametrize("make, reason", [
    (lambda i, pts: ir_frame(pts, level=25, seed=i), "ir_dark"),
    (lambda i, pts: ir_frame(pts, shaded=False, glints=0, seed=i), "ir_flat"),
    (lambda i, pts: ir_frame(pts, glints=0, seed=i), "ir_no_glint"),
])
def test_a_blink_with_spoof_like_ir_does_not_pass(make, reason):
    states = blink_with_ir(make)
    assert not any(s.passed for s in states)
    assert states[-1].reason == reason
    if reason in ("ir_dark", "ir_flat"):
        # named from the first verdict on, before any blink: the screen or print prompt
        assert all(s.reason == reason for s in states[3:])
        assert PROMPTS[reason] == PROMPTS["still_image"]
    else:
        assert states[5].reason == "no_blink"  # a withheld pass does not hide the mode's own prompt


def test_ir_needs_a_mode_and_has_descriptions():
    with pytest.raises(ValueError, match="mode other than off"):
        LivenessConfig(mode="off", ir=IrConfig(enabled=True))
    with pytest.raises(ValueError):
        IrConfig(enabeld=True)
    assert all(f.description for f in IrConfig.model_fields.values())
