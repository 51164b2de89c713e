"""The dashboard's Leave and holidays page in headless Chromium, on a real hub (SQLite): the month's
holidays are listed; a refused entry shows the hub's message beside the field and stores nothing; a good
one is listed and turns the muster roll's days into its code; deleting it gives the days back."""

from datetime import datetime, timezone

import pytest

from tests.browser import ServedApp, chromium, chromium_available, wait_for
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import sqlite_engine
from tests.test_dashboard_browser import WINDOW, log_in, open_page, rows

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    why = chromium_available()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("leave")
    api = HubApi(root, sqlite_engine(root))
    api.app.state.clock = lambda: datetime(2026, 5, 5, 6, tzinfo=timezone.utc)
    with api.sessions.begin() as session:
        seed_org(session)
        session.add_all([punch("H001", "S-PHC1", t, day=datetime(2026, 4, 7).date()) for t in ("09:40", "17:50")])
    assert api.machine.post("/api/v1/holidays", json={"day": "2026-04-14", "name": "Ambedkar Jayanti",
                                                       "level": "national"}).status_code == 201
    one_time = api.add_user("root", "admin")
    with ServedApp(api.app) as served, chromium(window=WINDOW) as driver:
        log_in(driver, served, "root", one_time)
        yield driver, api
    api.close()


def set_value(driver, element_id: str, value: str) -> None:
    driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];", element_id, value)


def error_beside(driver, name: str) -> str:
    box = driver.find_element(By.ID, f"leave-form-{name}-error")
    return box.text if box.is_displayed() else ""


def stored(api) -> list:
    return api.machine.get("/api/v1/leave", params={"from": "2026-04-01", "to": "2026-04-30"}).json()["items"]


def test_enter_leave_see_it_on_the_muster_roll_and_delete_it(console):
    driver, api = console
    assert open_page(driver, "#/leave?month=2026-04") == "ready"
    assert "Ambedkar Jayanti" in driver.find_element(By.ID, "leave-holidays").text
    set_value(driver, "leave-form-employee_id", "H001")
    Select(driver.find_element(By.ID, "leave-form-code")).select_by_value("CL")
    set_value(driver, "leave-form-first", "2026-04-08")
    set_value(driver, "leave-form-last", "2026-04-06")
    driver.find_element(By.CSS_SELECTOR, "#leave-form button[type=submit]").click()
    message = wait_for(driver, lambda d: error_beside(d, "last"), message="error beside the last day")
    assert "before the first day" in message and error_beside(driver, "employee_id") == ""
    assert stored(api) == []

    set_value(driver, "leave-form-first", "2026-04-06")
    set_value(driver, "leave-form-last", "2026-04-08")
    driver.find_element(By.CSS_SELECTOR, "#leave-form button[type=submit]").click()
    wait_for(driver, lambda d: "H001" in rows(d, "leave-table"), message="the entry is listed")
    assert "casual leave" in rows(driver, "leave-table")["H001"]
    [entry] = stored(api)

    # an admin adds a local holiday: without its unit it is refused beside the unit; with it, listed
    set_value(driver, "holiday-form-day", "2026-04-20")
    set_value(driver, "holiday-form-name", "Local fair")
    Select(driver.find_element(By.ID, "holiday-form-level")).select_by_value("local")
    driver.find_element(By.CSS_SELECTOR, "#holiday-form button[type=submit]").click()
    unit_error = wait_for(driver, lambda d: d.find_element(By.ID, "holiday-form-unit_id-error").text,
                          message="error beside the unit")
    assert "needs the unit" in unit_error
    Select(driver.find_element(By.ID, "holiday-form-unit_id")).select_by_value("PHC-1")
    driver.find_element(By.CSS_SELECTOR, "#holiday-form button[type=submit]").click()
    wait_for(driver, lambda d: "Local fair" in d.find_element(By.ID, "leave-holidays").text, message="holiday listed")
    holidays = api.machine.get("/api/v1/holidays", params={"from": "2026-04-01", "to": "2026-04-30"}).json()["items"]
    assert [(h["day"], h["level"], h["unit_id"]) for h in holidays] == [("2026-04-14", "national", None),
                                                                        ("2026-04-20", "local", "PHC-1")]
    assert (entry["code"], entry["first"], entry["last"], entry["source"], entry["created_by"]) == (
        "CL", "2026-04-06", "2026-04-08", "dashboard", "root")

    assert open_page(driver, "#/muster?unit_id=PHC-1&month=2026-04") == "ready"
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, '#muster-table tbody tr[data-employee="H001"] td')]
    assert cells[2:2 + 20] == ["A", "A", "A", "A", "WO", "CL", "CL", "CL", "A", "A", "A", "WO", "A", "H",
                               "A", "A", "A", "A", "WO", "H"]

    assert open_page(driver, "#/leave?month=2026-04") == "ready"
    driver.execute_script("window.confirm = () => true;")
    driver.find_element(By.CSS_SELECTOR, '#leave-table tr[data-entry] button[data-action="delete"]').click()
    wait_for(driver, lambda d: "H001" not in rows(d, "leave-table"), message="the entry is gone")
    assert stored(api) == []
