"""The 1:N matcher: centroid scoring (shipped), closest-template scoring, the open-set decision.

Random unit vectors test the arithmetic; one test runs real encodings of the
shared photos through the shipped defaults.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from biometrics.encoder import FaceEncoder, load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds, match, template_count_scale, verify
from kiosk.config import RecognitionConfig


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def people() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    return {f"E{i}": list(unit(rng, 1 + i % 3)) for i in range(30)}


def test_centroid_scoring_is_the_distance_to_each_persons_mean_template(people):
    gallery = Gallery(people)
    probe = unit(np.random.default_rng(9), 1)[0]
    expected = [np.linalg.norm(np.mean(t, axis=0) - probe) for t in people.values()]
    assert gallery.scoring == "centroid"
    assert gallery.person_distances(probe) == pytest.approx(expected, abs=1e-5)


def test_closest_scoring_is_the_distance_to_each_persons_closest_template(people):
    gallery = Gallery(people, scoring="closest")
    probe = unit(np.random.default_rng(9), 1)[0]
    expected = [min(np.linalg.norm(t - probe) for t in ts) for ts in people.values()]
    assert gallery.person_distances(probe) == pytest.approx(expected, abs=1e-5)


def test_a_centroid_gallery_scans_one_row_per_person_and_counts_every_template(people):
    gallery = Gallery({**people, "nobody": []})
    assert len(gallery) == gallery.row_count == 30
    assert gallery.template_count == sum(len(t) for t in people.values())
    assert "nobody" not in gallery.person_ids
    assert Gallery(people, scoring="closest").row_count == gallery.template_count


def test_unknown_scoring_is_refused(people):
    with pytest.raises(ValueError):
        Gallery(people, scoring="median")


def test_a_probe_near_a_persons_mean_is_accepted_with_its_margin(people):
    gallery = Gallery(people)
    probe = np.mean(people["E5"], axis=0) + 0.01
    result = match(gallery, probe, MatchThresholds())
    assert (result.decision, result.employee_id, result.best_id) == ("accept", "E5", "E5")
    assert result.distance < MatchThresholds().accept_distance and result.margin > MatchThresholds().min_margin


def test_a_close_runner_up_makes_it_uncertain_and_far_away_is_unknown():
    rng = np.random.default_rng(4)
    a = unit(rng, 1)[0]
    gallery = Gallery({"A": [a], "B": [a + 0.02]})
    result = match(gallery, a + 0.01, MatchThresholds())
    assert result.decision == "uncertain" and result.employee_id is None and result.margin < 0.05
    far = match(gallery, -a, MatchThresholds())
    assert (far.decision, far.employee_id, far.best_id) == ("unknown", None, "A")


def test_an_empty_gallery_knows_nobody():
    result = match(Gallery({}), np.zeros(128), MatchThresholds())
    assert (result.decision, result.best_id, result.distance) == ("unknown", None, float("inf"))


def test_verify_scores_as_match_does_one_person(people):
    """Phone selfies and verify-with-ID: the person's score, as 1:N scores them (mean, one-photo scale)."""
    templates = people["E2"]  # three templates
    probe = unit(np.random.default_rng(11), 1)[0]
    accepted, score = verify(templates, probe, 2.0)
    assert accepted and score == pytest.approx(Gallery({"E2": templates}).person_scores(probe)[0], abs=1e-5)
    assert score == pytest.approx(np.linalg.norm(np.mean(templates, axis=0) - probe) * 1.5 ** 0.2, abs=1e-5)
    assert verify(templates, probe, score - 1e-4) == (False, pytest.approx(score))
    assert verify([], templates[0], 0.5) == (False, float("inf"))


@pytest.mark.parametrize("k, scale", [(1, 1.0), (2, (4 / 3) ** 0.2), (3, 1.5 ** 0.2), (5, (5 / 3) ** 0.2)])
def test_a_mean_of_more_photos_is_put_on_the_one_photo_scale(k, scale):
    assert template_count_scale(np.array([k]))[0] == pytest.approx(scale)


def test_the_same_distance_to_a_mean_of_more_photos_is_a_weaker_match():
    """Strangers land nearer a mean of several photos: at one raw distance, the one-photo person is named."""
    rng = np.random.default_rng(5)
    a, b = unit(rng, 2)
    probe = a + 0.02
    raw = float(np.linalg.norm(probe - a))
    noise = unit(rng, 3) * 0.01
    many = [a + n - noise.mean(axis=0) for n in noise]  # three photos whose mean is exactly a
    t = MatchThresholds(accept_distance=raw * 1.05, min_margin=0.0)
    assert match(Gallery({"one": [a], "far": [-a]}), probe, t).decision == "accept"
    result = match(Gallery({"many": many, "far": [-a]}), probe, t)
    assert result.decision == "uncertain" and result.distance == pytest.approx(raw * 1.5 ** 0.2, rel=1e-4)


def test_the_kiosk_config_and_the_matcher_ship_the_same_thresholds():
    shipped, kiosk = MatchThresholds(), RecognitionConfig()
    assert (kiosk.accept_distance, kiosk.min_margin) == (shipped.accept_distance, shipped.min_margin)


@pytest.mark.faces
def test_real_photos_a_person_enrolled_with_three_photos_is_named_on_a_fourth(faces_dir):
    encoder = FaceEncoder()

    def encodings(person: str) -> list[np.ndarray]:
        photos = sorted((faces_dir / "dev" / person).glob("*.jpg"))[:4]
        return [encoder.encode_largest(load_image_rgb(p))[1] for p in photos]

    obama, crean = encodings("Barack_Obama"), encodings("Tom_Crean")
    gallery = Gallery({"obama": obama[:3], "crean": crean[:3]})
    result = match(gallery, obama[3], MatchThresholds())
    assert (result.decision, result.employee_id) == ("accept", "obama")
    # the mean of three photos is nearer a new photo of him than the photos are on average
    raw = Gallery({"obama": obama[:3]}).person_distances(obama[3])[0]
    assert raw < np.mean([np.linalg.norm(t - obama[3]) for t in obama[:3]])
    assert result.distance == pytest.approx(raw * 1.5 ** 0.2, rel=1e-5)
    stranger = match(Gallery({"crean": crean[:3]}), obama[3], MatchThresholds())
    assert stranger.decision == "unknown"


def test_the_example_kiosk_yaml_ships_the_measured_thresholds():
    """A kiosk configured from the example must not run other thresholds than the ones measured."""
    example = yaml.safe_load((Path(__file__).resolve().parents[1] / "kiosk" / "kiosk.example.yaml").read_text())
    shipped = MatchThresholds()
    recognition = example["recognition"]
    assert (recognition["accept_distance"], recognition["min_margin"]) == (shipped.accept_distance, shipped.min_margin)
