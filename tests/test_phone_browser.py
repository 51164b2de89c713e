"""The phone page in headless Chromium: activation, then punches with an emulated position
and a fake camera fed from a real photo (one browser per camera file).

The hub is the real app (create_app on SQLite) served by uvicorn on 127.0.0.1 with the
production phone settings (HTTPS required; 127.0.0.1 is exempt and a secure context).
"""

import numpy as np
import pytest
from sqlalchemy import select

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.accounts.models import AuditEntry
from hub.db import PunchRecord, make_session_factory
from hub.enrolment.models import ConsentRecord
from hub.phone.reasons import REASONS
from tests import phonekit as kit
from tests.browser import browser_factory  # noqa: F401  (fixture)
from tests.browser import ServedApp, fit_image, place, wait_attribute, wait_for, wait_text, write_y4m_frames
from tests.hub_db import sqlite_engine

pytestmark = [pytest.mark.browser, pytest.mark.faces]
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture
def hub(tmp_path, faces_dir, encoder):
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, kit.encodings(encoder, [kit.photo(faces_dir, kit.SELF, n) for n in (2, 3, 4)]))
    app = kit.make_app(tmp_path, engine, encoder)
    with ServedApp(app) as served:
        yield served, engine, tmp_path / "sms-outbox.jsonl"
    engine.dispose()


def camera(tmp_path, faces_dir, identity):
    """The photo as a camera shows it: fresh sensor noise on each of 600 frames at 5 fps (a 2-minute loop), so
    two selfies of one test are never the same bytes (the hub refuses a selfie it accepted before)."""
    rgb = fit_image(load_image_rgb(kit.photo(faces_dir, identity, 1)), 320, 240).astype(np.float32)
    rng = np.random.default_rng(1)
    frames = (np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8) for _ in range(600))
    return write_y4m_frames(frames, tmp_path / f"{identity}.y4m", 320, 240, fps=5)


def fill(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def click(driver, element_id):
    driver.find_element(By.ID, element_id).click()


def activate(driver, served, outbox):
    """Staff number -> code from the SMS outbox file -> password -> the notice, agreed -> the punch screen."""
    driver.get(served.url + "/phone/")
    wait_text(driver, "#send-code")
    fill(driver, "staff", kit.STAFF)
    click(driver, "send-code")
    wait_text(driver, "#code-sent", lambda t: "code was sent" in t and "12" not in t)  # no hint of the mobile
    fill(driver, "code", kit.last_code(outbox))
    click(driver, "verify-code")
    wait_text(driver, "#set-password")
    fill(driver, "password", kit.PASSWORD)
    fill(driver, "password2", kit.PASSWORD)
    click(driver, "set-password")
    wait_text(driver, "#notice-agree")  # first use: the notice, then the person's consent
    driver.find_element(By.ID, "notice-agree").click()
    wait_text(driver, "#sites", lambda t: "District Office" in t)


def punch(driver):
    """Press Punch once the camera plays and wait for the hub's answer; returns (state, reason, text)."""
    wait_for(driver, lambda d: d.find_element(By.ID, "punch-btn").is_enabled(), message="Punch stays disabled")
    click(driver, "punch-btn")
    state = wait_attribute(driver, "#result", "data-state", {"accepted", "refused"})
    result = driver.find_element(By.ID, "result")
    return state, result.get_attribute("data-reason"), result.text


def stored(engine):
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(PunchRecord).order_by(PunchRecord.received_at)))


def test_activation_then_a_punch_inside_the_fence_is_accepted_outside_refused_and_off_site_needs_a_reason(
        hub, browser_factory, tmp_path, faces_dir):  # noqa: F811
    served, engine, outbox = hub
    driver = browser_factory(camera(tmp_path, faces_dir, kit.SELF))
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)
    wait_text(driver, "#sites", lambda t: "inside" in t)
    assert not driver.find_element(By.ID, "reason-row").is_displayed()

    state, reason, text = punch(driver)
    assert (state, reason) == ("accepted", ""), text
    assert "District Office" in text
    [record] = stored(engine)
    assert (record.method, record.site_id, record.employee_id) == ("phone", "home", kit.STAFF)
    assert record.accuracy_m == 12 and record.site_distance_m < 1 and record.distance < 0.5

    # log out and back in with the password on the bound phone
    click(driver, "logout")
    wait_text(driver, "#login-btn")
    fill(driver, "login-password", kit.PASSWORD)
    click(driver, "login-btn")
    wait_text(driver, "#sites", lambda t: "District Office" in t)

    # 1 km east of the office: outside every fence
    place(driver, served.url, *kit.offset(kit.HOME, east_m=1000), accuracy_m=12)
    state, reason, text = punch(driver)
    assert (state, reason) == ("refused", "outside_geofence"), text
    assert "District Office" in text and "m away" in text

    # at the block office next door: allowed, but not the home site, so a reason is demanded
    place(driver, served.url, *kit.ANNEX, accuracy_m=12)
    state, reason, text = punch(driver)
    assert (state, reason) == ("refused", "reason_required"), text
    assert driver.find_element(By.ID, "reason-row").is_displayed()
    fill(driver, "reason", "Block review meeting")
    state, reason, text = punch(driver)
    assert (state, reason) == ("accepted", ""), text
    assert "Block Office" in text
    assert [(r.site_id, r.reason) for r in stored(engine)] == [("home", None), ("annex", "Block review meeting")]


def test_first_use_shows_the_notice_in_the_chosen_language_and_records_the_persons_consent(
        hub, browser_factory, tmp_path, faces_dir):  # noqa: F811
    served, engine, outbox = hub
    driver = browser_factory(camera(tmp_path, faces_dir, kit.SELF))
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    driver.get(served.url + "/phone/")
    wait_text(driver, "#send-code")
    fill(driver, "staff", kit.STAFF)
    click(driver, "send-code")
    wait_text(driver, "#code-sent")
    fill(driver, "code", kit.last_code(outbox))
    click(driver, "verify-code")
    wait_text(driver, "#set-password")
    fill(driver, "password", kit.PASSWORD)
    fill(driver, "password2", kit.PASSWORD)
    click(driver, "set-password")
    text = wait_text(driver, "#screen-notice", lambda t: "What is kept" in t)
    assert "Who sees it" in text and "Digital Personal Data Protection Act, 2023" in text
    assert not driver.find_element(By.ID, "screen-punch").is_displayed()
    click(driver, "lang")  # the person reads Hindi
    text = wait_text(driver, "#screen-notice", lambda t: "क्या रखा जाता है" in t)
    assert "कौन देखता है" in text and "सहमत" in driver.find_element(By.ID, "notice-agree").text
    with make_session_factory(engine)() as session:
        assert session.scalars(select(ConsentRecord)).all() == []
    click(driver, "notice-agree")
    wait_text(driver, "#sites")
    with make_session_factory(engine)() as session:
        record = session.scalars(select(ConsentRecord)).one()
        logged = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "consent.record")).all()
    assert (record.employee_id, record.channel, record.language, record.recorded_by) == \
        (kit.STAFF, "phone", "hi", kit.STAFF)
    assert logged == [f"phone:{kit.STAFF}"]

    click(driver, "logout")  # the notice is shown once per phone, not at every login
    wait_text(driver, "#login-btn")
    fill(driver, "login-password", kit.PASSWORD)
    click(driver, "login-btn")
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-punch").is_displayed(), message="the punch screen")
    assert not driver.find_element(By.ID, "screen-notice").is_displayed()


def test_another_persons_face_is_refused_and_the_answer_reads_in_hindi(hub, browser_factory, tmp_path,
                                                                        faces_dir):  # noqa: F811
    served, engine, outbox = hub
    driver = browser_factory(camera(tmp_path, faces_dir, kit.OTHER))
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)

    state, reason, text = punch(driver)
    assert (state, reason) == ("refused", "face_mismatch"), text
    assert text == REASONS["face_mismatch"].en
    assert stored(engine) == []

    click(driver, "lang")
    wait_text(driver, "#punch-btn", lambda t: t == "पंच करें")
    assert driver.find_element(By.ID, "result").text == REASONS["face_mismatch"].hi


def test_a_punch_after_consent_was_withdrawn_is_refused_and_the_page_shows_the_notice_again(
        hub, browser_factory, tmp_path, faces_dir):  # noqa: F811
    """The phone remembers it showed the notice; the hub does not take its word: with the consent withdrawn
    since, the punch is refused, the page says to accept the notice first and shows the notice."""
    import httpx

    served, engine, outbox = hub
    driver = browser_factory(camera(tmp_path, faces_dir, kit.SELF))
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)
    wait_text(driver, "#sites", lambda t: "inside" in t)
    token = (tmp_path / "admin.token").read_text().strip()
    withdrawn = httpx.post(f"{served.url}/api/v1/employees/{kit.STAFF}/consent/withdraw", json={"reason": "ref 12"},
                           headers={"Authorization": f"Bearer {token}"})
    assert withdrawn.status_code == 200, withdrawn.text

    wait_for(driver, lambda d: d.find_element(By.ID, "punch-btn").is_enabled(), message="Punch stays disabled")
    click(driver, "punch-btn")
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-notice").is_displayed(), message="the notice again")
    assert driver.find_element(By.ID, "status").text == REASONS["consent_missing"].en
    assert driver.find_element(By.ID, "status").get_attribute("data-reason") == "consent_missing"
    assert stored(engine) == []
    driver.find_element(By.ID, "notice-agree").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-punch").is_displayed(), message="the punch screen")
    assert driver.find_element(By.ID, "status").text == ""
    with make_session_factory(engine)() as session:
        assert [r.withdrawn_at is None for r in session.scalars(select(ConsentRecord).order_by(ConsentRecord.id))] \
            == [False, True]
