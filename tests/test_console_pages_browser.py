"""The admin console's device, users and audit pages in headless Chromium, against a real hub API
served by uvicorn on SQLite (no broker: commands stay queued, which the device page must say).

Every form is tried with bad input first: the hub's refusal is shown beside the field and
nothing is written.
"""

import contextlib
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import func, select

from hub.accounts.models import AuditEntry, User
from hub.api import create_app
from hub.app import load, open_engine
from hub.cli import main as hub_cli
from hub.db import DeviceHealthSample, RejectedMessage, make_session_factory
from hub.devices import registry
from hub.devices.models import DeviceCommand
from protocol import signing
from tests.browser import ServedApp, browser_factory, wait_for  # noqa: F401  (fixture)
from tests.hub_api_kit import seed_org
from tests.test_dashboard_browser import fill, log_in, open_page

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
WINDOW = (1280, 1000)


def cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hub_cli(list(args)) == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture
def console(tmp_path):
    """(served app, session factory, root's one-time password): org, one kiosk with a day of health."""
    (tmp_path / "admin.token").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "admin_token_file": str(tmp_path / "admin.token"),
        "auth": {"cookie_secure": False}, "enrolment": {"photo_dir": str(tmp_path / "photos")}}))
    cli("init-db", "--config", str(config_file))
    one_time = cli("admin", "create", "root", "--config", str(config_file)).strip().splitlines()[-1]
    config = load(config_file)
    engine = open_engine(config)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_org(session)
        registry.register_device(session, "kiosk-1", "S-PHC1", signing.public_key_b64(signing.generate_private_key()))
        session.flush()
        for minutes in range(0, 600, 10):
            at = NOW - timedelta(minutes=minutes)
            session.add(DeviceHealthSample(device_id="kiosk-1", received_at=at, device_ts=at, clock_skew_s=1.5,
                                           uptime_s=60.0 * minutes, cpu_temp_c=50 + minutes / 60, outbox_depth=minutes % 7,
                                           camera_fps=9.5, gallery_version=1, sw_version="0.1.0"))
        session.add(RejectedMessage(received_at=NOW - timedelta(hours=1), topic="att/v1/dev/kiosk-1/punch",
                                    device_id="kiosk-1", punch_id=None, reason="bad signature", payload_size=2,
                                    payload=b"{}"))
        for i in range(60):  # enough for two pages of the audit log
            session.add(AuditEntry(at=NOW - timedelta(days=2, minutes=i), actor="ravi", action="employee.update",
                                   target=f"employee:E{i:03d}"))
    app = create_app(config, engine)
    app.state.clock = lambda: NOW
    with ServedApp(app) as served:
        yield served, sessions, one_time
    engine.dispose()


def count(sessions, model, *where) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def field_error(driver, form_id: str, name: str) -> str:
    box = driver.find_element(By.ID, f"{form_id}-{name}-error")
    return box.text if box.is_displayed() else ""


def row_of(driver, css: str) -> tuple[str, str] | None:
    """(data-state, text) of the row, read in one go (the device page redraws its table while it polls)."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]); return r ? [r.dataset.state, r.innerText] : null", css)


def attr(driver, css: str, name: str) -> str | None:
    """An attribute of the first element matching ``css``, read in the page (no stale element between find and read)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null",
                                 css, name)


def text_of(driver, css: str) -> str:
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def ready(driver) -> bool:
    return driver.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready"


def test_device_page_charts_commands_and_refused_messages(console, browser_factory):  # noqa: F811
    served, sessions, one_time = console
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "root", one_time)
    assert open_page(driver, "#/devices") == "ready"
    driver.find_element(By.CSS_SELECTOR, '#devices-table tr[data-device="kiosk-1"] a').click()
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-app").get_attribute("data-page") == "device" and ready(d),
             message="the device page")
    charts = {f.get_attribute("data-series"): int(f.get_attribute("data-points"))
              for f in driver.find_elements(By.CSS_SELECTOR, "#device-charts figure")}
    assert charts == {"cpu_temp_c": 40, "outbox_depth": 40, "clock_skew_s": 40, "camera_fps": 40}  # 10 h of 15 min
    assert driver.find_elements(By.CSS_SELECTOR, "#device-charts polyline")
    assert "bad signature" in driver.find_element(By.ID, "device-rejected").text

    driver.find_element(By.ID, "device-window-week").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "device-charts").get_attribute("data-window") == "week"
             and ready(d), message="the week's charts")
    assert {int(f.get_attribute("data-points")) for f in driver.find_elements(By.CSS_SELECTOR, "#device-charts figure")} == {10}

    fill(driver, "device-enrol-employee_id", "NOBODY")  # bad input: beside the field, nothing written
    driver.find_element(By.CSS_SELECTOR, "#device-enrol button[type=submit]").click()
    wait_for(driver, lambda d: "unknown employee" in field_error(d, "device-enrol", "employee_id"), message="refusal")
    assert count(sessions, DeviceCommand) == 0

    driver.find_element(By.ID, "device-cmd-resync").click()   # no broker here: it waits, and says so
    state, text = wait_for(driver, lambda d: row_of(d, '#device-commands tr[data-name="resync"]'),
                           message="the queued command")
    assert state == "queued" and "queued until the kiosk is online" in text
    assert "root" in text and count(sessions, DeviceCommand) == 1
    assert count(sessions, AuditEntry, AuditEntry.action == "device.command") == 1


def test_users_page_creates_locks_unlocks_and_resets_with_one_time_passwords(console, browser_factory):  # noqa: F811
    served, sessions, one_time = console
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "root", one_time)
    assert open_page(driver, "#/users") == "ready"
    users_before = count(sessions, User)

    fill(driver, "user-form-username", "asha")  # a unit officer without units: refused beside that field
    Select(driver.find_element(By.ID, "user-form-role")).select_by_value("unit_officer")
    driver.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    wait_for(driver, lambda d: "at least one org unit" in field_error(d, "user-form", "unit_ids"), message="refusal")
    assert field_error(driver, "user-form", "username") == "" and count(sessions, User) == users_before

    fill(driver, "user-form-username", "x")  # a bad user name: beside the user name
    driver.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    wait_for(driver, lambda d: "3-64" in field_error(d, "user-form", "username"), message="user name refusal")
    assert count(sessions, User) == users_before

    fill(driver, "user-form-username", "asha")
    Select(driver.find_element(By.ID, "user-form-role")).select_by_value("unit_officer")
    Select(driver.find_element(By.ID, "user-form-unit_ids")).select_by_value("PHC-1")
    driver.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    asha = '#users-table tr[data-user="asha"]'
    wait_for(driver, lambda d: attr(d, asha, "data-active") == "true", message="the new user's row")
    first = text_of(driver, "#user-one-time")
    assert first and "PHC-1" in text_of(driver, asha) and "must change" in text_of(driver, asha)

    driver.find_element(By.CSS_SELECTOR, f'{asha} button[data-action="lock"]').click()
    wait_for(driver, lambda d: attr(d, asha, "data-active") == "false", message="locked")
    driver.find_element(By.CSS_SELECTOR, f'{asha} button[data-action="unlock"]').click()
    wait_for(driver, lambda d: attr(d, asha, "data-active") == "true", message="unlocked")

    driver.find_element(By.CSS_SELECTOR, f'{asha} button[data-action="reset"]').click()
    driver.switch_to.alert.accept()
    second = wait_for(driver, lambda d: (t := text_of(d, "#user-one-time")) != first and t,
                      message="a new one-time password")
    with sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.target == "user:asha")
                                                      .order_by(AuditEntry.id))]
    assert actions == ["user.create", "user.update", "user.update", "user.reset_password"]
    assert second and first != second


def test_audit_page_filters_by_who_what_when_and_pages_back(console, browser_factory):  # noqa: F811
    served, sessions, one_time = console
    driver = browser_factory(window=WINDOW)
    log_in(driver, served, "root", one_time)
    assert open_page(driver, "#/audit?actor=ravi") == "ready"
    table = driver.find_element(By.ID, "audit-table")
    actors = {tr.get_attribute("data-actor") for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert actors == {"ravi"} and len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 50
    driver.find_element(By.CSS_SELECTOR, "#audit-pager .pager-next").click()
    wait_for(driver, lambda d: "before_id=" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and ready(d), message="the older page")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) == 10
    assert not driver.find_element(By.CSS_SELECTOR, "#audit-pager .pager-next").is_enabled()

    assert open_page(driver, "#/audit?action=auth.*") == "ready"   # root's own login, through the filter
    assert {tr.get_attribute("data-action") for tr in driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")} \
        == {"auth.login"}

    assert open_page(driver, "#/audit") == "ready"
    for name, day in (("from", "2026-12-03"), ("to", "2026-12-01")):   # bad input: an end before the start
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, f"audit-form-{name}"), day)
    driver.find_element(By.CSS_SELECTOR, "#audit-form button[type=submit]").click()
    wait_for(driver, lambda d: "after the start" in field_error(d, "audit-form", "to"), message="the refusal")
