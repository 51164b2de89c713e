"""The admin API with the machine token (FastAPI TestClient on a SQLite file): devices, sites, punches,
rejections, health. Users, roles and sessions: test_hub_accounts.py and test_hub_access.py."""

import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from hub.api import create_app
from hub.api.deps import route_policies
from hub.config import HubConfig
from hub.db import make_engine, make_session_factory
from hub.ingest.intake import DeviceRecord, check_punch
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import signing, topics
from protocol.settings import ConfigError
from tests.hub_db import sqlite_engine
from tests.punchkit import IST, signed_punch, to_payload

KEY = signing.generate_private_key()
PUBLIC = signing.public_key_b64(KEY)


@pytest.fixture
def setup(tmp_path):
    token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token + "\n")
    config = HubConfig(admin_token_file=tmp_path / "admin.token", database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
    engine = sqlite_engine(tmp_path)
    app = create_app(config, engine)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client, engine
    engine.dispose()


@pytest.fixture
def api(setup):
    return setup[0]


def store(engine, *payloads: bytes, device=DeviceRecord("kiosk-01", "site-a", PUBLIC)):
    topic = topics.device_topic(device.device_id, topics.PUNCH)
    with make_session_factory(engine)() as session:
        decisions = [(ReceivedMessage(topic, p, datetime.now(timezone.utc)),
                      check_punch(topic, p, max_bytes=4096, device_lookup={device.device_id: device}.get,
                                  is_allowed=lambda e, s: True)) for p in payloads]
        store_decisions(session, decisions, max_payload_bytes=4096)
        session.commit()


def test_every_api_route_refuses_a_missing_or_wrong_token(setup):
    api, _ = setup
    # a kiosk's own downloads (/api/v1/device/...) take no bearer token at all: tests/test_hub_rollout.py
    routes = [(path, method) for method, path, roles in route_policies(api.app)
              if "public" not in roles and not path.startswith("/api/v1/device/")]
    assert len(routes) >= 30
    wrong = ({"Authorization": ""}, {"Authorization": "Bearer wrong-token-123456"},
             {"Authorization": "Basic " + api.headers["Authorization"].split()[1]})
    for path, method in routes:
        for headers in wrong:
            response = api.request(method, re.sub(r"\{\w+\}", "x", path), headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


def test_healthz_needs_no_token_and_reports_the_database(api):
    assert api.get("/healthz", headers={"Authorization": ""}).json() == {"status": "ok", "db": "ok"}


def test_healthz_is_503_when_the_database_fails(tmp_path):
    token_file = tmp_path / "admin.token"
    token_file.write_text(secrets.token_urlsafe(32))

    # a database path in a folder that does not exist: every connection fails
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'hub.sqlite'}")
    app = create_app(HubConfig(admin_token_file=token_file), engine)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "error", "db": "error"}


def test_placeholder_admin_token_stops_start_up(tmp_path):
    (tmp_path / "admin.token").write_text("changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        create_app(HubConfig(admin_token_file=tmp_path / "admin.token"), sqlite_engine(tmp_path))


def test_sites_and_devices_lifecycle(api):
    assert api.post("/api/v1/sites", json={"site_id": "site-a", "name": "Office A"}).status_code == 201
    assert api.post("/api/v1/sites", json={"site_id": "site-a", "name": "Office A"}).status_code == 200
    assert api.post("/api/v1/sites", json={"site_id": "site-a", "name": "Renamed"}).status_code == 409
    assert api.post("/api/v1/sites", json={"site_id": "", "name": "x"}).status_code == 422
    sites = api.get("/api/v1/sites").json()["items"]
    assert [(s["site_id"], s["name"], s["gallery_version"], s["phone_policy"]) for s in sites] == [
        ("site-a", "Office A", 0, "never")]

    body = {"device_id": "kiosk-01", "site_id": "site-a", "public_key": PUBLIC}
    created = api.post("/api/v1/devices", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["public_key"] == PUBLIC and created.json()["retired_at"] is None
    assert api.post("/api/v1/devices", json=body).status_code == 200  # same again: no-op
    other_key = signing.public_key_b64(signing.generate_private_key())
    conflict = api.post("/api/v1/devices", json={**body, "public_key": other_key})
    assert conflict.status_code == 409 and "retire it first" in conflict.json()["detail"]
    assert api.post("/api/v1/devices", json={**body, "site_id": "nowhere"}).status_code == 404
    assert api.post("/api/v1/devices", json={**body, "public_key": "bm90IGEga2V5"}).status_code == 422
    assert api.post("/api/v1/devices", json={**body, "device_id": "bad/id"}).status_code == 422
    assert api.post("/api/v1/devices", json={**body, "extra": 1}).status_code == 422

    retired = api.post("/api/v1/devices/kiosk-01/retire")
    assert retired.status_code == 200 and retired.json()["retired_at"] is not None
    assert api.post("/api/v1/devices/kiosk-99/retire").status_code == 404
    again = api.post("/api/v1/devices", json={**body, "public_key": other_key})  # replaced kiosk
    assert again.status_code == 201 and again.json()["retired_at"] is None
    listed = api.get("/api/v1/devices").json()["items"]
    assert [(d["public_key"], d["gallery_behind"], d["site_gallery_version"]) for d in listed] == [
        (other_key, True, 0)]  # never confirmed a gallery


def test_punches_newest_first_with_filters_and_local_time(setup):
    api, engine = setup
    base = datetime(2026, 11, 22, 9, 0, tzinfo=IST)
    made = [signed_punch(KEY, "kiosk-01", "site-a", e, ts=(base + timedelta(minutes=i)).isoformat())
            for i, e in enumerate(["E1", "E2", "E1"])]
    store(engine, *(to_payload(p) for p in made))

    items = api.get("/api/v1/punches").json()["items"]
    assert [p["id"] for p in items] == [p["id"] for p in made[::-1]]
    assert items[-1]["ts"] == "2026-11-22T09:00:00+05:30"
    assert items[-1]["device_id"] == "kiosk-01" and items[-1]["site_id"] == "site-a"
    assert [p["employee_id"] for p in api.get("/api/v1/punches", params={"employee_id": "E1"}).json()["items"]] == [
        "E1", "E1"]
    assert len(api.get("/api/v1/punches", params={"limit": 1}).json()["items"]) == 1
    assert api.get("/api/v1/punches", params={"limit": 1001}).status_code == 422
    assert api.get("/api/v1/punches", params={"limit": 0}).status_code == 422
    since = {"since": "2026-11-22T03:31:00Z"}  # 09:01 IST
    assert [p["employee_id"] for p in api.get("/api/v1/punches", params=since).json()["items"]] == ["E1", "E2"]
    assert api.get("/api/v1/punches/count").json() == {"count": 3}
    assert api.get("/api/v1/punches/count", params={"device_id": "kiosk-01", "employee_id": "E2"}).json() == {
        "count": 1}
    assert api.get("/api/v1/punches/count", params={"since": "2026-11-22T03:31:00"}).json() == {"count": 2}


def test_rejected_messages_are_listed_for_audit(setup):
    api, engine = setup
    forged = signed_punch(signing.generate_private_key(), "kiosk-01", "site-a", "E1")
    store(engine, to_payload(forged), b"garbage")
    items = api.get("/api/v1/rejected").json()["items"]
    assert [(r["punch_id"], r["reason"][:13]) for r in items] == [(None, "not JSON: Exp"), (forged["id"], "bad signature")]
    assert items[0]["payload_b64"] == "Z2FyYmFnZQ==" and items[0]["device_id"] == "kiosk-01"
    assert len(api.get("/api/v1/rejected", params={"limit": 1}).json()["items"]) == 1
