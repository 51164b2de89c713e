"""Notice and consent in headless Chromium (issue 20 part 4): the photo page shows the notice in English
and Hindi and keeps the upload off until consent is recorded; the person page shows the record and
withdraws it, which erases the person's templates. A real hub API (uvicorn, SQLite), real photos."""

import contextlib
import io
import uuid

import pytest
import yaml
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder
from hub.api import create_app
from hub.app import load, open_engine
from hub.cli import main as hub_cli
from hub.db import FaceTemplate, make_session_factory
from hub.enrolment.consent import NOTICE_VERSION
from hub.enrolment.models import ConsentRecord
from tests.browser import ServedApp, browser_factory, wait_for  # noqa: F401  (fixture)
from tests.hub_api_kit import seed_org
from tests.test_dashboard_browser import fill, log_in, open_page

pytestmark = [pytest.mark.browser, pytest.mark.faces]
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select


def cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hub_cli(list(args)) == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture
def console(tmp_path):
    (tmp_path / "admin.token").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "admin_token_file": str(tmp_path / "admin.token"),
        "auth": {"cookie_secure": False},
        "enrolment": {"photo_dir": str(tmp_path / "photos"), "photo_retention_days": 45}}))
    cli("init-db", "--config", str(config_file))
    one_time = cli("admin", "create", "root", "--config", str(config_file)).strip().splitlines()[-1]
    config = load(config_file)
    engine = open_engine(config)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_org(session)
    app = create_app(config, engine)
    app.state.encoder_factory = FaceEncoder
    with ServedApp(app) as served:
        yield served, sessions, one_time
    engine.dispose()


def notice(driver, box: str = "photos-consent") -> tuple[str, str] | None:
    """(lang, text) of the notice shown in ``box``, or None."""
    return driver.execute_script(
        "const n = document.getElementById(arguments[0]); return n ? [n.lang, n.innerText] : null", f"{box}-notice")


def consent_state(driver, box: str = "photos-consent") -> str | None:
    return driver.execute_script("const s = document.getElementById(arguments[0]); return s ? s.dataset.state : null",
                                 f"{box}-status")


def rows(sessions, model, *where) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_notice_in_english_and_hindi_then_consent_recorded_enrolment_and_withdrawal(
        console, browser_factory, faces_dir):  # noqa: F811
    served, sessions, one_time = console
    driver = browser_factory(window=(1280, 1000))
    log_in(driver, served, "root", one_time)
    assert open_page(driver, "#/photos?employee_id=H001") == "ready"
    lang, text = wait_for(driver, notice, message="the notice")
    assert lang == "en" and "What is kept" in text and "45 days" in text and NOTICE_VERSION in text
    assert "Digital Personal Data Protection Act, 2023" in text
    assert consent_state(driver) == "missing"
    assert driver.find_element(By.ID, "photos-send").get_attribute("disabled") is not None  # no upload before consent

    Select(driver.find_element(By.ID, "photos-consent-language")).select_by_value("hi")
    lang, text = wait_for(driver, lambda d: (n := notice(d)) and n[0] == "hi" and n, message="the Hindi notice")
    assert "क्या रखा जाता है" in text and "45 दिन" in text and "डिजिटल व्यक्तिगत डेटा संरक्षण अधिनियम" in text
    assert rows(sessions, ConsentRecord) == 0
    driver.find_element(By.ID, "photos-consent-record").click()
    wait_for(driver, lambda d: consent_state(d) == "given", message="consent on record")
    with sessions() as session:
        record = session.scalars(select(ConsentRecord)).one()
    assert (record.employee_id, record.language, record.channel, record.recorded_by, record.notice_version) == \
        ("H001", "hi", "dashboard", "root", NOTICE_VERSION)
    assert "root" in driver.find_element(By.ID, "photos-consent-status").text

    photo = sorted((faces_dir / "dev" / "Barack_Obama").glob("*.jpg"))[0]
    wait_for(driver, lambda d: d.find_element(By.ID, "photos-send").get_attribute("disabled") is None,
             message="the upload enabled")
    driver.find_element(By.ID, "photos-files").send_keys(str(photo))
    driver.find_element(By.ID, "photos-send").click()
    wait_for(driver, lambda d: d.execute_script(
        "const li = document.querySelector('#photos-results li'); return li && li.dataset.verdict"),
        timeout_s=180, message="the photo's verdict")
    assert rows(sessions, FaceTemplate, FaceTemplate.employee_id == "H001") == 1

    assert open_page(driver, "#/person?id=H001") == "ready"
    wait_for(driver, lambda d: consent_state(d, "person-consent") == "given", message="the person page's record")
    assert "root" in driver.find_element(By.ID, "person-consent-status").text
    driver.find_element(By.ID, "person-consent-withdraw").click()  # no reason: nothing sent
    assert driver.find_element(By.ID, "person-consent-reason").get_attribute("aria-invalid") == "true"
    assert rows(sessions, FaceTemplate) == 1
    fill(driver, "person-consent-reason", "letter R-9")
    driver.find_element(By.ID, "person-consent-withdraw").click()
    wait_for(driver, lambda d: consent_state(d, "person-consent") == "missing", message="consent withdrawn")
    assert "withdrawn" in driver.find_element(By.ID, "person-consent-status").text
    assert rows(sessions, FaceTemplate) == 0
    assert rows(sessions, ConsentRecord, ConsentRecord.withdrawn_at.is_not(None)) == 1
