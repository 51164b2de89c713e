"""The dashboard's Shifts and rosters page in headless Chromium, on the leave page's hub (its ``console``):
a night shift refused beside its cut-off stores nothing, then is saved (with 15 minutes' grace), shown as
crossing midnight and edited; a roster line that names nobody is refused beside the unit, then one employee is assigned the
shift, and a unit its weekly offs for a range of weeks; the daily register and the muster roll then count a 22:10 punch and the next morning's 06:05 as
one night-shift day; a rostered shift cannot be deleted, and once its roster line is gone it can."""

from datetime import date

import pytest

from tests.browser import wait_for
from tests.hub_api_kit import punch_record as punch
from tests.test_dashboard_browser import open_page, rows
from tests.test_leave_browser import console, set_value  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select

NIGHT_OF = date(2026, 4, 9)  # a Thursday: in at 22:10, out at 06:05 on the 10th


def typed(driver, element_id: str, value: str) -> None:
    """Set a field as typing would, so the page's input listeners run (the night-shift hint)."""
    set_value(driver, element_id, value)
    driver.execute_script("document.getElementById(arguments[0]).dispatchEvent(new Event('input', {bubbles: true}))",
                          element_id)


def error_beside(driver, form: str, name: str) -> str:
    box = driver.find_element(By.ID, f"{form}-{name}-error")
    return box.text if box.is_displayed() else ""


def submit(driver, form: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]").click()


def row_text(driver, table: str, key: str, value: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, f'#{table} tbody tr[data-{key}="{value}"]')
    return found[0].text if found else ""


def click_in_row(driver, table: str, key: str, value: str, action: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#{table} tr[data-{key}="{value}"] button[data-action="{action}"]').click()


def muster_codes(driver, employee_id: str) -> list[str]:
    cells = driver.find_elements(By.CSS_SELECTOR, f'#muster-table tbody tr[data-employee="{employee_id}"] td')
    return [td.text for td in cells][2:2 + 30]


def test_a_night_shift_is_set_up_assigned_and_counted_then_removed(console):  # noqa: F811
    driver, api = console
    with api.sessions.begin() as session:
        session.add_all([punch("H002", "S-PHC2", "22:10", day=NIGHT_OF),
                         punch("H002", "S-PHC2", "06:05", day=date(2026, 4, 10))])
    assert open_page(driver, "#/daily?unit_id=PHC-2&date=2026-04-09") == "ready"
    assert "06:05" not in rows(driver, "daily-table")["H002"]  # the day shift: the 06:05 is the 10th's

    assert open_page(driver, "#/shifts") == "ready"
    typed(driver, "shift-form-shift_id", "NIGHT")
    Select(driver.find_element(By.ID, "shift-form-site_id")).select_by_value("S-PHC2")
    typed(driver, "shift-form-name", "Night")
    typed(driver, "shift-form-start", "22:00")
    typed(driver, "shift-form-end", "06:00")
    assert driver.find_element(By.ID, "shift-form-night").is_displayed()  # said before it is saved
    typed(driver, "shift-form-grace_min", "15")
    typed(driver, "shift-form-cutoff", "07:00")
    submit(driver, "shift-form")
    message = wait_for(driver, lambda d: error_beside(d, "shift-form", "cutoff"), message="error beside the cut-off")
    assert "not between the start 22:00 and the end 06:00" in message
    assert error_beside(driver, "shift-form", "start") == ""
    assert api.machine.get("/api/v1/shifts").json()["items"] == []

    typed(driver, "shift-form-cutoff", "23:00")
    submit(driver, "shift-form")
    listed = wait_for(driver, lambda d: row_text(d, "shifts-table", "shift", "NIGHT"), message="the shift is listed")
    assert "22:00–06:00" in listed and "crosses midnight" in listed and "23:00" in listed and "15 min" in listed
    click_in_row(driver, "shifts-table", "shift", "NIGHT", "edit")
    assert driver.find_element(By.ID, "shift-form-shift_id").get_attribute("readonly") is not None
    assert driver.find_element(By.ID, "shift-form-cutoff").get_attribute("value") == "23:00"
    typed(driver, "shift-form-name", "Night duty")
    submit(driver, "shift-form")
    wait_for(driver, lambda d: "Night duty" in row_text(d, "shifts-table", "shift", "NIGHT"), message="renamed")
    [shift] = api.machine.get("/api/v1/shifts").json()["items"]
    assert (shift["site_id"], shift["start"], shift["end"], shift["cutoff"], shift["grace_min"],
            shift["crosses_midnight"]) == ("S-PHC2", "22:00:00", "06:00:00", "23:00:00", 15, True)

    Select(driver.find_element(By.ID, "roster-form-shift_id")).select_by_value("NIGHT")
    submit(driver, "roster-form")  # neither an employee nor a unit
    message = wait_for(driver, lambda d: error_beside(d, "roster-form", "unit_id"), message="error beside the unit")
    assert "name either one employee" in message
    assert api.machine.get("/api/v1/rosters").json()["items"] == []
    typed(driver, "roster-form-employee_id", "H002")
    submit(driver, "roster-form")
    line = wait_for(driver, lambda d: row_text(d, "rosters-table", "who", "H002"), message="the roster line is listed")
    assert "Night duty (22:00–06:00)" in line and "Every week" in line
    [roster] = api.machine.get("/api/v1/rosters").json()["items"]
    assert (roster["employee_id"], roster["unit_id"], roster["week_start"], roster["shift_id"]) == (
        "H002", None, None, "NIGHT")

    # a unit's weekly offs for a range of weeks: one line a week, the default shift
    set_value(driver, "roster-form-employee_id", "")
    Select(driver.find_element(By.ID, "roster-form-unit_id")).select_by_value("PHC-1")
    Select(driver.find_element(By.ID, "roster-form-shift_id")).select_by_value("")
    offs = Select(driver.find_element(By.ID, "roster-form-weekly_off"))
    offs.select_by_value("5")
    offs.select_by_value("6")
    set_value(driver, "roster-form-week_start", "2026-04-20")
    set_value(driver, "roster-form-week_last", "2026-04-13")
    submit(driver, "roster-form")
    message = wait_for(driver, lambda d: error_beside(d, "roster-form", "week_last"), message="error beside the range")
    assert "on or after the first week" in message
    set_value(driver, "roster-form-week_start", "2026-04-13")
    set_value(driver, "roster-form-week_last", "2026-04-26")
    submit(driver, "roster-form")
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, '#rosters-table tr[data-who="PHC-1"]')) == 2,
             message="a line for each week")
    weeks = [(r["week_start"], r["shift_id"], r["weekly_off"]) for r in api.machine.get("/api/v1/rosters").json()["items"]
             if r["unit_id"] == "PHC-1"]
    assert weeks == [("2026-04-13", None, [5, 6]), ("2026-04-20", None, [5, 6])]

    assert open_page(driver, "#/daily?unit_id=PHC-2&date=2026-04-09") == "ready"
    night = rows(driver, "daily-table")["H002"]
    assert "22:10" in night and "06:05" in night and "7 h 55" in night.replace("\u00a0", " ")
    assert open_page(driver, "#/muster?unit_id=PHC-2&month=2026-04") == "ready"
    codes = muster_codes(driver, "H002")
    assert (codes[8], codes[9]) == ("P", "A")  # the 9th's night, in within the grace; no night on the 10th

    assert open_page(driver, "#/shifts") == "ready"
    driver.execute_script("window.confirm = () => true;")
    click_in_row(driver, "shifts-table", "shift", "NIGHT", "delete")
    refusal = wait_for(driver, lambda d: d.find_element(By.ID, "shifts-error").text, message="the refusal")
    assert f"roster line(s) ({roster['id']})" in refusal
    click_in_row(driver, "rosters-table", "who", "H002", "delete")
    wait_for(driver, lambda d: not row_text(d, "rosters-table", "who", "H002"), message="the roster line is gone")
    click_in_row(driver, "shifts-table", "shift", "NIGHT", "delete")
    wait_for(driver, lambda d: not row_text(d, "shifts-table", "shift", "NIGHT"), message="the shift is gone")
    assert api.machine.get("/api/v1/shifts").json()["items"] == []
