"""The whole kiosk on real photos with its screen and voice: an offline accept shows the person's name, In and
"saved on this kiosk" in Hindi and English, and says thank you, while the camera loop never waits for them."""

import shutil

import pytest

from devtools.mosquitto import free_port
from hardware.replay import ReplayCamera
from kiosk.app import KioskApp, RunOptions
from kiosk.screen.fonts import DEVANAGARI, FontBook
from kiosk.screen.window import FakeWindow
from kiosk.ui import build_ui
from kiosk.voice.clips import build_clips
from kiosk.voice.sink import FakeSink
from tests.test_kiosk_app import PEOPLE, kiosk_config, seed_gallery


@pytest.mark.faces
@pytest.mark.skipif(FontBook().find(DEVANAGARI) is None, reason="Noto fonts absent: apt-get install fonts-noto-core")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng absent: apt-get install espeak-ng")
def test_an_offline_accept_is_shown_and_spoken_in_both_languages(tmp_path, faces_dir):
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(max((faces_dir / "dev" / PEOPLE[1]).glob("*.jpg")))
    config = kiosk_config(tmp_path, frames, free_port())   # nobody listens there: offline
    config.voice.clips_dir = tmp_path / "voices"
    config.voice.speak_names = False                       # the fixed clip: names are tested in test_kiosk_voice
    config.screen.site_name = "Collectorate"
    config.state_dir.mkdir(parents=True)
    build_clips(config.voice.clips_dir, config.languages)
    seed_gallery(config, faces_dir)

    window, sink = FakeWindow(), FakeSink()
    ui = build_ui(config, window=window, sink=sink)
    app = KioskApp(config, ReplayCamera(frames, fps=10, repeat=4, pace=False), display=ui.screen)
    ui.bind(connected=app.link.connected.is_set)
    heard = []
    ui.screen.listeners.append(heard.append)
    summary = app.run(RunOptions(exit_when_done=True))
    ui.close()

    assert summary["punches_created"] == 1
    [saved] = [s for s in heard if s.is_result]
    assert saved.name == "offline_saved"                   # accepted, kept in the outbox, hub unreachable
    assert dict(saved.params) == {"name": "Naomi Watts", "employee_id": PEOPLE[1], "time": saved.params["time"],
                                  "site": "Collectorate", "direction": "in"}
    assert "offline_saved" in window.labels()
    assert sink.labels()[-2:] == ["hi/kiosk.voice.accepted", "en/kiosk.voice.accepted"]
    assert (config.state_dir / "daybook.json").exists()
