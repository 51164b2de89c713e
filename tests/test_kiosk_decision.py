"""The decision state machine on hand-built observations (pure logic, no camera, no model).

Each frame is a ``kiosk.pipeline.Observation``: a face box, optional synthetic
68-point landmarks (the iBUG layout of tests/test_liveness.py) and the
``MatchResult`` the matcher would have produced. Time is the frame timestamp.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from biometrics.encoder import FaceBox
from biometrics.matcher import MatchResult
from kiosk.decision import MESSAGES, DecisionConfig, DecisionMachine, Outcome, RepunchGuard
from kiosk.liveness import PROMPTS as LIVENESS_PROMPTS
from kiosk.liveness import LivenessConfig
from kiosk.pipeline import Observation
from kiosk.punches import make_signed_punch, punch_fields
from protocol import messages, signing
from tests.test_liveness import face_points

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 11, 22, 9, 14, 3, tzinfo=IST)
FPS = 10.0
FACE = FaceBox(200, 120, 440, 360)
NAMES = {"emp-1": "Asha Rao", "emp-2": "Vikram Singh"}


def accept(employee_id: str = "emp-1", distance: float = 0.3, margin: float | None = 0.2) -> MatchResult:
    return MatchResult("accept", employee_id, employee_id, distance, margin)


def unknown() -> MatchResult:
    return MatchResult("unknown", None, "emp-2", 0.9, 0.05)


def uncertain() -> MatchResult:
    return MatchResult("uncertain", None, "emp-1", 0.53, 0.1)


def obs(ts: float, match: MatchResult | None = None, landmarks: np.ndarray | None = None,
        face: FaceBox | None = FACE) -> Observation:
    return Observation(ts, (640, 480), face, int(face is not None), landmarks, None, match)


def machine(liveness: str = "off", repunch_s: float = 300.0, **decision) -> DecisionMachine:
    config = DecisionConfig(**{"cooldown_s": 1.0, "attempt_timeout_s": 8.0, "lost_after_s": 1.0, **decision})
    return DecisionMachine(config, LivenessConfig(mode=liveness), RepunchGuard(repunch_s),
                           names=lambda e: NAMES.get(e, e))


class Feeder:
    """Feeds frames at FPS from ``start`` and keeps every outcome."""

    def __init__(self, m: DecisionMachine, start: float = 0.0) -> None:
        self.m, self.ts, self.outcomes = m, start, []

    def frame(self, match: MatchResult | None = None, landmarks: np.ndarray | None = None,
              face: FaceBox | None = FACE) -> Outcome:
        out = self.m.feed(obs(self.ts, match, landmarks, face), T0 + timedelta(seconds=self.ts), self.ts)
        self.outcomes.append(out)
        self.ts = round(self.ts + 1 / FPS, 6)
        return out

    def until(self, ts: float) -> None:
        self.ts = ts

    def punches(self) -> list:
        return [o.punch for o in self.outcomes if o.punch is not None]


def jittered(rng: np.random.Generator, eye_open: float = 1.0) -> np.ndarray:
    return face_points(eye_open) + rng.normal(0, 0.3, (68, 2))


# -- accepting ----------------------------------------------------------------------


def test_three_agreeing_accepts_make_one_punch_then_cooldown():
    f = Feeder(machine())
    rng = np.random.default_rng(0)
    first = f.frame(accept(distance=0.30, margin=0.20), jittered(rng))
    second = f.frame(accept(distance=0.35, margin=0.15), jittered(rng))
    assert (first.state, second.state) == ("checking", "checking")
    assert first.punch is None and second.punch is None
    third = f.frame(accept(distance=0.32, margin=0.18), jittered(rng))
    assert third.state == "accepted" and third.employee_id == "emp-1"
    assert third.punch is not None
    assert third.punch.employee_id == "emp-1"
    assert third.punch.distance == pytest.approx(0.35)     # the worst of the agreeing frames
    assert third.punch.margin == pytest.approx(0.15)
    assert third.prompt == ("Thank you, Asha Rao: 09:14", "धन्यवाद, Asha Rao: 09:14")
    # the person is still there: cooldown, no second punch
    for _ in range(5):
        assert f.frame(accept(), jittered(rng)).state == "cooldown"
    assert len(f.punches()) == 1


def test_liveness_off_accepts_without_landmarks_and_the_punch_has_no_liveness():
    f = Feeder(machine("off"))
    outcomes = [f.frame(accept()) for _ in range(3)]       # landmarks=None: liveness is not asked for
    assert [o.state for o in outcomes] == ["checking", "checking", "accepted"]
    decision = outcomes[-1].punch
    assert decision.liveness.method == "off" and decision.liveness.passed
    fields = punch_fields(punch_id="0190f0f0-0000-7000-8000-000000000000", device_id="kiosk-1",
                          site_id="site-1", decision=decision, ts=T0, gallery_version=3, seq=9)
    assert "liveness" not in fields
    assert fields["match"] == {"distance": 0.3, "margin": 0.2, "gallery_version": 3}
    key = signing.generate_private_key()
    _, payload = make_signed_punch(key, device_id="kiosk-1", site_id="site-1", decision=decision,
                                   ts=T0, gallery_version=3, seq=9)
    punch = messages.parse(messages.Punch, payload)
    assert punch.liveness is None and punch.seq == 9 and punch.ts == T0


def test_an_accept_for_someone_else_starts_the_count_over():
    f = Feeder(machine())
    states = [f.frame(accept(e)).state for e in ("emp-1", "emp-1", "emp-2", "emp-1", "emp-1")]
    assert states == ["checking"] * 5
    assert f.frame(accept("emp-1")).state == "accepted"


# -- already punched ----------------------------------------------------------------------


def test_same_person_again_within_repunch_window_is_already_with_the_earlier_time():
    f = Feeder(machine(repunch_s=300))
    for _ in range(3):
        f.frame(accept())
    assert len(f.punches()) == 1
    f.until(125.0)                                        # two minutes later: 09:16
    outs = [f.frame(accept()) for _ in range(3)]
    assert [o.state for o in outs] == ["checking", "checking", "already"]
    already = outs[-1]
    assert already.punch is None and already.reason == "already"
    assert already.prompt == ("Asha Rao: already punched at 09:14", "Asha Rao: 09:14 पर पहले ही दर्ज")
    # someone else is not suppressed
    f.until(130.0)
    for _ in range(3):
        last = f.frame(accept("emp-2"))
    assert last.state == "accepted" and last.punch.employee_id == "emp-2"
    # after the window, the first person punches again
    f.until(301.0)
    for _ in range(3):
        last = f.frame(accept())
    assert last.state == "accepted" and last.prompt[0] == "Thank you, Asha Rao: 09:19"
    assert [p.employee_id for p in f.punches()] == ["emp-1", "emp-2", "emp-1"]


def test_repunch_guard_forgets_old_entries():
    guard = RepunchGuard(60)
    guard.record("a", 1000.0, T0)
    assert guard.last_punch("a", 1059.9) == T0
    assert guard.last_punch("a", 1060.0) is None
    guard.record("b", 1100.0, T0 + timedelta(seconds=100))
    assert "a" not in guard._last                          # bounded memory on a busy kiosk


# -- refused -----------------------------------------------------------------------------


def test_an_obviously_wrong_clock_refuses_a_named_live_person_and_does_not_hold_them_back():
    clock_right = False

    def clock_ok() -> bool:
        return clock_right

    m = DecisionMachine(DecisionConfig(), LivenessConfig(mode="off"), RepunchGuard(300), names=NAMES.get,
                        clock_ok=clock_ok)
    f = Feeder(m)
    outs = [f.frame(accept()) for _ in range(3)]
    assert [o.state for o in outs] == ["checking", "checking", "refused"]
    assert outs[-1].reason == "clock_unset" and outs[-1].employee_id == "emp-1"
    assert outs[-1].prompt == MESSAGES["clock_unset"] and f.punches() == []
    clock_right = True                                   # the clock is set: punching at once, not "already"
    f.until(5.0)
    assert [f.frame(accept()).state for _ in range(3)][-1] == "accepted"




def test_five_unknown_frames_are_refused_not_recognised():
    f = Feeder(machine())
    outs = [f.frame(unknown()) for _ in range(5)]
    assert [o.state for o in outs] == ["checking"] * 4 + ["refused"]
    assert outs[-1].reason == "not_recognised"
    assert outs[-1].prompt == MESSAGES["not_recognised"]
    assert f.punches() == []
    assert f.frame(unknown()).state == "cooldown"


def test_an_accept_breaks_an_unknown_run():
    f = Feeder(machine())
    states = [f.frame(m).state for m in (unknown(),) * 4 + (accept(),) + (unknown(),) * 4]
    assert "refused" not in states


@pytest.mark.parametrize("look_again_frames", [3, 8])
def test_look_again_is_bounded_and_refused_long_before_the_timeout(look_again_frames):
    """Issue 15/16 part 6: a face that stays only near someone is refused after ``look_again_frames``."""
    f = Feeder(machine(attempt_timeout_s=8.0, look_again_frames=look_again_frames))
    outs = []
    while not outs or outs[-1].state == "checking":
        outs.append(f.frame(uncertain()))
        assert len(outs) < 100
    assert len(outs) == look_again_frames
    assert outs[-1].state == "refused" and outs[-1].reason == "not_recognised"
    assert outs[-1].prompt == MESSAGES["not_recognised"]
    assert outs[0].prompt == ("Please look at the camera again", "कृपया फिर से कैमरे की ओर देखिए")
    assert f.punches() == []


def test_look_again_frames_count_towards_not_recognised():
    """Two unknown frames and look-again frames between them: refused at the look-again bound,
    though the unknown frames alone (2 < unknown_frames=5) would not refuse."""
    f = Feeder(machine(unknown_frames=5, look_again_frames=6))
    states = [f.frame(m).state for m in (unknown(), uncertain(), uncertain(), unknown(), uncertain(), uncertain())]
    assert states == ["checking"] * 5 + ["refused"]
    assert f.outcomes[-1].reason == "not_recognised"


def test_an_accept_starts_the_look_again_count_over():
    f = Feeder(machine(look_again_frames=4))
    states = [f.frame(m).state for m in (uncertain(),) * 3 + (accept(),) + (uncertain(),) * 3]
    assert "refused" not in states
    assert f.frame(uncertain()).state == "refused"


def test_blink_mode_with_a_still_face_never_accepts_and_ends_liveness_failed():
    f = Feeder(machine("blink", attempt_timeout_s=3.0))
    still = face_points()                                 # the very same landmarks every frame: a photo
    outs = []
    while not outs or outs[-1].state == "checking":
        outs.append(f.frame(accept(), still))
        assert len(outs) < 100
    assert all(o.punch is None for o in outs)
    assert outs[-1].state == "refused" and outs[-1].reason == "liveness_failed"
    assert outs[-1].prompt == MESSAGES["liveness_failed"]
    assert f.ts - 0.1 == pytest.approx(3.0)
    assert LIVENESS_PROMPTS["still_image"] in [o.prompt for o in outs]


def test_blink_mode_with_a_moving_face_that_never_blinks_is_refused():
    rng = np.random.default_rng(3)
    f = Feeder(machine("blink", attempt_timeout_s=3.0))
    outs = []
    while not outs or outs[-1].state == "checking":
        outs.append(f.frame(accept(), jittered(rng)))
        assert len(outs) < 100
    assert outs[-1].reason == "liveness_failed" and f.punches() == []
    assert LIVENESS_PROMPTS["blink"] in [o.prompt for o in outs]


def test_blink_mode_accepts_after_a_blink_and_the_punch_records_it():
    rng = np.random.default_rng(4)
    f = Feeder(machine("blink"))
    openness = [1.0] * 12 + [0.5, 0.1, 0.4, 0.8] + [1.0] * 5  # the lids rise over a frame or two
    outs = [f.frame(accept(), jittered(rng, e)) for e in openness]
    accepted = [o for o in outs if o.state == "accepted"]
    assert len(accepted) == 1
    assert outs.index(accepted[0]) >= 16                   # not before the eyes reopened
    live = accepted[0].punch.liveness
    assert live.passed and live.method == "blink" and live.score > 0.5
    fields = punch_fields(punch_id="0190f0f0-0000-7000-8000-000000000000", device_id="kiosk-1",
                          site_id="site-1", decision=accepted[0].punch, ts=T0, gallery_version=1, seq=1)
    assert fields["liveness"]["passed"] is True and fields["liveness"]["method"] == "blink"


def test_the_frame_reaches_liveness_and_injected_identical_frames_are_a_still_image():
    # The landmarks jitter (as the kiosk's re-detected box makes them) but the
    # pixels never change: frames fed in place of a camera. A plain grey array
    # stands for the frame; only its sameness matters here.
    rng = np.random.default_rng(5)
    m = machine("blink_and_head_turn", attempt_timeout_s=2.0)
    frame = np.full((480, 640, 3), 120, np.uint8)
    outs = []
    for i in range(25):
        ts = i / FPS
        o = Observation(ts, (640, 480), FACE, 1, jittered(rng), None, accept(), frame=frame)
        outs.append(m.feed(o, T0 + timedelta(seconds=ts), ts))
    assert LIVENESS_PROMPTS["still_image"] in [o.prompt for o in outs]
    assert [(o.state, o.reason) for o in outs if o.state == "refused"] == [("refused", "liveness_failed")]
    assert all(o.punch is None for o in outs)


def test_blink_mode_without_landmarks_never_accepts():
    f = Feeder(machine("blink", attempt_timeout_s=1.0))
    outs = [f.frame(accept()) for _ in range(15)]
    assert f.punches() == []
    assert "refused" in [o.state for o in outs]


# -- face lost ------------------------------------------------------------------------------


def test_face_lost_for_lost_after_s_goes_idle_and_starts_over():
    f = Feeder(machine(lost_after_s=1.0))
    f.frame(accept())
    f.frame(accept())
    # a short dropout (0.5 s) keeps the attempt
    for _ in range(5):
        assert f.frame(face=None).state == "checking"
    # until lost_after_s without a face
    states = [f.frame(face=None).state for _ in range(6)]
    assert states[-1] == "idle" and "checking" in states
    # the person comes back: a new attempt needs three fresh agreeing frames
    # (the gap also exceeds max_gap_s, so the two old frames count for nothing)
    assert [f.frame(accept()).state for _ in range(3)] == ["checking", "checking", "accepted"]


def test_no_face_at_all_stays_idle():
    f = Feeder(machine())
    assert {f.frame(face=None).state for _ in range(20)} == {"idle"}


def test_after_cooldown_with_nobody_there_the_machine_is_idle():
    f = Feeder(machine(cooldown_s=1.0))
    for _ in range(3):
        f.frame(accept())
    assert f.frame(face=None).state == "cooldown"
    f.until(f.ts + 1.0)
    assert f.frame(face=None).state == "idle"
