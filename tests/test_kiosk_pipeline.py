"""The frame pipeline on a real photo: full search, then tracking at the face's own scale."""

import numpy as np
import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds
from kiosk.bench import on_canvas
from kiosk.pipeline import FrameAnalyzer, PipelineConfig

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def frame(faces_dir):
    return on_canvas(load_image_rgb(faces_dir / "dev" / "Naomi_Watts" / "1.jpg"), 640, 480)


@pytest.fixture(scope="module")
def gallery(faces_dir, encoder):
    photos = [load_image_rgb(faces_dir / "dev" / "Naomi_Watts" / f"{n}.jpg") for n in (2, 3, 5)]
    return Gallery({"naomi": [encoder.encode_largest(rgb)[1] for rgb in photos]})


def center(box) -> tuple[float, float]:
    return (box.left + box.right) / 2, (box.top + box.bottom) / 2


def shifted(rgb: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The scene moved by (dx, dy) pixels, as when the person steps sideways."""
    out = np.zeros_like(rgb)
    h, w = rgb.shape[:2]
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = rgb[max(0, -dy):h - max(0, dy),
                                                                     max(0, -dx):w - max(0, dx)]
    return out


def test_the_face_is_tracked_where_it_moves_and_still_named(encoder, frame, gallery):
    analyzer = FrameAnalyzer(encoder, MatchThresholds(), config=PipelineConfig(full_detect_every=10))
    first = analyzer.analyze(0.0, frame, gallery)
    assert first.face is not None and first.match.employee_id == "naomi"
    for i, (dx, dy) in enumerate([(0, 0), (12, 0), (24, 8), (30, 10)], start=1):
        obs = analyzer.analyze(0.25 * i, shifted(frame, dx, dy), gallery)
        assert obs.face is not None, f"lost the face after moving {dx},{dy}"
        assert abs(center(obs.face)[0] - center(first.face)[0] - dx) < 0.25 * first.face.width
        assert abs(center(obs.face)[1] - center(first.face)[1] - dy) < 0.25 * first.face.height
        assert obs.match.employee_id == "naomi"
    assert analyzer.times.count["detect"] == 1  # every later frame searched only around the face
    assert analyzer.times.count["track"] == 4


def test_a_face_that_leaves_is_searched_for_again_over_the_whole_frame(encoder, frame, gallery):
    analyzer = FrameAnalyzer(encoder, MatchThresholds())
    assert analyzer.analyze(0.0, frame, gallery).face is not None
    empty = np.zeros_like(frame)
    assert analyzer.analyze(0.25, empty, gallery).face is None
    assert analyzer.analyze(0.5, shifted(frame, -100, 0), gallery).face is not None
    assert analyzer.times.count["detect"] >= 2


def test_once_the_identity_is_settled_frames_are_not_encoded_again_until_the_face_goes(encoder, frame, gallery):
    """Liveness needs frames more than a fresh encoding once the person is named (BENCHMARKS-decision.md)."""
    analyzer = FrameAnalyzer(encoder, MatchThresholds())
    first = analyzer.analyze(0.0, frame, gallery)
    assert first.match.employee_id == "naomi" and analyzer.times.count["encode"] == 1
    for i in range(1, 4):
        obs = analyzer.analyze(0.1 * i, shifted(frame, 2 * i, 0), gallery, identity_settled=True)
        assert obs.landmarks is not None and obs.match == first.match and obs.probe is first.probe
    assert analyzer.times.count["encode"] == 1  # landmarks every frame, no encoding
    again = analyzer.analyze(0.5, frame, gallery)
    assert analyzer.times.count["encode"] == 2 and again.match.employee_id == "naomi"
    assert analyzer.analyze(0.6, np.zeros_like(frame), gallery).face is None  # the face went
    fresh = analyzer.analyze(0.7, frame, gallery, identity_settled=True)  # nothing to carry on: encoded
    assert analyzer.times.count["encode"] == 3 and fresh.match.employee_id == "naomi"
