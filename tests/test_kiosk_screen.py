"""The kiosk screen: every state in both default languages, drawn with glyphs the font really has, inside the
screen even for a 40-character name; state mapping, the drawing thread and ``kiosk preview``."""

from datetime import date
from itertools import groupby
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hardware.camera import Frame
from i18n.catalogue import catalogue
from kiosk.cli import main
from kiosk.daybook import DayBook
from kiosk.decision import MESSAGES, Outcome
from kiosk.messages import Message
from kiosk.screen.display import KioskScreen, label_of
from kiosk.screen.fonts import DEVANAGARI, LATIN, FontBook, missing_glyphs
from kiosk.screen.preview import preview_states
from kiosk.screen.render import render_screen
from kiosk.screen.state import Context, ScreenState, state_of, texts
from kiosk.screen.window import FakeWindow, FileWindow

FONTS = FontBook()
LONG_LATIN = "Ramakrishna Venkatasubramanian Iyer Kuma"           # 40 characters
LONG_HINDI = ("रामकृष्ण वेंकटसुब्रमण्यम अय्यर कुमार " * 2)[:40]      # 40 characters
LANG_PAIRS = [["hi", "en"], ["en", "hi"]]

needs_fonts = pytest.mark.skipif(FONTS.find(DEVANAGARI) is None or FONTS.find(LATIN) is None,
                                 reason="Noto fonts absent: apt-get install fonts-noto-core (Makefile SYSTEM_PACKAGES)")


def test_forty_character_names_are_forty_characters():
    assert len(LONG_LATIN) == len(LONG_HINDI) == 40


@needs_fonts
def test_the_glyph_check_notices_a_font_without_the_script():
    """The check below must be able to fail: the Latin font has no Devanagari, the Devanagari font no Latin."""
    assert missing_glyphs("राम", FONTS.find(LATIN)) == {"र", "ा", "म"}
    assert "A" in missing_glyphs("Asha", FONTS.find(DEVANAGARI))
    assert missing_glyphs("राम 09:14", FONTS.find(DEVANAGARI)) == set()


# Every state in both orders of the default pair; the states that show a name, with a long name in each script.
CASES = [(state, langs, name) for state, shown in preview_states().items() for langs in LANG_PAIRS
         for name in ([LONG_LATIN, LONG_HINDI] if "name" in shown.params else [LONG_LATIN])]


@needs_fonts
@pytest.mark.parametrize(("state_name", "langs", "name"), CASES,
                         ids=[f"{s}-{'-'.join(langs)}-{'deva' if n == LONG_HINDI else 'latn'}" for s, langs, n in CASES])
def test_every_state_draws_all_its_words_with_real_glyphs_inside_the_screen(state_name, langs, name):
    state = preview_states(name=name)[state_name]
    size = (800, 480)
    shown = render_screen(state, langs, FONTS, size=size, footer="Collectorate, Lucknow · 09:14")
    assert shown.image.shape == (480, 800, 3)
    for run in shown.drawn:
        assert missing_glyphs(run.text, run.font) == set(), f"tofu: {run.text!r} drawn with {run.font.name}"
        assert "?" not in run.text and "\ufffd" not in run.text
        x0, y0, x1, y1 = run.box
        assert 0 <= x0 and 0 <= y0 and x1 <= size[0] and y1 <= size[1], f"{run.text!r} leaves the screen: {run.box}"
    drawn = "".join(run.text for run in shown.drawn).replace(" ", "")
    for lang in langs:
        words = texts(state, lang)
        assert words.lang == lang
        for text in (words.title, words.instruction):
            if text:
                assert text.replace(" ", "") in drawn, f"{lang}: {text!r} not drawn whole"
        assert not any(t.startswith("kiosk.") for t in (words.title, words.instruction or "")), "a key, not words"


@needs_fonts
@pytest.mark.parametrize("size", [(800, 480), (480, 320)])
def test_a_long_name_stays_on_a_small_screen_too(size):
    shown = render_screen(preview_states(name=LONG_HINDI)["accepted"], ["hi", "en"], FONTS, size=size,
                          frame=np.full((480, 640, 3), 120, np.uint8), face_box=(200, 100, 440, 380))
    assert all(r.box[2] <= size[0] and r.box[3] <= size[1] for r in shown.drawn)
    assert LONG_HINDI.replace(" ", "") in "".join(r.text for r in shown.drawn).replace(" ", "")


def test_accepted_shows_name_staff_number_in_or_out_time_and_site_in_each_language():
    state = preview_states(name="राम कुमार", direction="out")["accepted"]
    hindi, english = texts(state, "hi"), texts(state, "en")
    assert hindi.title == "धन्यवाद, राम कुमार" and english.title == "Thank you, राम कुमार"
    assert dict(english.details) == {"Punch": "Out", "Staff number": "E1001", "Time": "09:14",
                                     "Site": "Collectorate, Lucknow"}
    assert dict(hindi.details)["पंच"] == "आउट"


@pytest.mark.parametrize("key", ["kiosk.state.keypad", "kiosk.state.verifying", "kiosk.refused.id_mismatch",
                                 "kiosk.refused.assisted", "kiosk.next.id_mismatch", "kiosk.next.assisted"])
def test_the_keypad_fallback_texts_exist_in_both_languages(key):
    assert catalogue("en").has(key) and catalogue("hi").has(key)


def test_a_new_state_is_only_catalogue_keys_and_an_unknown_reason_still_says_not_accepted():
    verifying = texts(ScreenState("verifying", params={"employee_id": "E77"}), "en")
    assert verifying.title == "Verifying staff number E77" and verifying.instruction == "Look at the camera"
    unknown = texts(ScreenState("refused", reason="no_such_reason"), "hi")
    assert unknown.title == "स्वीकार नहीं"


def _outcome(state, **kw):
    return Outcome(state, **kw)


@pytest.mark.parametrize(("outcome", "face", "connected", "expected"), [
    (None, False, True, ScreenState("idle")),
    (_outcome("idle"), True, True, ScreenState("checking")),
    (_outcome("checking", prompt=Message("kiosk.prompt.blink")), True, True,
     ScreenState("checking", prompt="kiosk.prompt.blink")),
    (_outcome("checking", prompt=("legacy", "tuple")), True, True, ScreenState("checking")),
    (_outcome("refused", prompt=MESSAGES["timeout"], reason="timeout"), True, True,
     ScreenState("refused", reason="timeout")),
    (_outcome("already", employee_id="E1", prompt=Message("kiosk.decision.already", name="Asha", time="09:14")),
     True, True, ScreenState("already", params={"name": "Asha", "time": "09:14", "employee_id": "E1"})),
    (_outcome("accepted", employee_id="E1", prompt=Message("kiosk.decision.accepted", name="Asha", time="09:20")),
     True, False, ScreenState("offline_saved", params={"name": "Asha", "time": "09:20", "employee_id": "E1",
                                                       "site": "HQ", "direction": "in"})),
])
def test_outcomes_map_to_screens(outcome, face, connected, expected):
    context = Context("HQ", connected=lambda: connected, direction=lambda employee_id: "in")
    assert state_of(outcome, face, context) == expected


def test_the_day_book_says_in_first_then_out_and_starts_again_next_day(tmp_path):
    book = DayBook(tmp_path / "daybook.json")
    day = date(2026, 12, 3)
    assert [book.record("E1", day), book.record("E1", day), book.record("E2", day)] == ["in", "out", "in"]
    reopened = DayBook(tmp_path / "daybook.json")                  # a restart at noon
    assert reopened.record("E1", day) == "out"
    assert reopened.record("E1", date(2026, 12, 4)) == "in"


def _frame(ts: float, grey: int = 100) -> Frame:
    return Frame(rgb=np.full((48, 64, 3), grey, np.uint8), ts_s=ts, index=int(ts * 10))


@needs_fonts
def test_the_screen_holds_a_result_tells_listeners_and_draws_on_its_own_thread(tmp_path):
    window, heard = FakeWindow(), []
    screen = KioskScreen(window, ["hi", "en"], Context("HQ"), hold_s=2.0, max_fps=50, listeners=[heard.append])
    accepted = Outcome("accepted", employee_id="E1", prompt=Message("kiosk.decision.accepted", name="Asha",
                                                                    time="09:14"))
    screen.show(_frame(0.0), None, Outcome("idle"))
    screen.show(_frame(0.1, grey=200), None, accepted)
    screen.show(_frame(1.0, grey=10), None, Outcome("cooldown"))   # still the result: it is read, not flashed
    assert screen.state.name == "accepted"
    screen.show(_frame(2.5), None, Outcome("idle"))
    screen.close()
    assert [s.name for s in heard] == ["accepted", "idle"]
    drawn = [label for label, _ in groupby(window.labels())]   # a screen may be drawn on several frames
    camera_middle = [(label, int(rgb[240, 180, 0])) for label, rgb in window.shown]
    assert all(grey == 200 for label, grey in camera_middle if label == "accepted")   # the decided-on picture
    assert window.opened and window.closed and drawn == ["idle", "accepted", "idle"]   # each change at least once
    assert all(rgb.shape == (480, 800, 3) for _, rgb in window.shown)


@needs_fonts
def test_the_file_window_keeps_one_png_per_screen_change(tmp_path):
    window = FileWindow(tmp_path / "screens")
    window.open()
    picture = np.zeros((480, 800, 3), np.uint8)
    for label, changed in [("idle", True), ("idle", False), ("refused:timeout", True)]:
        window.show(picture, label, changed)
    assert [p.name for p in window.saved] == ["001-idle.png", "002-refused-timeout.png"]
    assert label_of(ScreenState("checking", prompt="kiosk.prompt.blink")) == "checking:blink"


@needs_fonts
def test_kiosk_preview_renders_a_state_without_a_camera(tmp_path, capsys):
    out = tmp_path / "screen.png"
    assert main(["preview", "--state", "accepted", "--lang", "hi", "--name", "राम कुमार", "--out", str(out)]) == 0
    assert Image.open(out).size == (800, 480)
    assert main(["preview", "--state", "all", "--lang", "en", "--out", str(tmp_path / "all")]) == 0
    assert len(list((tmp_path / "all").glob("*.png"))) == len(preview_states())
    assert main(["preview", "--state", "dancing", "--out", str(out)]) == 1
    assert "unknown state 'dancing'" in capsys.readouterr().err


def test_the_pi_and_this_machine_install_what_the_screen_and_voice_need():
    from provisioning.firstboot import KIOSK_APT_PACKAGES, install_script

    script = install_script()
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for package in ("fonts-noto-core", "espeak-ng", "alsa-utils"):
        assert package in KIOSK_APT_PACKAGES and f"{package}:" in makefile
    assert "python3-pygame" in KIOSK_APT_PACKAGES
    assert " ".join(KIOSK_APT_PACKAGES) in script and "kiosk\" voices build" in script


def test_a_state_the_keypad_adds_reaches_the_screen_by_name():
    context = Context("HQ")
    keypad = state_of(Outcome("keypad"), False, context)   # a decision state this module never heard of
    assert keypad == ScreenState("keypad") and texts(keypad, "hi").title == "अपनी कर्मचारी संख्या दर्ज करें"
    mismatch = state_of(Outcome("refused", employee_id="E9", reason="id_mismatch"), True, context)
    assert texts(mismatch, "en").title == "Not matched to that staff number"


def test_the_file_backend_needs_a_folder():
    from kiosk.screen.config import ScreenConfig

    with pytest.raises(ValueError, match="screen.folder"):
        ScreenConfig(backend="file")


def test_every_screen_and_voice_key_is_in_the_example_config():
    import yaml

    from kiosk.screen.config import ScreenConfig
    from kiosk.voice.config import VoiceConfig

    example = yaml.safe_load((Path(__file__).resolve().parents[1] / "kiosk" / "kiosk.example.yaml").read_text())
    assert example["display"] is True and example["languages"] == ["hi", "en"]
    assert sorted(example["screen"]) == sorted(ScreenConfig.model_fields)
    assert sorted(example["voice"]) == sorted(VoiceConfig.model_fields)


@pytest.mark.parametrize(("reason", "last_prompt", "shown"), [
    ("timeout", "kiosk.quality.too_dark", "too_dark"), ("timeout", "kiosk.quality.too_small", "too_far"),
    ("liveness_failed", "kiosk.prompt.still_image", "not_live"), ("timeout", "kiosk.prompt.blink", "timeout"),
    ("not_recognised", "kiosk.quality.too_dark", "not_recognised"), ("timeout", None, "timeout"),
])
def test_a_refusal_after_a_telling_prompt_says_the_real_reason(reason, last_prompt, shown):
    window = FakeWindow()
    screen = KioskScreen(window, ["en"], Context("HQ"))
    if last_prompt:
        screen.show(_frame(0.0), None, Outcome("checking", prompt=Message(last_prompt)))
    screen.show(_frame(0.1), None, Outcome("refused", prompt=Message(f"kiosk.refused.{reason}"), reason=reason))
    screen.close()
    assert screen.state == ScreenState("refused", reason=shown)


class _StuckWindow(FakeWindow):
    """A window that cannot draw until released: the drawing thread falls behind, as under dlib's load."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.release = threading.Event()

    def open(self) -> None:
        self.release.wait(10)
        super().open()


def test_a_drawing_thread_that_falls_behind_loses_prompts_never_results():
    window = _StuckWindow()
    screen = KioskScreen(window, ["en"], Context("HQ"), hold_s=0.0)
    prompts = ["kiosk.prompt.blink", "kiosk.prompt.look_again", "kiosk.quality.too_dark", "kiosk.prompt.turn_left"]
    ts = 0.0
    for person in ("A", "B", "C"):
        for key in prompts:
            ts += 0.1
            screen.show(_frame(ts), None, Outcome("checking", prompt=Message(key)))
        ts += 0.1
        screen.show(_frame(ts), None, Outcome("accepted", employee_id=person,
                                              prompt=Message("kiosk.decision.accepted", name=person, time="09:14")))
    window.release.set()
    screen.close()
    accepted = [rgb for label, rgb in window.shown if label == "accepted"]
    assert len(window.shown) <= 8 and len(accepted) == 3      # 15 screens queued, 8 kept: all three results
