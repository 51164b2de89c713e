"""Regularisation end to end in headless Chromium on a real hub (create_app on SQLite, uvicorn):
the employee asks on the phone page to correct a day, the unit's officer approves it on the
dashboard, the muster roll changes from A to R, and the admin's audit log shows both steps.

No camera or face is needed: asking for a correction is not a punch.
"""

from datetime import date

import pytest

from hub.phone.reasons import REASONS, render
from tests import phonekit, regkit
from tests.browser import ServedApp, browser_factory, wait_attribute, wait_for, wait_text  # noqa: F401
from tests.hub_api_kit import punch_record
from tests.hub_db import sqlite_engine
from tests.test_dashboard_browser import fill, log_in, open_page

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select

WIDE = (1400, 1000)
MUSTER = "#/muster?unit_id=PHC-1&month=2026-04"


@pytest.fixture
def hub(tmp_path):
    """(served hub, HubApi, officer's and admin's one-time passwords); H001 worked all of 8 April."""
    api = regkit.make_hub(tmp_path, sqlite_engine(tmp_path))
    with api.sessions.begin() as session:
        session.add_all([punch_record(regkit.STAFF, "S-PHC1", hhmm, day=date(2026, 4, 8))
                         for hhmm in ("09:40", "17:50")])
    officer = api.add_user("phc.officer", "unit_officer", unit_ids=["PHC-1"])
    admin = api.add_user("admin1", "admin")
    with ServedApp(api.app) as served:
        yield served, api, officer, admin
    api.close()
    api.engine.dispose()


def activate_phone(driver, served, outbox):
    driver.get(served.url + "/phone/")
    wait_text(driver, "#send-code")
    fill(driver, "staff", regkit.STAFF)
    driver.find_element(By.ID, "send-code").click()
    wait_text(driver, "#code-sent")
    fill(driver, "code", phonekit.last_code(outbox, regkit.MOBILE))
    driver.find_element(By.ID, "verify-code").click()
    wait_text(driver, "#set-password")
    fill(driver, "password", phonekit.PASSWORD)
    fill(driver, "password2", phonekit.PASSWORD)
    driver.find_element(By.ID, "set-password").click()
    wait_text(driver, "#notice-agree")  # first use: the notice, then the person's consent
    driver.find_element(By.ID, "notice-agree").click()
    wait_text(driver, "#reg-list", lambda t: "No requests yet." in t)


def ask(driver, day, kind, words):
    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, "reg-day"), day)
    Select(driver.find_element(By.ID, "reg-kind")).select_by_value(kind)
    fill(driver, "reg-text", words)
    driver.execute_script("document.getElementById('reg-result').removeAttribute('data-state')")
    driver.find_element(By.ID, "reg-send").click()
    state = wait_attribute(driver, "#reg-result", "data-state", {"accepted", "refused"})
    return state, driver.find_element(By.ID, "reg-result").text


def muster_cells(driver):
    """H001's row of the muster roll page: {column header: cell text}."""
    assert open_page(driver, MUSTER) == "ready"
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#muster-table thead th")]
    row = driver.find_element(By.CSS_SELECTOR, '#muster-table tbody tr[data-employee="H001"]')
    return dict(zip(headers, (td.text for td in row.find_elements(By.TAG_NAME, "td"))))


def test_a_correction_asked_on_the_phone_and_approved_on_the_dashboard_changes_the_muster_roll(
        hub, browser_factory, tmp_path):  # noqa: F811
    served, api, officer_password, admin_password = hub
    phone = browser_factory()
    activate_phone(phone, served, tmp_path / "sms-outbox.jsonl")
    assert "At most 3 requests a month." in phone.find_element(By.ID, "reg-limit").text

    # a day already present is refused, in words, and nothing is stored
    state, text = ask(phone, "2026-04-08", "kiosk_down", "The kiosk did not respond")
    assert (state, text) == ("refused", render(REASONS["reg_day_present"], {"day": "2026-04-08"})["en"])
    assert regkit.stored_requests(api) == []

    state, text = ask(phone, "2026-04-07", "on_duty_elsewhere", "Pulse polio booth at Rampur all day")
    assert (state, text) == ("accepted", "Request sent for 2026-04-07. Your officer will decide.")
    wait_attribute(phone, '#reg-list li[data-day="2026-04-07"]', "data-state", {"pending"})
    assert "On duty elsewhere" in phone.find_element(By.ID, "reg-list").text

    officer = browser_factory(window=WIDE)
    log_in(officer, served, "phc.officer", officer_password)
    before = muster_cells(officer)
    assert (before["7"], before["8"], before["P"]) == ("A", "P", "1")

    assert open_page(officer, "#/regularisation") == "ready"
    row = officer.find_element(By.CSS_SELECTOR, '#reg-table tbody tr[data-employee="H001"]')
    assert row.get_attribute("data-day") == "2026-04-07" and "Pulse polio booth at Rampur" in row.text
    row.find_element(By.CSS_SELECTOR, "input.reg-remark").send_keys("Booth duty order seen")
    row.find_element(By.CSS_SELECTOR, 'button[data-decision="approve"]').click()
    wait_text(officer, "#reg-done", lambda t: t == "Approved: Person H001, 2026-04-07.")
    wait_for(officer, lambda d: not d.find_elements(By.CSS_SELECTOR, '#reg-table tbody tr[data-employee="H001"]'),
             message="the approved request leaves the pending list")

    after = muster_cells(officer)
    assert (after["7"], after["8"], after["P"], after["A"]) == ("R", "P", "2", str(int(before["A"]) - 1))
    assert "R regularised" in officer.find_element(By.CSS_SELECTOR, "#page-muster .hint").text

    phone.refresh()  # the employee sees the decision
    wait_attribute(phone, '#reg-list li[data-day="2026-04-07"]', "data-state", {"approved"})
    assert "approved: Booth duty order seen" in phone.find_element(By.ID, "reg-list").text

    admin = browser_factory(window=WIDE)
    log_in(admin, served, "admin1", admin_password)
    assert open_page(admin, "#/audit?action=regularisation.*") == "ready"
    steps = [(tr.get_attribute("data-action"), tr.get_attribute("data-actor"))
             for tr in admin.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr[data-action]")]
    assert ("regularisation.request", "H001") in steps and ("regularisation.approve", "phc.officer") in steps
    assert steps.index(("regularisation.approve", "phc.officer")) < steps.index(("regularisation.request", "H001"))
