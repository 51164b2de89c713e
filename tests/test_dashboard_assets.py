"""The dashboard's files: every script module the page imports is served, nothing else is, and every
message key the scripts use is in the catalogue (so no page shows a raw key).

No browser: the module graph is read from the files themselves, the way the browser follows it.
"""

import json
import re
from pathlib import Path

import pytest

from hub.api.routes.dashboard import ASSETS, STATIC, dashboard_assets
from tests.hub_api_kit import HubApi
from tests.hub_db import sqlite_engine

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*?\s+from\s+)?["\'](\./|\.\./)([^"\']+)["\'];', re.M)
KEY = re.compile(r'["\'`]((?:dashboard|common)\.[a-z0-9_]+(?:\.[a-z0-9_]+)+)["\'`]')


def module_graph(entry: str = "app.js") -> set[str]:
    """Every dashboard-relative path reachable by ``import`` from ``entry``."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (STATIC / name).read_text(encoding="utf-8")
        for prefix, target in IMPORT.findall(text):
            resolved = (STATIC / name).parent.joinpath(prefix + target).resolve().relative_to(STATIC.resolve())
            todo.append(resolved.as_posix())
    return seen


@pytest.fixture
def client(tmp_path):
    api = HubApi(tmp_path, sqlite_engine(tmp_path))
    yield api.client()
    api.close()


def test_every_module_the_page_imports_is_whitelisted_and_served_as_javascript(client):
    graph = module_graph()
    assert {"app.js", "lib/api.js", "lib/router.js", "pages/index.js", "pages/today.js"} <= graph
    for name in sorted(graph):
        assert name in ASSETS, name
        response = client.get(f"/dashboard/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript"), name
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page = client.get("/dashboard/")
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
        assert client.get(ref if ref.startswith("/") else f"/dashboard/{ref}").status_code == 200, ref


@pytest.mark.parametrize("path", [
    "/dashboard/../hub.yaml", "/dashboard/..%2F..%2Fapi%2Froutes%2Fdashboard.py", "/dashboard/lib/..%2F..%2Fdb.py",
    "/dashboard/%2Fetc%2Fpasswd", "/dashboard/pages/nothing.js", "/dashboard/lib", "/dashboard/index.html.bak",
    "/dashboard/lib/%2e%2e/%2e%2e/config.py", "/dashboard//etc/passwd",
])
def test_nothing_outside_the_list_is_served(client, path):
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert "import " not in response.text and "def " not in response.text


def test_the_list_holds_only_the_dashboards_own_files(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.js").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "index.html").write_text("x")
    assert dashboard_assets(tmp_path) == {"lib/a.js": "text/javascript; charset=utf-8"}
    assert all(not name.startswith(("/", "..")) and ".." not in name.split("/") for name in ASSETS)


def test_every_message_key_the_dashboard_uses_is_in_the_catalogue():
    english = json.loads((ROOT / "i18n" / "catalogues" / "en.json").read_text(encoding="utf-8"))
    used: set[str] = set()
    for path in [*STATIC.rglob("*.js"), STATIC / "index.html"]:
        used |= set(KEY.findall(path.read_text(encoding="utf-8")))
    used |= {k for k in re.findall(r'data-i18n="([^"]+)"', (STATIC / "index.html").read_text(encoding="utf-8"))}
    assert len(used) > 100
    plural = {k for k in used if f"{k}.one" in english and f"{k}.many" in english}  # count(n, key)
    assert sorted(used - set(english) - plural) == []
