"""Browsers get friendly HTML error pages (in their language, linking to the dashboard); the API
and scripts keep JSON errors; the hub's bare address leads to the dashboard."""

import pytest
from fastapi.testclient import TestClient

from tests.hub_api_kit import HubApi
from tests.hub_db import sqlite_engine

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(tmp_path):
    api = HubApi(tmp_path, sqlite_engine(tmp_path))

    @api.app.get("/dashboard-test-boom", include_in_schema=False)
    def boom() -> None:  # a bug anywhere in a page route
        raise RuntimeError("secret detail that must not reach the page")

    @api.app.get("/api/v1/test-boom", include_in_schema=False)
    def api_boom() -> None:
        raise RuntimeError("secret detail that must not reach the answer")

    with TestClient(api.app, raise_server_exceptions=False) as client:
        yield client
    api.close()


def test_the_bare_address_leads_to_the_dashboard(client):
    response = client.get("/", headers=BROWSER, follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/dashboard/"
    assert client.get("/", headers=BROWSER).text.count('id="screen-login"') == 1


@pytest.mark.parametrize("path", ["/dashboard/nothing-here", "/dashboard/pages/../../hub.yaml", "/nowhere",
                                  "/dashboard/%3Cscript%3Ealert(1)%3C%2Fscript%3E"])
def test_unknown_browser_paths_get_a_friendly_page_without_echoing_the_path(client, path):
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text and 'href="/dashboard/"' in response.text
    assert "<script" not in response.text.lower() and "nothing-here" not in response.text
    assert "script-src 'none'" in response.headers["content-security-policy"]


def test_the_page_speaks_hindi_when_the_browser_asks(client):
    response = client.get("/dashboard/nothing", headers={**BROWSER, "Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"})
    assert response.status_code == 404 and "पेज नहीं मिला" in response.text and 'lang="hi"' in response.text


@pytest.mark.parametrize(("path", "headers"), [
    ("/api/v1/nothing", BROWSER),            # an API path, even from a browser
    ("/dashboard/nothing", {"Accept": "application/json"}),  # a script
    ("/nowhere", {}),
])
def test_the_api_and_scripts_keep_json_errors(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 404 and response.json()["detail"]


def test_an_unexpected_error_is_a_friendly_page_for_browsers_and_json_for_the_api(client):
    page = client.get("/dashboard-test-boom", headers=BROWSER)
    assert page.status_code == 500 and "Something went wrong" in page.text and "secret" not in page.text
    answer = client.get("/api/v1/test-boom", headers=BROWSER)
    assert answer.status_code == 500 and "secret" not in answer.text and answer.json()["detail"]
