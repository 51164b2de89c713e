"""The dashboard in headless Chromium, against a real hub API served by uvicorn on SQLite.

The hub is set up the way an operator does it: ``hub init-db`` and ``hub admin create`` through
the real CLI (which prints a one-time password), then master data, users (with one-time
passwords, from the accounts module), a kiosk and punches. Every user logs in through the page
and must choose their own password first.

Organisation (``tests.hub_api_kit.seed_org``) plus one employee whose name is HTML: HEALTH
(PHC-1: H001, H003; PHC-2: H002) under DDO-H; EDU (SCH-1: E001, E002) under DDO-E. The hub's
clock stands at 18:30 IST on Tuesday 7 April 2026. That day: H001 09:40-17:50; H002 late
10:30-17:50; E001 at the PHC-1 site (not home) 09:40-17:50 with a reason; E002 and H003 no
punch (absent, missing).
"""

import contextlib
import io
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from hub.accounts import users
from hub.accounts.principal import EMPLOYEE, UNIT_OFFICER
from hub.api import create_app
from hub.app import load, open_engine
from hub.cli import main as hub_cli
from hub.db import make_session_factory
from hub.devices import health, registry, rollout
from hub.devices.models import Release
from hub.ingest.punches import ReceivedMessage
from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn
from protocol import signing, topics
from tests.browser import (
    ServedApp,
    browser_factory,  # noqa: F401  (fixture)
    wait_for,
)
from tests.hub_api_kit import REPORT_DAY, seed_org
from tests.hub_api_kit import punch_record as punch

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select
Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")

IST = ZoneInfo("Asia/Kolkata")
DAY = REPORT_DAY
NOW = datetime(2026, 4, 7, 18, 30, tzinfo=IST)
NEW_PASSWORD = "quiet meadow 2026"
HTML_NAME = '<img src=x onerror="document.body.dataset.pwned=1">Eve'
WINDOW = (1280, 900)


def device_reports(session, config) -> None:
    """What the kiosks said, stored the way ingest stores it: kiosk-1 healthy and heard 30 s ago;
    kiosk-2 sent health with its clock 400 s ahead an hour ago, then its last will; kiosk-3 silent."""
    def message(device_id: str, kind: str, body: dict, at: datetime) -> ReceivedMessage:
        return ReceivedMessage(topics.device_topic(device_id, kind), json.dumps(body).encode(), at.astimezone(timezone.utc))

    def sample(device_id: str, at: datetime, ahead_s: float, **fields) -> ReceivedMessage:
        body = {"ts": (at + timedelta(seconds=ahead_s)).isoformat(), "uptime_s": 7200.0, "outbox_depth": 0,
                "gallery_version": 0, "sw_version": "0.1.0", **fields}
        return message(device_id, topics.HEALTH, body, at)

    received = [
        message("kiosk-1", topics.STATUS, {"state": "online"}, NOW - timedelta(hours=2)),
        sample("kiosk-1", NOW - timedelta(seconds=30), 2.0, cpu_temp_c=51.3, outbox_depth=3, camera_fps=9.8,
               alarms=[{"kind": "storage_error", "detail": "disk full writing the outbox",
                        "since": (NOW - timedelta(minutes=2)).isoformat()}],
               heal=[{"fault": "camera_stopped", "action": "restart_camera", "count": 1, "recovered": True,
                      "detail": "no frame for 10 s: restart 1, reopened; frames again after 1 restart(s)",
                      "since": (NOW - timedelta(minutes=5)).isoformat(),
                      "at": (NOW - timedelta(minutes=5)).isoformat()}]),
        message("kiosk-2", topics.STATUS, {"state": "online"}, NOW - timedelta(hours=3)),
        sample("kiosk-2", NOW - timedelta(hours=1), 400.0, cpu_temp_c=62.0),
        message("kiosk-2", topics.STATUS, {"state": "offline"}, NOW - timedelta(minutes=50)),
    ]
    reports = [(m, health.parse_report(m, max_bytes=config.max_payload_bytes)) for m in received]
    assert health.record_reports(session, reports, config.health, max_payload_bytes=config.max_payload_bytes) == [
        "status", "health", "status", "health", "status"]


def cli(*args: str) -> str:
    """Run ``hub ...`` in this process; its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hub_cli(list(args)) == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """(served app, {user: one-time password}); the admin is made by the CLI, the others by the accounts module."""
    root = tmp_path_factory.mktemp("dashboard")
    (root / "admin.token").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    config_file = root / "hub.yaml"
    config_file.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{root / 'hub.sqlite'}",
        "admin_token_file": str(root / "admin.token"),
        "auth": {"cookie_secure": False},  # plain HTTP on 127.0.0.1
        "enrolment": {"photo_dir": str(root / "photos")},
    }))
    cli("init-db", "--config", str(config_file))
    printed = cli("admin", "create", "root", "--config", str(config_file))
    one_time = {"root": printed.strip().splitlines()[-1]}

    config = load(config_file)
    engine = open_engine(config)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_org(session)
        employees.create_employee(session, EmployeeIn(employee_id="H003", name=HTML_NAME, home_site_id="S-PHC1",
                                                      unit_id="PHC-1", ddo_id="DDO-H"))
        session.add_all([
            punch("H001", "S-PHC1", "09:40"), punch("H001", "S-PHC1", "17:50"),
            punch("H002", "S-PHC2", "10:30"), punch("H002", "S-PHC2", "17:50"),
            punch("E001", "S-PHC1", "09:40", "vaccination camp"), punch("E001", "S-PHC1", "17:50", "vaccination camp"),
        ])
        for device_id, site_id in (("kiosk-1", "S-PHC1"), ("kiosk-2", "S-SCH1"), ("kiosk-3", "S-PHC2")):
            registry.register_device(session, device_id, site_id,
                                     signing.public_key_b64(signing.generate_private_key()))
        session.flush()
        device_reports(session, config)
        session.add(Release(version="0.2.0", manifest="{}", published_at=NOW, published_by="root"))
        session.flush()   # a rollout of it: kiosk-1 updated, kiosk-2 running it but worse, kiosk-3 not yet sent
        started = rollout.start(session, "0.2.0", actor="root", now=NOW, config=config.updates)
        for target in rollout.targets_of(session, started.id):
            target.state = {"kiosk-1": "installed", "kiosk-2": "degraded"}.get(target.device_id, target.state)
            if target.device_id == "kiosk-2":
                target.detail = "worse on 0.2.0: camera 9.8 -> 2.1 fps"
        _, one_time["officer"] = users.create_user(session, "officer", UNIT_OFFICER, unit_ids=["HEALTH"])
        _, one_time["e001"] = users.create_user(session, "e001", EMPLOYEE, employee_id="E001")
    app = create_app(config, engine)
    app.state.clock = lambda: NOW.astimezone(timezone.utc)
    with ServedApp(app) as served:
        yield served, one_time
    engine.dispose()


# ---- driving the page -----------------------------------------------------------------------

def fill(driver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def screen(driver) -> str:
    return driver.execute_script("return document.body.dataset.screen || ''")


def wait_screen(driver, name: str) -> None:
    wait_for(driver, lambda d: screen(d) == name, message=f"screen {name}")


def visible_text(driver, element_id: str) -> str:
    element = driver.find_element(By.ID, element_id)
    return element.text if element.is_displayed() else ""


def log_in(driver, served, username: str, password: str) -> None:
    """From a fresh page: the login form, then the forced password change, then the first page."""
    driver.get(served.url + "/dashboard/")
    wait_screen(driver, "login")
    fill(driver, "login-user", username)
    fill(driver, "login-password", password)
    driver.find_element(By.ID, "login-btn").click()
    wait_screen(driver, "password")
    assert not driver.find_element(By.ID, "pw-current-row").is_displayed()  # the one-time password is known

    fill(driver, "pw-new", NEW_PASSWORD)  # the two entries differ: the page says so, asks nothing of the hub
    fill(driver, "pw-repeat", NEW_PASSWORD + "x")
    driver.find_element(By.ID, "pw-btn").click()
    wait_for(driver, lambda d: "differ" in visible_text(d, "password-error"), message="mismatch shown")

    fill(driver, "pw-new", "short1")  # the hub refuses it and the page shows why
    fill(driver, "pw-repeat", "short1")
    driver.find_element(By.ID, "pw-btn").click()
    wait_for(driver, lambda d: "at least 10 characters" in visible_text(d, "password-error"),
             message="the hub's refusal shown")
    assert screen(driver) == "password"

    fill(driver, "pw-new", NEW_PASSWORD)
    fill(driver, "pw-repeat", NEW_PASSWORD)
    driver.find_element(By.ID, "pw-btn").click()
    wait_screen(driver, "app")
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-app").get_attribute("data-state") in ("ready", "error"),
             message="first page loaded")


def open_page(driver, route: str) -> str:
    """Go to ``#/route`` and wait until the page has loaded it; returns 'ready' or 'error'."""
    driver.execute_script("location.hash = arguments[0]", route)

    def loaded(d):
        app = d.find_element(By.ID, "screen-app")
        return (app.get_attribute("data-route") == route
                and app.get_attribute("data-state") in ("ready", "error")) and app.get_attribute("data-state")

    return wait_for(driver, loaded, message=f"page {route}")


def rows(driver, table_id: str) -> dict[str, str]:
    """Text of each body row of a table, by its data-employee / data-unit / data-device / data-date."""
    out = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"):
        key = next((tr.get_attribute(f"data-{k}") for k in ("employee", "unit", "device", "date")
                    if tr.get_attribute(f"data-{k}") is not None), None)
        if key is not None:
            out[key] = out.get(key, "") + ("\n" if key in out else "") + tr.text
    return out


def page_error(driver) -> tuple[str | None, str]:
    box = driver.find_element(By.ID, "page-error")
    return (box.get_attribute("data-status"), box.text) if box.is_displayed() else (None, "")


def assert_painted(driver, path) -> None:
    """The screenshot is a drawn page, not a blank or near-blank one, and shows no error box."""
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 800, pixels.shape
    assert pixels.std() > 15, f"{path.name}: looks blank (spread {pixels.std():.1f})"
    distinct = np.unique(pixels.reshape(-1, 3)[::3], axis=0)
    assert len(distinct) > 40, f"{path.name}: only {len(distinct)} colours"


def assert_chart_colours(driver, path, *colours: tuple[int, int, int]) -> None:
    """The chart (a screenshot of it alone) has bars of each of ``colours``."""
    png = driver.find_element(By.ID, "today-chart").screenshot_as_png
    path.write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    for colour in colours:
        close = np.abs(pixels - np.array(colour)).sum(axis=2) <= 12
        assert close.sum() > 200, f"{path.name}: no bar of colour {colour}"


def csv_of(driver, link_id: str) -> tuple[str, str]:
    """Fetch a CSV download link's target with the page's session cookie: (href, text)."""
    href = driver.find_element(By.ID, link_id).get_attribute("href")
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text().then(t => done(r.status + '\\n' + t)));", href)
    return href, text


GREEN, AMBER, RED = (46, 125, 50), (249, 168, 37), (198, 40, 40)  # present, late, absent in the chart


# ---- the tests ------------------------------------------------------------------------------

def test_admin_first_login_then_every_page(hub, browser_factory, tmp_path):  # noqa: F811
    served, one_time = hub
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "root", one_time["root"])
    assert "root (admin)" in driver.find_element(By.ID, "who").text
    nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()]
    assert nav == ["Today", "Devices", "Exceptions", "Daily register", "Muster roll", "Payroll days", "History",
                   "Leave and holidays", "Shifts and rosters", "Regularisation",
                   "Organisation", "Staff", "Import", "Enrol photos", "Users", "Audit log"]

    # today, per unit, with its chart
    assert open_page(driver, "#/today") == "ready"
    assert driver.find_element(By.ID, "today-day").text == "2026-04-07"  # the hub's day, not the browser's
    units = rows(driver, "today-table")
    assert set(units) == {"PHC-1", "PHC-2", "SCH-1", "*"}
    # columns: unit, employees, present, regularised, late, half day, absent, not yet, off day, on leave, not employed,
    # missing, left early, off-site, flagged
    assert units["PHC-1"].endswith("2 1 0 0 0 1 0 0 0 0 1 0 0 0")
    assert units["PHC-2"].endswith("1 0 0 1 0 0 0 0 0 0 0 0 0 0")
    assert units["SCH-1"].endswith("2 1 0 0 0 1 0 0 0 0 1 0 1 0")
    bars = driver.find_elements(By.CSS_SELECTOR, "#today-chart svg rect[data-status]")
    assert sorted(b.get_attribute("data-status") for b in bars) == [
        "absent", "absent", "late", "present", "present"]
    assert "5 employees" in driver.find_element(By.ID, "today-totals").text
    assert_painted(driver, tmp_path / "today.png")
    assert_chart_colours(driver, tmp_path / "today-chart.png", GREEN, AMBER, RED)

    # devices, through the menu
    driver.find_element(By.CSS_SELECTOR, '#nav a[data-page="devices"]').click()
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-app").get_attribute("data-page") == "devices"
             and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="devices")
    devices = rows(driver, "devices-table")
    assert set(devices) == {"kiosk-1", "kiosk-2", "kiosk-3"}
    states = {tr.get_attribute("data-device"): tr.get_attribute("data-state")
              for tr in driver.find_elements(By.CSS_SELECTOR, "#devices-table tbody tr")}
    assert states == {"kiosk-1": "online", "kiosk-2": "offline", "kiosk-3": "never seen"}
    assert "S-PHC1" in devices["kiosk-1"] and "behind" in devices["kiosk-1"]  # it never confirmed a gallery
    assert "30 s ago" in devices["kiosk-1"] and "+2.0 s" in devices["kiosk-1"] and "51.3" in devices["kiosk-1"]
    assert "+400.0 s" in devices["kiosk-2"]
    assert "storage_error" in devices["kiosk-1"] and "disk full writing the outbox" in devices["kiosk-1"]
    assert "1 with alarms" in driver.find_element(By.ID, "devices-summary").text
    assert "camera_stopped" in devices["kiosk-1"] and "restart_camera ×1, cured" in devices["kiosk-1"]
    assert not any("heal:" in row for row in devices.values())     # its own column, not under "other"
    assert driver.find_elements(By.CSS_SELECTOR, '#devices-table tr[data-device="kiosk-2"] .badge-bad')  # off clock
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#devices-table thead th")]
    assert {"Device", "State", "Self-healed", "Last seen", "Clock skew", "Gallery", "CPU °C", "Backlog"} <= set(headers)
    assert "3 devices" in driver.find_element(By.ID, "devices-summary").text
    progress = driver.find_element(By.ID, "devices-rollout").text   # the latest rollout, ring by ring
    assert "Software 0.2.0:" in progress and "running" in progress, progress
    assert "ring 1: " in progress and "1 of 1 updated, 0 failed" in progress, progress
    assert "1 worse than before" in progress, progress   # kiosk-2's ring
    assert "Update" in headers   # each kiosk's state in the rollout, and why
    assert "worse on it" in devices["kiosk-2"] and "camera 9.8 -> 2.1 fps" in devices["kiosk-2"], devices
    assert "updated" in devices["kiosk-1"] and "waiting for its ring" in devices["kiosk-3"], devices
    assert_painted(driver, tmp_path / "devices.png")

    # exceptions of the day, with the late flag, and the CSV behind the link
    assert open_page(driver, "#/exceptions?from=2026-04-07&to=2026-04-07") == "ready"
    table = driver.find_element(By.ID, "exc-table")
    kinds = sorted((tr.get_attribute("data-employee"), tr.get_attribute("data-kind"))
                   for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"))
    assert kinds == [("E001", "off_site"), ("E002", "missing"), ("H002", "late"), ("H003", "missing")]
    late = rows(driver, "exc-table")["H002"]
    assert "Person H002" in late and "Late" in late and "in 10:30" in late
    href, text = csv_of(driver, "exc-csv")
    assert href.endswith("/api/v1/reports/exceptions?from=2026-04-07&to=2026-04-07&format=csv")
    assert text.startswith("200\n") and "H002" in text and "late" in text
    assert_painted(driver, tmp_path / "exceptions.png")

    # daily register, then another unit chosen in the form
    assert open_page(driver, "#/daily?unit_id=HEALTH&date=2026-04-07") == "ready"
    register = rows(driver, "daily-table")
    assert set(register) == {"H001", "H002", "H003"}
    assert "Person H001" in register["H001"] and "Present" in register["H001"] and "09:40" in register["H001"]
    assert "Late" in register["H002"] and "10:30" in register["H002"] and "17:50" in register["H002"]
    # an employee name made of HTML is shown as text, never run
    assert HTML_NAME in register["H003"] and "Absent" in register["H003"]
    assert driver.find_elements(By.CSS_SELECTOR, "#daily-table img") == []
    assert driver.execute_script("return document.body.dataset.pwned") is None
    href, text = csv_of(driver, "daily-csv")
    assert "format=csv" in href and text.startswith("200\n") and "Person H002" in text
    assert_painted(driver, tmp_path / "daily.png")
    Select(driver.find_element(By.ID, "daily-unit")).select_by_value("PHC-2")
    driver.find_element(By.CSS_SELECTOR, "#form-daily button[type=submit]").click()
    wait_for(driver, lambda d: "unit_id=PHC-2" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="PHC-2")
    assert set(rows(driver, "daily-table")) == {"H002"}

    # muster roll and payroll days
    assert open_page(driver, "#/muster?unit_id=HEALTH&month=2026-04") == "ready"
    muster = rows(driver, "muster-table")
    assert set(muster) == {"H001", "H002", "H003"}
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#muster-table thead th")]
    assert headers[2:4] == ["1", "2"] and len(headers) == 2 + 30 + 7  # totals: WD P L HD A, other days, present
    assert headers[-2] == "Other days"
    other = driver.find_element(By.CSS_SELECTOR, '#muster-table tr[data-employee="H001"] td:nth-last-child(2)').text
    assert "WO 4" in other  # the four Sundays of April, among the days beyond P, L, HD and A
    others = [driver.find_element(By.CSS_SELECTOR, f'#muster-table tr[data-employee="{k}"] td:nth-last-child(2)').text
              for k in muster]
    assert not any("_" in o for o in others), others   # exception counts in words, never as raw keys
    day7 = {k: driver.find_element(By.CSS_SELECTOR, f'#muster-table tr[data-employee="{k}"] td:nth-child(9)').text
            for k in muster}
    assert day7 == {"H001": "P", "H002": "L", "H003": "A"}
    assert_painted(driver, tmp_path / "muster.png")
    assert open_page(driver, "#/payroll?ddo_id=DDO-E&month=2026-04") == "ready"
    payroll = rows(driver, "payroll-table")
    assert set(payroll) == {"E001", "E002"}
    assert payroll["E001"].split()[-1] == "1"  # present days
    href, text = csv_of(driver, "payroll-csv")
    assert text.startswith("200\n") and "E001" in text
    assert_painted(driver, tmp_path / "payroll.png")

    # any employee's history (admins see everyone)
    assert open_page(driver, "#/history?employee_id=E001&from=2026-04-06&to=2026-04-07") == "ready"
    history = rows(driver, "history-table")
    assert set(history) == {"2026-04-06", "2026-04-07"}
    assert "vaccination camp" in history["2026-04-07"] and "Off-site" in history["2026-04-07"]

    driver.find_element(By.ID, "logout").click()
    wait_screen(driver, "login")
    assert "logged out" in driver.find_element(By.ID, "notice").text
    # the session is over at the hub too: a bookmarked report opens on the login form
    driver.get(served.url + "/dashboard/#/daily?unit_id=HEALTH&date=2026-04-07")
    wait_screen(driver, "login")
    assert not driver.find_element(By.ID, "screen-app").is_displayed()


def test_a_unit_officer_sees_only_their_units_and_a_clean_403_elsewhere(hub, browser_factory, tmp_path):  # noqa: F811
    served, one_time = hub
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "officer", one_time["officer"])
    nav = [a.get_attribute("data-page") for a in driver.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()]
    assert "devices" not in nav and "today" in nav

    assert open_page(driver, "#/today") == "ready"
    assert set(rows(driver, "today-table")) == {"PHC-1", "PHC-2", "*"}  # not the school
    assert "3 employees" in driver.find_element(By.ID, "today-totals").text
    assert_painted(driver, tmp_path / "officer-today.png")
    assert_chart_colours(driver, tmp_path / "officer-chart.png", GREEN, AMBER, RED)

    assert open_page(driver, "#/exceptions?from=2026-04-07&to=2026-04-07") == "ready"
    choices = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#exc-unit option")]
    assert choices == ["", "HEALTH", "PHC-1", "PHC-2"]
    assert set(rows(driver, "exc-table")) == {"H002", "H003"}

    assert open_page(driver, "#/daily?unit_id=HEALTH&date=2026-04-07") == "ready"
    assert set(rows(driver, "daily-table")) == {"H001", "H002", "H003"}

    # another department's register: the API's 403, said in words, and no rows left on screen
    assert open_page(driver, "#/daily?unit_id=EDU&date=2026-04-07") == "error"
    status, text = page_error(driver)
    assert status == "403" and text.startswith("Not allowed") and "EDU" in text
    assert driver.find_elements(By.CSS_SELECTOR, "#daily-table tr") == []
    assert not driver.find_element(By.ID, "daily-csv").is_displayed()
    assert_painted(driver, tmp_path / "officer-403.png")

    assert open_page(driver, "#/devices") == "error"  # admins only
    assert page_error(driver)[0] == "403"
    assert open_page(driver, "#/payroll?ddo_id=DDO-E&month=2026-04") == "ready"
    assert rows(driver, "payroll-table") == {}  # nobody under that DDO in the officer's units

    # and back to an allowed page: the error goes away
    assert open_page(driver, "#/muster?unit_id=PHC-1&month=2026-04") == "ready"
    assert page_error(driver) == (None, "")
    assert set(rows(driver, "muster-table")) == {"H001", "H003"}


def test_an_employee_sees_only_their_own_history(hub, browser_factory, tmp_path):  # noqa: F811
    served, one_time = hub
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "e001", one_time["e001"])
    nav = [a.get_attribute("data-page") for a in driver.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()]
    assert nav == ["history"]
    assert driver.find_element(By.ID, "screen-app").get_attribute("data-page") == "history"
    history = rows(driver, "history-table")
    assert len(history) == 30 and "2026-04-07" in history  # the last 30 days of the hub's clock
    assert "Present" in history["2026-04-07"] and "vaccination camp" in history["2026-04-07"]
    field = driver.find_element(By.ID, "history-employee")
    assert field.get_attribute("value") == "E001" and field.get_attribute("readonly") is not None
    assert_painted(driver, tmp_path / "employee-history.png")

    # asking for someone else still shows their own record
    assert open_page(driver, "#/history?employee_id=E002&from=2026-04-07&to=2026-04-07") == "ready"
    assert set(rows(driver, "history-table")) == {"2026-04-07"}
    assert "E001" in driver.find_element(By.ID, "history-summary").text
    href, text = csv_of(driver, "history-csv")
    assert "/employees/E001/history" in href and text.startswith("200\n")

    # unit reports: a clean 403
    assert open_page(driver, "#/daily?unit_id=SCH-1&date=2026-04-07") == "error"
    status, text = page_error(driver)
    assert status == "403" and text.startswith("Not allowed")
    assert re.search(r"Something went wrong|Traceback", driver.find_element(By.TAG_NAME, "body").text) is None
