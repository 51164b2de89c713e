"""Multi-frame consensus over per-frame match results (pure logic, tables)."""

import math

import pytest

from biometrics.matcher import MatchResult
from kiosk.consensus import PROMPTS, Consensus


def frame(code: str) -> MatchResult:
    """'A'/'B': accept that person; 'a'/'b': uncertain, closest A/B; '-': unknown."""
    if code == "-":
        return MatchResult("unknown", None, "Z", 0.8, 0.1)
    if code.isupper():
        return MatchResult("accept", code, code, 0.40 + 0.01 * (ord(code) - 65), 0.12)
    return MatchResult("uncertain", None, code.upper(), 0.53, 0.02)


def feed_all(codes: str, consensus: Consensus | None = None, fps: float = 10.0):
    c = consensus or Consensus(required_frames=3, unknown_frames=4, max_gap_s=1.0)
    return [c.feed(i / fps, frame(code)) for i, code in enumerate(codes)]


@pytest.mark.parametrize(
    "codes, verdict, employee, prompt",
    [
        ("AAA", "accept", "A", None),
        ("AA", "pending", None, "hold_still"),
        ("AAB", "pending", None, "hold_still"),        # a different person starts over
        ("AABBB", "accept", "B", None),
        ("AaAA", "accept", "A", None),                 # uncertain neither counts nor breaks the run
        ("AbAA", "accept", "A", None),                 # ... not even when closest to someone else
        ("bbbbbbb", "pending", None, "look_again"),    # uncertain never starts a run ...
        ("bbbbbbbb", "refuse", None, "not_recognised"),  # ... and "look again" is bounded (look_again_frames=8)
        ("a-a-a-aa", "refuse", None, "not_recognised"),  # uncertain frames count towards "not recognised"
        ("aaaaaaaA", "pending", None, "hold_still"),   # an accept before the bound starts over
        ("AA-A", "pending", None, "hold_still"),       # unknown breaks the run
        ("----", "refuse", None, "not_recognised"),
        ("--A--", "pending", None, "look_again"),      # an accept resets the unknown count
        ("---a-", "refuse", None, "not_recognised"),   # uncertain does not reset it
        ("ABABAB", "pending", None, "hold_still"),     # flip-flopping never agrees
    ],
)
def test_consensus_table(codes, verdict, employee, prompt):
    state = feed_all(codes)[-1]
    assert (state.verdict, state.employee_id, state.prompt) == (verdict, employee, prompt)
    assert prompt is None or prompt in PROMPTS


def test_verdict_stays_until_reset():
    c = Consensus(required_frames=2)
    states = feed_all("AABBBB", c)
    assert [s.verdict for s in states] == ["pending", "accept", "accept", "accept", "accept", "accept"]
    assert states[-1].employee_id == "A"
    c.reset()
    assert [s.verdict for s in feed_all("BB", c)] == ["pending", "accept"]


def test_a_gap_means_the_track_was_lost():
    c = Consensus(required_frames=3, max_gap_s=0.5)
    c.feed(0.0, frame("A"))
    c.feed(0.1, frame("A"))
    assert c.feed(2.0, frame("A")).verdict == "pending"  # starts over: 1 of 3
    assert c.feed(2.1, frame("A")).verdict == "pending"
    assert c.feed(2.2, frame("A")).verdict == "accept"


def test_accept_records_the_weakest_agreeing_frame():
    c = Consensus(required_frames=3)
    for ts, (d, m) in enumerate([(0.40, 0.20), (0.47, 0.09), (0.43, 0.15)]):
        state = c.feed(ts * 0.1, MatchResult("accept", "A", "A", d, m))
    assert (state.verdict, state.distance, state.margin) == ("accept", 0.47, 0.09)


def test_single_person_gallery_has_no_margin():
    c = Consensus(required_frames=1)
    state = c.feed(0.0, MatchResult("accept", "A", "A", 0.41, None))
    assert (state.verdict, state.margin) == ("accept", None)


@pytest.mark.parametrize("ts", [math.nan, math.inf])
def test_bad_timestamps_are_refused(ts):
    with pytest.raises(ValueError):
        Consensus().feed(ts, frame("A"))


def test_time_going_backwards_is_refused():
    c = Consensus()
    c.feed(1.0, frame("A"))
    with pytest.raises(ValueError):
        c.feed(0.9, frame("A"))


def test_an_accept_without_a_name_is_refused():
    with pytest.raises(ValueError):
        Consensus().feed(0.0, MatchResult("accept", None, "A", 0.4, 0.1))


@pytest.mark.parametrize("kwargs", [{"required_frames": 0}, {"unknown_frames": 0}, {"max_gap_s": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Consensus(**kwargs)
