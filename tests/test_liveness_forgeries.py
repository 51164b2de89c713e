"""Each liveness defence of issue 19 pinned on real pictures, through the kiosk's own frame path.

Forgeries are built from real dev photos by ``benchmarks.forgeries`` (a print
held by hand, folded and swung, alternated with a copy whose eyes are
painted shut, or injected frames); the genuine blink comes from the real
video. Frames go through ``kiosk.pipeline.FrameAnalyzer``'s detect-and-track
step and dlib's landmarks, as on the kiosk, and the checker gets the frames
for its pixel cues. Everything is read from ../shared/faces (skipped when
absent), never copied. BENCHMARKS-liveness.md has the rates over many people.
"""

import random

import pytest

from benchmarks.forgeries import Spec, frames_of, load_photo
from benchmarks.liveness_frames import FPS, FRAME_SIZE, kiosk_track, video_frames
from biometrics.encoder import FaceEncoder
from kiosk.liveness import LivenessChecker, LivenessConfig

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def forgery(faces_dir, encoder):
    """(family, dev photo) -> (frames, track) of the seed-1 sequence, built once per module."""
    made = {}

    def make(family: str, name: str):
        if (family, name) not in made:
            photo = load_photo(faces_dir / "dev" / name, name, encoder)
            frames = frames_of(Spec(family, photo, 1))
            made[family, name] = frames, kiosk_track(encoder, frames)
        return made[family, name]

    return make


def replay(config: LivenessConfig, frames, track, start: int = 0, seed: int = 0, order=None):
    """The checker's state on every frame with a face, as (ts, state); ``order`` fixes the default mode's steps."""
    checker = LivenessChecker(config, rng=random.Random(seed))
    if order is not None:
        checker.challenge.order = order
    out = []
    for i in range(start, len(frames)):
        if track.found[i]:
            out.append((i / FPS, checker.feed(i / FPS, track.landmarks[i], FRAME_SIZE, frames[i])))
    return checker, out


def test_injected_frames_with_painted_eyes_are_still_in_the_pixels_though_the_landmarks_move(forgery):
    # Bit-identical frames except for the eyes: the kiosk's re-detected box moves
    # the landmarks, so the landmark still-guard sees motion; the pixels do not.
    frames, track = forgery("paint_injected", "Arnold_Palmer/1.jpg")
    for mode in ("blink", "blink_and_head_turn"):
        checker, states = replay(LivenessConfig(mode=mode), frames, track)
        assert not any(s.passed for _, s in states)
        assert states[-1][1].reason == "still_image"
    assert checker.blink.is_moving() is True  # what fooled the landmark-only guard


def test_a_print_alternated_with_its_painted_shut_copy_is_not_a_blink(forgery):
    frames, track = forgery("paint_print", "Arnold_Palmer/1.jpg")
    _, states = replay(LivenessConfig(mode="blink"), frames, track)
    assert not any(s.passed for _, s in states)
    assert {"eyes_painted", "eyes_snapped_open"} & {s.reason for _, s in states}
    # the same frames with the eye-appearance and rising-lid rules off pass: those rules are the defence
    off = LivenessConfig(mode="blink", blink_min_lash_ratio=0.0, blink_require_rising=False)
    assert any(s.passed for _, s in replay(off, frames, track)[1])


@pytest.mark.parametrize("name, fooled_side", [("Filippo_Inzaghi/1.jpg", "right"), ("Edmund_Stoiber/1.jpg", None)])
def test_a_folded_print_swung_left_and_right_does_not_pass_the_default_mode(forgery, name, fooled_side):
    frames, track = forgery("fold", name)
    for seed in range(4):  # both orders and both sides
        _, states = replay(LivenessConfig(), frames, track, seed=seed)
        assert not any(s.passed for _, s in states)
    if fooled_side:
        # solvePnP reads a head turned past head_turn_min_yaw_deg (progress 1.0), yet the turn
        # is refused: the nose parallax is missing on most frames, or the pose flips
        config = LivenessConfig(mode="head_turn", head_turn_direction=fooled_side)
        _, states = replay(config, frames, track)
        assert max(s.score for _, s in states) >= 1.0
        assert not any(s.passed for _, s in states)
        assert "flat_face" in {s.reason for _, s in states}


BOTH_ORDERS = [("blink", "turn"), ("turn", "blink")]


@pytest.mark.parametrize("order", BOTH_ORDERS)
def test_a_painted_eye_blink_on_a_screen_fools_blink_mode_but_not_the_default_challenge(forgery, order):
    frames, track = forgery("paint_screen", "Arnold_Palmer/1.jpg")
    # the screen's blur and gamma hide the missing lash line here: blink mode alone is fooled
    # (BENCHMARKS-liveness.md: paint_screen passes blink mode in a few sequences)...
    assert any(s.passed for _, s in replay(LivenessConfig(mode="blink"), frames, track)[1])
    # ...the default mode also asks for a turn, which a photo on a screen cannot make
    checker, states = replay(LivenessConfig(), frames, track, order=order)
    assert not any(s.passed for _, s in states)
    if order[0] == "blink":
        assert checker.challenge.current == "turn"  # the painted blink was taken; the turn never came


@pytest.mark.parametrize("order", BOTH_ORDERS)
def test_a_folded_print_swung_and_alternated_with_its_painted_copy_does_not_pass_the_default_mode(forgery, order):
    # the forgery with a prop for each step: the fold for the turn, the painted copy for the blink
    frames, track = forgery("fold_paint", "Arnold_Palmer/1.jpg")
    _, states = replay(LivenessConfig(), frames, track, order=order)
    assert not any(s.passed for _, s in states)


def test_a_pose_jump_on_a_folded_print_fails_the_attempt_for_good(forgery):
    # the fold's pose estimate flips from one frame to the next; before issue 19 that restarted
    # the turn (and let the next swing try again), now it ends the attempt
    frames, track = forgery("fold", "Filippo_Inzaghi/1.jpg")
    for config in (LivenessConfig(mode="head_turn", head_turn_direction="left"), LivenessConfig()):
        _, states = replay(config, frames, track, order=("turn", "blink"))
        reasons = [s.reason for _, s in states]
        assert "pose_jump" in reasons, reasons
        after = reasons[reasons.index("pose_jump"):]
        assert set(after) == {"pose_jump"} and not any(s.passed for _, s in states)


@pytest.fixture(scope="module")
def real_blink(faces_dir, encoder):
    """The real video from 2.0 s to 4.4 s (a blink at ~3.4 s after open eyes), through the kiosk path."""
    path = faces_dir / "video" / "blink-1.mp4"
    if not path.is_file():
        pytest.skip(f"real blink video not found at {path}")
    times, frames = video_frames(path)
    first, last = 20, 44
    frames = frames[first:last]
    return first, frames, kiosk_track(encoder, frames)


def test_a_real_blink_passes_after_it_happens_and_not_before(real_blink):
    first, frames, track = real_blink
    assert track.found.all()
    for mode in ("blink", "blink_and_head_turn"):
        checker = LivenessChecker(LivenessConfig(mode=mode), rng=random.Random(1))
        if mode == "blink_and_head_turn":
            checker.challenge.order = ("blink", "turn")
        passed_at = None
        for i, rgb in enumerate(frames):
            ts = (first + i) / FPS
            state = checker.feed(ts, track.landmarks[i], FRAME_SIZE, rgb)
            assert state.reason != "still_image"
            done = state.passed if mode == "blink" else checker.challenge.current == "turn"
            if done and passed_at is None:
                passed_at = ts
        assert passed_at is not None and 3.4 <= passed_at <= 4.0, (mode, passed_at)
        if mode == "blink_and_head_turn":
            assert checker.prompt[0].startswith("Turn your head")  # the next prompt, the blink step done
