"""The phone page runs the hub's liveness challenge in headless Chromium at phone size (390x844).

The camera is Chromium's fake device fed from a file: a still frame of the
enrolled person (which must be refused, and the page must say so plainly),
and the real blink video ``../shared/faces/video/blink-1.mp4`` resampled to
10 fps (its first 5 s: blinks at 0.4, 1.7, 3.4 and 4.7 s, looped by Chromium,
so any 3 s burst holds a blink after open eyes), which passes end to end:
page -> burst -> the hub's kiosk liveness checker and face match -> stored
punch. The hub is the real app on SQLite served on 127.0.0.1; its challenge
draw is fixed to a blink (the person in the video never turns their head).
"""

import random

import pytest
from sqlalchemy import select

from benchmarks.liveness_frames import video_frames
from biometrics.encoder import FaceEncoder
from hub.db import PunchRecord
from hub.phone.models import PhoneFrameHash
from tests import phonekit as kit
from tests.browser import browser_factory  # noqa: F401  (fixture)
from tests.browser import ServedApp, place, wait_attribute, wait_for, write_y4m_frames
from tests.hub_db import sqlite_engine
from tests.test_phone_honest_browser import PHONE, activate, punch_enabled

pytestmark = [pytest.mark.browser, pytest.mark.faces]
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By

LOOP = (0, 50)                 # the camera's loop: 0.0-5.0 s of the video
ENROL = (55, 88, 95, 105)      # enrolment frames, outside the loop


class BlinkOnly(random.Random):
    """The challenge draw, fixed: always a blink."""

    def choice(self, seq):
        assert "blink" in seq
        return "blink"


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def video(faces_dir):
    path = faces_dir / "video" / "blink-1.mp4"
    if not path.is_file():
        pytest.skip(f"real blink video not found at {path}")
    return video_frames(path)[1]


@pytest.fixture
def hub(tmp_path, encoder, video):
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, kit.encodings_of(encoder, [video[i] for i in ENROL]))
    app = kit.make_app(tmp_path, engine, encoder, rng=BlinkOnly(), challenge="required")
    with ServedApp(app) as served:
        yield served, tmp_path / "sms-outbox.jsonl", app.state.session_factory
    engine.dispose()


def phone(browser_factory, camera):  # noqa: F811
    driver = browser_factory(camera, window=PHONE)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 3, "mobile": True})
    return driver


def punch_with_challenge(driver):
    """Tap Punch, see the challenge shown over the video, then the hub's answer: (state, reason, text)."""
    wait_for(driver, punch_enabled, message="Punch stays disabled")
    driver.find_element(By.ID, "punch-btn").click()
    shown = wait_attribute(driver, "#challenge", "data-challenge", {"blink"})
    prompt = driver.execute_script("return document.getElementById('challenge').textContent")
    state = wait_attribute(driver, "#result", "data-state", {"accepted", "refused"}, timeout_s=120)
    result = driver.find_element(By.ID, "result")
    return shown, prompt, state, result.get_attribute("data-reason"), result.text


def test_a_still_camera_runs_the_challenge_and_is_refused_plainly(hub, browser_factory, tmp_path, video):  # noqa: F811
    served, outbox, factory = hub
    camera = write_y4m_frames([video[25]] * 10, tmp_path / "still.y4m")
    driver = phone(browser_factory, camera)
    place(driver, served.url, *kit.HOME, accuracy_m=10)
    activate(driver, served, outbox)
    challenge, prompt, state, reason, text = punch_with_challenge(driver)
    assert challenge == "blink" and "blink" in prompt.lower()
    assert (state, reason) == ("refused", "not_live")
    assert "live person" in text and "photos and screens are not accepted" in text
    top, bottom, height = driver.execute_script(
        "const r = document.getElementById('result').getBoundingClientRect(); return [r.top, r.bottom, innerHeight]")
    assert 0 <= top and bottom <= height + 1  # in view on the phone's screen
    with factory() as session:
        assert session.scalars(select(PunchRecord)).first() is None


def test_the_real_blink_video_as_camera_passes_end_to_end(hub, browser_factory, tmp_path, video):  # noqa: F811
    served, outbox, factory = hub
    camera = write_y4m_frames(video[LOOP[0]:LOOP[1]], tmp_path / "blink.y4m")
    driver = phone(browser_factory, camera)
    place(driver, served.url, *kit.HOME, accuracy_m=10)
    activate(driver, served, outbox)
    challenge, _, state, reason, text = punch_with_challenge(driver)
    assert (challenge, state) == ("blink", "accepted"), (reason, text)
    with factory() as session:
        [row] = session.scalars(select(PunchRecord)).all()
        frames = len(session.scalars(select(PhoneFrameHash)).all())
    assert row.method == "phone" and row.liveness_passed is True and frames >= 10
