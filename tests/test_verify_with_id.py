"""The 1:1 rule of verify-with-ID and phone selfies, on real photos of the dev set.

A staff number typed at the kiosk (or the phone's bound employee) names
the one person to check; ``biometrics.matcher.verify`` scores the face
against that person only, as 1:N scores people, and accepts under
``VERIFY_ACCEPT_DISTANCE`` (the kiosk's 1:1 default, measured on the
calibration set: BENCHMARKS-accuracy-calib.md).
"""

import numpy as np
import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from biometrics.matcher import (
    PHONE_ACCEPT_DISTANCE,
    VERIFY_ACCEPT_DISTANCE,
    Gallery,
    MatchThresholds,
    match,
    template_count_scale,
    verify,
)

pytestmark = pytest.mark.faces

PEOPLE = ["Barack_Obama", "Tom_Crean", "Hamid_Karzai", "Pervez_Musharraf"]


@pytest.fixture(scope="module")
def photos(faces_dir) -> dict[str, list[np.ndarray]]:
    """The first four photos of each person, encoded by the real encoder."""
    encoder = FaceEncoder()
    out = {}
    for person in PEOPLE:
        files = sorted((faces_dir / "dev" / person).glob("*.jpg"))[:4]
        out[person] = [encoder.encode_largest(load_image_rgb(f))[1] for f in files]
    return out


@pytest.mark.parametrize("person", PEOPLE)
def test_a_person_typing_their_own_number_is_accepted(photos, person):
    enrolled, probe = photos[person][:3], photos[person][3]
    accepted, score = verify(enrolled, probe, VERIFY_ACCEPT_DISTANCE)
    assert accepted, f"{person}: score {score:.3f}"


@pytest.mark.parametrize("person", PEOPLE)
def test_someone_typing_another_persons_number_is_refused(photos, person):
    probe = photos[person][3]
    for other in PEOPLE:
        if other != person:
            accepted, score = verify(photos[other][:3], probe, VERIFY_ACCEPT_DISTANCE)
            assert not accepted, f"{person} as {other}: score {score:.3f}"


def test_verify_gives_the_score_one_to_n_gives_that_person(photos):
    """One rule for 1:1 and 1:N: the same number whether the person is found or named."""
    gallery = Gallery({p: photos[p][:3] for p in PEOPLE})
    probe = photos["Hamid_Karzai"][3]
    result = match(gallery, probe, MatchThresholds())
    assert result.best_id == "Hamid_Karzai"
    assert verify(photos["Hamid_Karzai"][:3], probe, VERIFY_ACCEPT_DISTANCE)[1] == pytest.approx(result.distance,
                                                                                                rel=1e-5)
    raw = float(np.linalg.norm(np.mean(photos["Hamid_Karzai"][:3], axis=0) - probe))
    assert result.distance == pytest.approx(raw * template_count_scale(np.array([3]))[0], rel=1e-5)


def test_the_one_to_one_defaults_are_the_measured_ones():
    """Chosen on the calibration set's tuning half (benchmarks.calib_tuning); change them only with new curves."""
    assert (VERIFY_ACCEPT_DISTANCE, PHONE_ACCEPT_DISTANCE) == (0.525, 0.515)
    from hub.phone.config import PhoneConfig

    assert PhoneConfig.model_fields["accept_distance"].default == PHONE_ACCEPT_DISTANCE
