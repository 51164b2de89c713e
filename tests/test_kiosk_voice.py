"""The kiosk's voice: a clip for every fixed prompt in both languages (espeak-ng), played through a sink on a
worker thread, at the configured volume, silent in quiet hours."""

import shutil
from datetime import datetime, time
from pathlib import Path

import pytest

from i18n.catalogue import catalogue
from kiosk.cli import main
from kiosk.screen.state import ScreenState
from kiosk.voice.clips import build_clips, clip_keys, clip_path, synthesise_bytes
from kiosk.voice.config import VoiceConfig, is_quiet, parse_quiet_hours
from kiosk.voice.sink import FakeSink, read_pcm
from kiosk.voice.speaker import Speaker, utterance_for

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng absent: apt-get install espeak-ng (Makefile SYSTEM_PACKAGES)")
LANGS = ["hi", "en"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng absent: apt-get install espeak-ng (Makefile SYSTEM_PACKAGES)")
    folder = tmp_path_factory.mktemp("voices")
    assert main(["voices", "build", "--out", str(folder), "--lang", "hi", "--lang", "en"]) == 0
    return folder


def test_every_prompt_and_refusal_has_a_clip_key():
    keys = clip_keys()
    for must in ("kiosk.prompt.blink", "kiosk.prompt.turn_left", "kiosk.prompt.look_again", "kiosk.voice.accepted",
                 "kiosk.refused.not_recognised", "kiosk.refused.id_mismatch", "kiosk.state.keypad"):
        assert must in keys
    assert "kiosk.voice.accepted_named" not in keys     # has {name}: spoken only by synthesis


def test_every_clip_exists_in_both_languages_and_holds_sound(clips):
    for lang in LANGS:
        for key in clip_keys():
            rate, samples = read_pcm(clip_path(clips, lang, key).read_bytes())
            assert rate >= 8000 and len(samples) > rate // 10 and abs(samples).max() > 1000, f"{lang}/{key}"


def test_a_second_build_keeps_recorded_clips(clips):
    recorded = clip_path(clips, "hi", "kiosk.prompt.blink")
    recorded.write_bytes(clip_path(clips, "en", "kiosk.voice.accepted").read_bytes())   # someone's recording
    made, kept = build_clips(clips, ["hi"])
    assert made == [] and recorded in kept
    assert recorded.read_bytes() == clip_path(clips, "en", "kiosk.voice.accepted").read_bytes()


def _speaker(clips: Path, sink: FakeSink, *, synth=None, **config) -> Speaker:
    speaker = Speaker(VoiceConfig(clips_dir=clips, **config), LANGS, sink,
                      now=lambda: datetime(2026, 12, 3, 9, 14), synthesise=synth)
    speaker.start()
    return speaker


ACCEPTED = ScreenState("accepted", params={"name": "राम कुमार", "employee_id": "E1", "time": "09:14",
                                           "direction": "in", "site": "HQ"})


def test_prompts_and_results_play_in_both_languages_through_the_sink(clips):
    sink = FakeSink()
    speaker = _speaker(clips, sink)
    blink = ScreenState("checking", prompt="kiosk.prompt.blink")
    speaker.on_state(blink)
    speaker.close()
    speaker = _speaker(clips, sink)
    speaker.on_state(ScreenState("checking"))
    speaker.on_state(ScreenState("refused", reason="not_recognised"))
    speaker.close()
    assert sink.labels() == ["hi/kiosk.prompt.blink", "en/kiosk.prompt.blink",
                             "hi/kiosk.refused.not_recognised", "en/kiosk.refused.not_recognised"]


@needs_espeak
def test_the_name_is_spoken_when_it_can_be_synthesised_else_the_fixed_clip(clips):
    spoken: list[tuple[str, str]] = []

    def synth(text: str, lang: str) -> bytes:
        spoken.append((lang, text))
        return synthesise_bytes(text, lang)

    with_names, without = FakeSink(), FakeSink()
    speaker = _speaker(clips, with_names, synth=synth)
    speaker.on_state(ACCEPTED)
    speaker.close()
    speaker = _speaker(clips, without, synth=None)
    speaker.on_state(ACCEPTED)
    speaker.close()
    assert spoken == [("hi", "धन्यवाद, राम कुमार, इन 09:14"), ("en", "Thank you, राम कुमार, In 09:14")]
    assert with_names.labels() == ["hi/kiosk.voice.accepted_named", "en/kiosk.voice.accepted_named"]
    assert without.labels() == ["hi/kiosk.voice.accepted", "en/kiosk.voice.accepted"]


def test_volume_scales_and_quiet_hours_silence(clips):
    loud, soft, night = FakeSink(), FakeSink(), FakeSink()
    for sink, config in [(loud, {"volume": 1.0}), (soft, {"volume": 0.25}),
                         (night, {"volume": 1.0, "quiet_hours": "21:00-10:00"})]:
        speaker = _speaker(clips, sink, **config)
        speaker.on_state(ScreenState("refused", reason="timeout"))
        speaker.close()
    assert night.played == []
    assert [label for label, _, _ in soft.played] == [label for label, _, _ in loud.played]
    for (_, _, peak_loud), (_, _, peak_soft) in zip(loud.played, soft.played):
        assert peak_soft == pytest.approx(peak_loud * 0.25, abs=2)


def test_a_prompt_is_said_once_per_attempt_and_idle_is_silent(clips):
    sink = FakeSink()
    speaker = _speaker(clips, sink)
    blink = ScreenState("checking", prompt="kiosk.prompt.blink")
    for state in (blink, ScreenState("checking"), blink, ScreenState("idle")):
        speaker.on_state(state)
    speaker.close()
    assert sink.labels().count("hi/kiosk.prompt.blink") == 1
    assert utterance_for(ScreenState("idle")) is None
    assert utterance_for(ScreenState("checking", prompt="kiosk.prompt.hold_still")) is None   # nothing to do: quiet


def test_a_missing_clip_is_skipped_not_fatal(tmp_path):
    sink = FakeSink()
    speaker = _speaker(tmp_path, sink)
    speaker.on_state(ScreenState("refused", reason="timeout"))
    speaker.close()
    assert sink.played == []


@pytest.mark.parametrize(("now", "span", "quiet"), [
    (time(22, 0), "21:00-07:00", True), (time(6, 59), "21:00-07:00", True), (time(7, 0), "21:00-07:00", False),
    (time(13, 0), "13:00-14:00", True), (time(14, 0), "13:00-14:00", False), (time(12, 0), None, False),
])
def test_quiet_hours_run_over_midnight(now, span, quiet):
    assert is_quiet(now, parse_quiet_hours(span) if span else None) is quiet


def test_bad_quiet_hours_are_a_config_error():
    with pytest.raises(ValueError, match="21:00-07:00"):
        VoiceConfig(quiet_hours="9pm to 7am")


def test_every_spoken_catalogue_text_exists_in_hindi():
    assert all(catalogue("hi").has(key) for key in clip_keys())


def test_check_config_says_how_many_clips_the_voice_has(clips, tmp_path, capsys):
    import yaml

    from protocol import signing

    key = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), key)
    config = {"device_id": "kiosk-v", "site_id": "site-v", "signing_key_file": str(key), "state_dir": str(tmp_path),
              "camera": {"kind": "replay", "path": str(tmp_path)}, "voice": {"clips_dir": str(clips)}}
    (tmp_path / "kiosk.yaml").write_text(yaml.safe_dump(config))
    assert main(["check-config", str(tmp_path / "kiosk.yaml")]) == 0
    total = 2 * len(clip_keys())
    assert f"voice: {total} of {total} clips in {clips}\n" in capsys.readouterr().out
    config["voice"]["clips_dir"] = str(tmp_path / "none")
    (tmp_path / "kiosk.yaml").write_text(yaml.safe_dump(config))
    assert main(["check-config", str(tmp_path / "kiosk.yaml")]) == 0
    assert f"voice: 0 of {total} clips in {tmp_path / 'none'} (run `kiosk voices build" in capsys.readouterr().out
