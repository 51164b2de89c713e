"""Quality gates on real dev photos and on blurred, darkened, overexposed and shrunk copies."""

import cv2
import numpy as np
import pytest

from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb
from kiosk.quality import MESSAGES, QualityConfig, assess, face_height_px, largest_face, sharpness

pytestmark = pytest.mark.faces

GOOD = ["Arnold_Palmer/1.jpg", "Benazir_Bhutto/1.jpg", "Hamid_Karzai/1.jpg", "Naomi_Watts/1.jpg"]


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def photo(faces_dir, encoder):
    """name -> (rgb, boxes, landmarks of the largest face), detected by the real encoder."""
    cache = {}

    def load(name):
        if name not in cache:
            rgb = load_image_rgb(faces_dir / "dev" / name)
            boxes = encoder.detect(rgb)
            assert boxes, f"no face found in {name}"
            cache[name] = (rgb, boxes, encoder.landmarks68(rgb, boxes[0]))
        return cache[name]

    return load


def codes(report):
    return {i.code for i in report.issues if i.blocking}


@pytest.mark.parametrize("name", GOOD)
def test_real_photos_pass(photo, name):
    rgb, boxes, lm = photo(name)
    report = assess(rgb, boxes, lm)
    assert report.ok, report.issues
    assert report.instruction is None and report.face_index == 0


@pytest.mark.parametrize("name", GOOD)
@pytest.mark.parametrize(
    "change, code",
    [
        (lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 3), "too_blurred"),
        (lambda rgb: (rgb * 0.3).astype(np.uint8), "too_dark"),
        (lambda rgb: np.clip(rgb * 2.0 + 60, 0, 255).astype(np.uint8), "too_bright"),
    ],
    ids=["blurred", "darkened", "overexposed"],
)
def test_degraded_copies_are_refused_with_the_reason(photo, name, change, code):
    rgb, boxes, lm = photo(name)
    report = assess(change(rgb), boxes, lm)
    assert not report.ok and code in codes(report)
    assert report.instruction.code in codes(report)


@pytest.mark.parametrize("name", GOOD)
def test_a_shrunk_copy_asks_to_come_closer(photo, name):
    rgb, boxes, lm = photo(name)
    small = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    report = assess(small, [b.scaled(0.5) for b in boxes], lm * 0.5)
    assert codes(report) == {"too_small"}
    assert (report.instruction.message_en, report.instruction.message_hi) == ("Come closer", "पास आइए")


def test_sharpness_does_not_depend_on_how_many_pixels_the_face_has(photo):
    rgb, boxes, _ = photo(GOOD[0])
    box = boxes[0]
    crop = cv2.cvtColor(rgb[box.top:box.bottom, box.left:box.right], cv2.COLOR_RGB2GRAY)
    big = cv2.resize(crop, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    assert sharpness(big) == pytest.approx(sharpness(crop), rel=0.3)
    # while the raw Laplacian variance of the big crop is several times lower
    assert cv2.Laplacian(big, cv2.CV_64F).var() < 0.3 * cv2.Laplacian(crop, cv2.CV_64F).var()


@pytest.mark.parametrize("name", ["Robert_Duvall/2.jpg", "Robert_Kocharian/4.jpg"])
def test_a_turned_head_is_asked_to_look_straight(photo, name):
    rgb, boxes, lm = photo(name)
    report = assess(rgb, boxes, lm)
    assert codes(report) == {"not_frontal"} and abs(report.pose.yaw) > 45
    assert assess(rgb, boxes).ok  # without landmarks the frontal gate is not applied


def test_more_than_one_face_uses_the_largest_and_says_so(photo):
    rgb, boxes, lm = photo("Iain_Duncan_Smith/1.jpg")
    assert len(boxes) == 2
    report = assess(rgb, list(reversed(boxes)), lm)
    assert report.ok and report.face_index == 1  # the largest, wherever it is in the list
    assert report.instruction.code == "multiple_faces" and not report.instruction.blocking
    strict = assess(rgb, boxes, lm, QualityConfig(multiple_faces_block=True))
    assert codes(strict) == {"multiple_faces"}


def test_no_face():
    report = assess(np.zeros((480, 640, 3), np.uint8), [])
    assert not report.ok and report.face_index is None and report.instruction.code == "no_face"


def test_largest_face_by_area():
    boxes = [FaceBox(0, 0, 50, 50), FaceBox(100, 100, 220, 220), FaceBox(0, 300, 90, 390)]
    assert largest_face(boxes) == 1 and largest_face([]) is None


def test_bad_frame_is_refused():
    with pytest.raises(ValueError):
        assess(np.zeros((480, 640), np.uint8), [FaceBox(0, 0, 100, 100)])


def test_config_and_messages():
    with pytest.raises(ValueError):
        QualityConfig(min_face=90)
    assert all(f.description for f in QualityConfig.model_fields.values())
    assert all(en and hi and en != hi for en, hi in MESSAGES.values())


@pytest.mark.parametrize("name", GOOD[:2])
def test_face_size_is_measured_on_the_landmarks_not_the_coarse_box(photo, name):
    """A face found on a downscaled frame gets a coarse box; the landmarks say how big it is."""
    rgb, boxes, lm = photo(name)
    measured = face_height_px(lm)
    assert 0.8 * boxes[0].height < measured < 1.25 * boxes[0].height
    tight = QualityConfig(min_face_px=int(measured) - 2)
    shrunk_box = [FaceBox(b.left + b.width // 4, b.top + b.height // 4, b.right - b.width // 4,
                          b.bottom - b.height // 4) for b in boxes]
    assert "too_small" not in codes(assess(rgb, shrunk_box, lm, tight))
    assert "too_small" in codes(assess(rgb, boxes, lm * 0.5, tight))
    assert "too_small" in codes(assess(rgb, shrunk_box, None, tight))  # no landmarks: the box is all there is
