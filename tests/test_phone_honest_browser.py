"""The phone page tells the truth before and after Punch (issue 20, part 5), in headless Chromium
on a 390x844 screen with a fake camera fed from a real photo and an emulated position:
the answer is scrolled into view; a rough fix or a place at none of the sites shows before Punch
(no green "inside", no reason prompt for "another site"); Punch waits for the playing camera;
denied camera or location say how to allow them; the page starts in the phone's language.

The hub is the real app on SQLite served on 127.0.0.1 (as in test_phone_browser.py).
"""

import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from tests import phonekit as kit
from tests.browser import browser_factory  # noqa: F401  (fixture)
from tests.browser import ServedApp, place, wait_attribute, wait_for, wait_text, write_y4m
from tests.hub_db import sqlite_engine

pytestmark = [pytest.mark.browser, pytest.mark.faces]
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By

PHONE = (390, 844)
# Holds getUserMedia back until the test calls window.releaseCamera(): a camera slow to start.
SLOW_CAMERA = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  window.releaseCamera = () => release();
  navigator.mediaDevices.getUserMedia = async (constraints) => { await released; return real(constraints); };
})();
"""
# A camera and a position that never answer, as while a permission prompt stays open.
SILENT_DEVICES = """
(() => {
  navigator.mediaDevices.getUserMedia = () => new Promise(() => {});
  navigator.geolocation.watchPosition = () => 1;
  navigator.geolocation.getCurrentPosition = () => {};
})();
"""
# Collects what the page's Content-Security-Policy blocked.
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(e.violatedDirective + " " + (e.blockedURI || e.sourceFile || "")));
"""


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture
def hub(tmp_path, faces_dir, encoder):
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, kit.encodings(encoder, [kit.photo(faces_dir, kit.SELF, n) for n in (2, 3, 4)]))
    with ServedApp(kit.make_app(tmp_path, engine, encoder)) as served:
        yield served, tmp_path / "sms-outbox.jsonl"
    engine.dispose()


@pytest.fixture
def phone(browser_factory, tmp_path, faces_dir):  # noqa: F811
    """``phone(**chromium_kw)`` -> a 390x844 Chromium whose camera shows the employee."""
    video = write_y4m(load_image_rgb(kit.photo(faces_dir, kit.SELF, 1)), tmp_path / "self.y4m")

    def launch(**kw):
        driver = browser_factory(video, window=PHONE, **kw)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 3, "mobile": True})
        return driver

    return launch


def set_permission(driver, origin, name, setting):
    driver.execute_cdp_cmd("Browser.setPermission",
                           {"origin": origin, "permission": {"name": name}, "setting": setting})


def fill(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def activate(driver, served, outbox):
    """Staff number -> code from the SMS outbox file -> password -> the notice, agreed -> the punch screen."""
    driver.get(served.url + "/phone/")
    wait_text(driver, "#send-code")
    fill(driver, "staff", kit.STAFF)
    driver.find_element(By.ID, "send-code").click()
    wait_text(driver, "#code-sent")
    fill(driver, "code", kit.last_code(outbox))
    driver.find_element(By.ID, "verify-code").click()
    wait_text(driver, "#set-password")
    fill(driver, "password", kit.PASSWORD)
    fill(driver, "password2", kit.PASSWORD)
    driver.find_element(By.ID, "set-password").click()
    wait_text(driver, "#notice-agree")  # first use: the notice, then the person's consent
    driver.find_element(By.ID, "notice-agree").click()
    wait_text(driver, "#sites", lambda t: "District Office" in t)


def punch_enabled(driver):
    return driver.find_element(By.ID, "punch-btn").is_enabled()


def punch(driver):
    wait_for(driver, punch_enabled, message="Punch stays disabled")
    driver.find_element(By.ID, "punch-btn").click()
    return wait_attribute(driver, "#result", "data-state", {"accepted", "refused"})


def inside_sites(driver):
    return [li.get_attribute("data-site-id") for li in driver.find_elements(By.CSS_SELECTOR, "#sites li.inside")]


def test_the_answer_is_scrolled_into_view_on_a_390x844_screen(hub, phone):
    served, outbox = hub
    driver = phone()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)
    assert driver.execute_script("return [innerWidth, innerHeight]") == list(PHONE)
    assert punch(driver) == "accepted"
    top, bottom, height = driver.execute_script(
        "const r = document.getElementById('result').getBoundingClientRect(); return [r.top, r.bottom, innerHeight]")
    assert 0 <= top and bottom <= height + 1, (top, bottom, height)  # + 1: sub-pixel layout
    assert driver.execute_script("return window.cspViolations") == []  # the page runs under its CSP


def test_a_fix_rougher_than_the_limit_is_shown_before_punch_and_no_site_is_green(hub, phone):
    served, outbox = hub
    driver = phone()
    place(driver, served.url, *kit.HOME, accuracy_m=180)  # max_accuracy_m is 50
    activate(driver, served, outbox)
    text = wait_text(driver, "#where", lambda t: "±180 m" in t)
    assert driver.find_element(By.ID, "where").get_attribute("data-state") == "poor_accuracy"
    assert "±50 m" in text and "refused" in text
    assert inside_sites(driver) == []
    assert "inside" not in driver.find_element(By.ID, "sites").text
    assert not driver.find_element(By.ID, "reason-row").is_displayed()

    place(driver, served.url, *kit.HOME, accuracy_m=12)  # a good fix: now the home site is green
    wait_attribute(driver, "#where", "data-state", {"ok"})
    assert inside_sites(driver) == ["home"]
    assert "District Office" in driver.find_element(By.ID, "where").text


def test_at_no_site_the_page_says_so_and_asks_no_reason_for_another_site(hub, phone):
    served, outbox = hub
    driver = phone()
    place(driver, served.url, *kit.offset(kit.ANNEX, north_m=500), accuracy_m=12)  # nearest: the annex, 500 m
    activate(driver, served, outbox)
    text = wait_text(driver, "#where", lambda t: "not at any of your sites" in t)
    assert driver.find_element(By.ID, "where").get_attribute("data-state") == "no_site"
    assert "Block Office" in text and "500 m" in text
    assert inside_sites(driver) == []
    assert not driver.find_element(By.ID, "reason-row").is_displayed()
    assert punch(driver) == "refused"
    assert driver.find_element(By.ID, "result").get_attribute("data-reason") == "outside_geofence"
    assert not driver.find_element(By.ID, "reason-row").is_displayed()


def test_punch_waits_for_the_camera_to_play(hub, phone):
    served, outbox = hub
    driver = phone()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SLOW_CAMERA})
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)
    button = driver.find_element(By.ID, "punch-btn")
    assert (button.text, button.is_enabled()) == ("Starting camera…", False)
    driver.execute_script("arguments[0].click()", button)  # a tap on the disabled button does nothing
    assert not driver.find_element(By.ID, "result").is_displayed()

    driver.execute_script("window.releaseCamera()")
    wait_for(driver, punch_enabled, message="Punch not enabled once the camera plays")
    assert button.text == "Punch"
    assert driver.execute_script("return document.getElementById('video').videoWidth") > 0
    assert punch(driver) == "accepted"


def test_a_denied_camera_says_how_to_allow_it(hub, phone):
    served, outbox = hub
    driver = phone(extra_args=("--use-fake-ui-for-media-stream=deny",))  # the user answers "Block"
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    set_permission(driver, served.url, "camera", "denied")
    activate(driver, served, outbox)
    note = wait_text(driver, "#camera-note", lambda t: "Allow" in t)
    assert "lock icon" in note and "reload" in note
    assert driver.find_element(By.ID, "camera-note").get_attribute("data-reason") == "camera_denied"
    button = driver.find_element(By.ID, "punch-btn")
    assert (button.text, button.is_enabled()) == ("No camera", False)


def test_a_denied_location_says_how_to_allow_it_and_punch_does_not_wait(hub, phone):
    served, outbox = hub
    driver = phone()
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    set_permission(driver, served.url, "geolocation", "denied")
    activate(driver, served, outbox)
    text = wait_text(driver, "#position", lambda t: "blocked" in t)
    assert "lock icon" in text and "Location" in text
    assert driver.find_element(By.ID, "position").get_attribute("data-reason") == "location_denied"
    assert punch(driver) == "refused"
    result = driver.find_element(By.ID, "result")
    assert result.get_attribute("data-reason") == "location_denied" and "lock icon" in result.text


def test_the_page_starts_in_hindi_on_a_hindi_phone_and_can_switch_to_english(hub, phone):
    served, _ = hub
    driver = phone(extra_args=("--lang=hi", "--accept-lang=hi-IN,hi,en"))
    driver.get(served.url + "/phone/")
    assert driver.execute_script("return navigator.languages[0]").startswith("hi")
    wait_text(driver, "#send-code", lambda t: t == "कोड भेजें")
    assert driver.execute_script("return document.documentElement.lang") == "hi"
    driver.find_element(By.ID, "lang").click()
    wait_text(driver, "#send-code", lambda t: t == "Send code")
    driver.refresh()  # the choice is kept
    wait_text(driver, "#send-code", lambda t: t == "Send code")

    english = phone(extra_args=("--lang=en-US", "--accept-lang=en-US,en,hi"))  # Hindi second: English first
    english.get(served.url + "/phone/")
    wait_text(english, "#send-code", lambda t: t == "Send code")
    assert english.execute_script("return document.documentElement.lang") == "en"


def test_a_camera_and_a_position_that_never_answer_time_out_with_a_message(hub, phone):
    served, outbox = hub
    driver = phone()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SILENT_DEVICES})
    place(driver, served.url, *kit.HOME, accuracy_m=12)
    activate(driver, served, outbox)
    assert driver.find_element(By.ID, "punch-btn").text == "Starting camera…"
    note = wait_text(driver, "#camera-note", lambda t: "did not start within 15 seconds" in t, timeout_s=25)
    assert "Allow the camera" in note
    assert driver.find_element(By.ID, "punch-btn").text == "No camera"
    text = wait_text(driver, "#position", lambda t: "No location after 30 seconds" in t, timeout_s=25)
    assert "allow it for this page" in text
    assert driver.find_element(By.ID, "position").get_attribute("data-reason") == "location_timeout"
