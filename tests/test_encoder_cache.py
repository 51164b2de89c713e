"""The benchmarks' disk-memoised encoder answers exactly as dlib does, and only computes once."""

import numpy as np
import pytest

from benchmarks.calib_data import half_of
from benchmarks.calib_tuning import stranger_target
from benchmarks.encoder_cache import CachingEncoder
from biometrics.encoder import FaceEncoder, load_image_rgb

pytestmark = pytest.mark.faces


def test_cached_answers_are_dlibs_and_a_second_encoder_reads_them_from_disk(faces_dir, tmp_path):
    rgb = load_image_rgb(faces_dir / "dev" / "Naomi_Watts" / "1.jpg")
    plain, first = FaceEncoder(), CachingEncoder(cache_dir=tmp_path)
    box = plain.detect(rgb)[0]
    assert first.detect(rgb) == plain.detect(rgb)
    assert np.array_equal(first.encode(rgb, box), plain.encode(rgb, box))
    assert np.array_equal(first.landmarks68(rgb, box), plain.landmarks68(rgb, box))
    assert (first.hits, first.misses) == (0, 3)
    second = CachingEncoder(cache_dir=tmp_path)
    assert second.detect(rgb) == [box] and np.array_equal(second.encode(rgb, box), first.last_encoding)
    assert (second.hits, second.misses) == (2, 0)
    darker = (rgb * 0.5).astype(np.uint8)  # other pixels: computed, not confused with the first photo
    assert not np.array_equal(second.encode(darker, box), first.last_encoding) and second.misses == 1


def test_the_calibration_split_is_fixed_by_name_and_the_stranger_line_by_the_targets():
    assert [half_of(n) for n in ("Aaron_Sorkin", "Aaron_Sorkin")] == [half_of("Aaron_Sorkin")] * 2
    assert stranger_target(25) == pytest.approx(0.001) and stranger_target(500) == pytest.approx(0.005)
    assert stranger_target(25) < stranger_target(100) < stranger_target(400) < stranger_target(500)
