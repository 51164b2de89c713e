"""The staff-number keypad and the fallback flow on hand-built observations (pure logic, no camera, no model).

Encodings are 128-d vectors placed at chosen distances from a person's
template; the integration with real photos, broker and hub is
tests/test_kiosk_fallback.py.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from biometrics.encoder import FaceBox
from biometrics.matcher import MatchResult
from kiosk.config import KioskConfig
from kiosk.decision import MESSAGES, DecisionConfig, DecisionMachine, RepunchGuard
from kiosk.fallback import FallbackFlow, MatchConfig
from kiosk.keypad import FakeKeypad, KeypadEntry, keys_of
from kiosk.liveness import LivenessConfig
from kiosk.pipeline import Observation
from tests.test_liveness import face_points

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 12, 3, 9, 14, tzinfo=IST)
FACE = FaceBox(200, 120, 440, 360)
RNG = np.random.default_rng(5)
TEMPLATE = RNG.normal(0, 0.09, 128).astype(np.float32)


def near(distance: float) -> np.ndarray:
    """A probe at exactly ``distance`` from TEMPLATE."""
    step = RNG.normal(0, 1, 128).astype(np.float32)
    return TEMPLATE + step / np.linalg.norm(step) * distance


def unknown() -> MatchResult:
    return MatchResult("unknown", None, "Z", 0.8, 0.1)


def uncertain() -> MatchResult:
    return MatchResult("uncertain", None, "1001", 0.53, 0.1)


class Kiosk:
    """A flow with a fake keypad, fed at 10 fps."""

    def __init__(self, mode: str = "verify_with_id", people: int = 3, liveness: str = "off", **decision) -> None:
        self.keypad = FakeKeypad()
        config = DecisionConfig(**{"cooldown_s": 1.0, "attempt_timeout_s": 8.0, **decision})
        machine = DecisionMachine(config, LivenessConfig(mode=liveness), RepunchGuard(300.0))
        self.flow = FallbackFlow(MatchConfig(mode=mode, auto_max_people=10, keypad={"kind": "fake"}), machine,
                                 self.keypad, templates=lambda e: [TEMPLATE] if e == "1001" else [],
                                 people=lambda: people)
        self.ts = 0.0

    def frame(self, probe: np.ndarray | None = None, match: MatchResult | None = None, face: bool = True,
              landmarks: np.ndarray | None = None):
        obs = Observation(self.ts, (640, 480), FACE if face else None, int(face), landmarks, None, match,
                          probe=probe)
        out = self.flow.feed(obs, T0 + timedelta(seconds=self.ts), self.ts)
        self.ts = round(self.ts + 0.1, 6)
        return out


@pytest.mark.parametrize("keys, typed, number", [
    ("1001", "1001", None),
    ("1001e", "", "1001"),
    ("10x01", "1001", None),      # x: not a key (ignored); no enter yet
    ("12b3e", "", "13"),          # b: back
    ("99c1001e", "", "1001"),     # c: cancel clears
    ("e", "", None),              # enter on nothing ends nothing
    ("1234567", "12345", None),   # max_digits 5
])
def test_keypad_entry(keys, typed, number):
    entry = KeypadEntry(max_digits=5)
    names = {"e": "enter", "b": "back", "c": "cancel", "x": "help"}
    results = [entry.press(names.get(k, k)) for k in keys]
    assert entry.digits == typed
    assert [r for r in results if r is not None] == ([number] if number else [])


def test_evdev_key_events_become_key_names():
    # KEY_KP1=79 press, release (0), autorepeat (2), KEY_0=11, KEY_KPENTER=96, KEY_A=30 (not a keypad key)
    assert keys_of([(79, 1), (79, 0), (79, 2), (11, 1), (30, 1), (96, 1)]) == ["1", "0", "enter"]


def test_verify_with_id_asks_for_the_number_then_punches_face_id():
    k = Kiosk()
    first = k.frame(near(0.3))
    assert first.state == "keypad" and first.prompt == MESSAGES["keypad"] and first.prompt.params == {"employee_id": ""}
    k.keypad.type("10")
    assert k.frame(face=False).prompt.params == {"employee_id": "10"}  # echoes what was typed, face or not
    k.keypad.type("01", "enter")
    assert k.frame(near(0.3)).state == "verifying"
    outs = [k.frame(near(0.3)) for _ in range(3)]
    assert [o.state for o in outs] == ["verifying", "verifying", "accepted"]
    punch = outs[-1].punch
    assert punch.employee_id == "1001" and punch.method == "face+id" and punch.margin is None
    assert punch.distance == pytest.approx(0.3, abs=1e-4)
    assert k.frame(near(0.3)).state == "cooldown"


def test_the_same_liveness_holds_for_the_staff_number():
    """Blink mode: a matching face does not punch until it blinks, and the punch records the blink."""
    rng = np.random.default_rng(4)
    k = Kiosk(liveness="blink")
    k.keypad.type("1001", "enter")
    openness = [1.0] * 12 + [0.5, 0.1, 0.4, 0.8] + [1.0] * 5  # the lids rise over a frame or two
    outs = [k.frame(near(0.3), landmarks=face_points(e) + rng.normal(0, 0.3, (68, 2))) for e in openness]
    assert outs[5].state == "verifying" and outs[5].prompt == ("Please blink", "कृपया पलक झपकाइए")
    accepted = [o for o in outs if o.state == "accepted"]
    assert len(accepted) == 1 and outs.index(accepted[0]) >= 16         # not before the eyes reopened
    assert accepted[0].punch.method == "face+id" and accepted[0].punch.liveness.method == "blink"


def test_a_still_face_for_the_number_never_punches():
    k = Kiosk(liveness="blink", attempt_timeout_s=3.0)
    k.keypad.type("1001", "enter")
    outs = [k.frame(near(0.3), landmarks=face_points(1.0)) for _ in range(31)]
    assert outs[-1].state == "refused" and outs[-1].reason == "liveness_failed"
    assert not [o for o in outs if o.punch is not None] and k.flow.failed is None


def test_another_face_for_the_number_is_refused_id_mismatch_and_never_punches():
    k = Kiosk(unknown_frames=5)
    k.frame(near(0.8))
    k.keypad.type("1001", "enter")
    outs = [k.frame(near(0.8)) for _ in range(6)]
    assert [o.state for o in outs] == ["verifying"] * 5 + ["refused"]
    assert outs[-1].reason == "id_mismatch" and outs[-1].punch is None
    assert outs[-1].prompt.key == "kiosk.refused.id_mismatch" and outs[-1].prompt.params == {"employee_id": "1001"}
    failed = k.flow.failed
    assert failed.claimed_id == "1001" and failed.known and failed.distance == pytest.approx(0.8, abs=1e-4)


def test_a_number_not_in_the_gallery_is_a_mismatch_on_the_face_frames():
    k = Kiosk(unknown_frames=3)
    k.keypad.type("4242", "enter")
    k.frame(face=False)                                        # a key press starts the entry, with or without a face
    outs = [k.frame(near(0.1)) for _ in range(3)]
    assert outs[-1].reason == "id_mismatch" and not k.flow.failed.known and k.flow.failed.distance is None


def test_a_close_but_not_matching_face_resets_the_run():
    k = Kiosk()
    k.keypad.type("1001", "enter")
    states = [k.frame(p).state for p in (near(0.3), near(0.3), near(0.6), near(0.3), near(0.3))]
    assert states == ["verifying"] * 5                          # one failing frame in between: the run starts over
    assert k.frame(near(0.3)).state == "accepted"


def test_keypad_timeouts_and_no_face_end_without_a_record():
    k = Kiosk(attempt_timeout_s=2.0)
    k.frame(near(0.3))
    outs = [k.frame(face=False)]
    while outs[-1].state == "keypad":                           # someone walking past: nobody types
        outs.append(k.frame(face=False))
    assert outs[-1].state == "idle" and k.flow.failed is None   # quietly: no red light, no buzzer
    assert k.ts == pytest.approx(20.1)                          # keypad_timeout_s after the face appeared
    k.keypad.type("10")
    outs = [k.frame(face=False)]
    while outs[-1].state == "keypad":                           # typing begun, then abandoned
        outs.append(k.frame(face=False))
    assert outs[-1].state == "refused" and outs[-1].reason == "timeout" and k.flow.failed is None
    k.ts += 2.0
    k.keypad.type("1001", "enter")
    outs = [k.frame(face=False) for _ in range(21)]             # number typed, then nobody looks at the camera
    assert [o.state for o in outs] == ["verifying"] * 20 + ["refused"]
    assert outs[-1].reason == "timeout" and k.flow.failed is None


def test_identify_mode_ignores_the_keypad():
    k = Kiosk(mode="identify")
    k.keypad.type("1001", "enter")
    outs = [k.frame(near(0.3), unknown()) for _ in range(5)]
    assert outs[-1].state == "refused" and outs[-1].reason == "not_recognised"


def test_auto_offers_the_keypad_after_bounded_look_again():
    k = Kiosk(mode="auto", people=3, look_again_frames=4)
    outs = [k.frame(near(0.3), uncertain()) for _ in range(4)]
    assert [o.state for o in outs] == ["checking"] * 3 + ["keypad"]   # not red: the number is asked for
    k.keypad.type("1001", "enter")
    outs = [k.frame(near(0.3), uncertain()) for _ in range(4)]
    assert outs[-1].state == "accepted" and outs[-1].punch.method == "face+id"


def test_auto_asks_for_the_number_first_above_the_gallery_size():
    assert Kiosk(mode="auto", people=10).frame(near(0.3), unknown()).state == "checking"
    assert Kiosk(mode="auto", people=11).frame(near(0.3), unknown()).state == "keypad"


def test_a_mode_that_asks_for_numbers_needs_a_keypad():
    base = {"device_id": "k1", "site_id": "s1", "signing_key_file": "/nonexistent"}
    assert KioskConfig(**base).match.mode == "identify"
    with pytest.raises(ValueError, match="match.keypad.kind"):
        KioskConfig(**base, match={"mode": "verify_with_id"})
    assert KioskConfig(**base, match={"mode": "auto", "keypad": {"kind": "fake"}}).match.mode == "auto"


def test_kiosk_assisted_lists_and_marks_reviewed(tmp_path, capsys):
    from kiosk.assisted import AssistedLog
    from kiosk.cli import main

    (tmp_path / "state").mkdir()
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(f"device_id: k1\nsite_id: s1\nstate_dir: {tmp_path / 'state'}\nsigning_key_file: /none\n")
    log = AssistedLog(tmp_path / "state")
    log.open()
    record = log.record(ts=T0, claimed_id="1001", known=True, distance=0.83, liveness_passed=True)
    log.record(ts=T0, claimed_id="4242", known=False, distance=None, liveness_passed=False)
    assert log.alarm().kind == "assisted_pending" and "1001 at 2026-12-03T09:14:00 (0.83); 4242 at" in log.alarm().detail
    log.close()
    assert main(["assisted", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "staff number 1001  distance 0.830  liveness passed  no snapshot" in out[0]
    assert "4242 (not in the gallery)  no face checked" in out[1]
    assert main(["assisted", "done", record.id, "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip() == "1 marked reviewed"
    assert main(["assisted", "list", "--config", str(cfg)]) == 0
    assert "4242" in capsys.readouterr().out
