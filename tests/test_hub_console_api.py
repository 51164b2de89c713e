"""The API the admin console's users, audit and device pages use: a refused user form names its
field and writes nothing; the audit log filters by who, what and when and pages back; refused
messages list per kiosk."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from hub.accounts.models import AuditEntry, User
from hub.db import RejectedMessage
from tests.hub_api_kit import HubApi, seed_org


@pytest.fixture
def api(tmp_path):
    from tests.hub_db import sqlite_engine

    engine = sqlite_engine(tmp_path)
    hub = HubApi(tmp_path, engine)
    with hub.sessions() as session:
        seed_org(session)
        session.commit()
    yield hub
    hub.close()
    engine.dispose()


def counts(hub: HubApi) -> tuple[int, int]:
    with hub.sessions() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "user.create")))


@pytest.mark.parametrize("body, status, field", [
    ({"username": "x", "role": "admin"}, 422, "username"),
    ({"username": "asha", "role": "boss"}, 422, "role"),
    ({"username": "asha", "role": "unit_officer"}, 422, "unit_ids"),
    ({"username": "asha", "role": "unit_officer", "unit_ids": ["NOPE"]}, 404, "unit_ids"),
    ({"username": "asha", "role": "admin", "unit_ids": ["PHC-1"]}, 422, "unit_ids"),
    ({"username": "asha", "role": "employee"}, 422, "employee_id"),
    ({"username": "asha", "role": "employee", "employee_id": "NOBODY"}, 404, "employee_id"),
    ({"username": "taken", "role": "admin"}, 409, "username"),
])
def test_a_refused_user_form_names_its_field_and_writes_nothing(api, body, status, field):
    api.add_user("taken", "admin")
    before = counts(api)
    response = api.machine.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and error["msg"]
    assert counts(api) == before


def test_the_audit_log_filters_by_who_what_and_when_and_pages_back(api):
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    with api.sessions() as session:
        for i, (actor, action) in enumerate([("asha", "user.create"), ("asha", "employee.update"),
                                             ("ravi", "user.update"), ("asha", "user.reset_password"),
                                             ("ravi", "device.command")]):
            session.add(AuditEntry(at=t0 + timedelta(hours=i), actor=actor, action=action, target=f"t:{i}"))
        session.commit()
    get = lambda **q: api.machine.get("/api/v1/audit", params=q)  # noqa: E731

    assert [e["action"] for e in get(actor="asha").json()["items"]] == [
        "user.reset_password", "employee.update", "user.create"]
    assert [e["target"] for e in get(action="user.*").json()["items"]] == ["t:3", "t:2", "t:0"]
    window = get(since=(t0 + timedelta(hours=1)).isoformat(), until=(t0 + timedelta(hours=3)).isoformat()).json()
    assert [e["target"] for e in window["items"]] == ["t:2", "t:1"]
    first = get(actor="asha", limit=2).json()
    assert [e["target"] for e in first["items"]] == ["t:3", "t:1"] and first["next_before_id"] is not None
    last = get(actor="asha", limit=2, before_id=first["next_before_id"]).json()
    assert [e["target"] for e in last["items"]] == ["t:0"] and last["next_before_id"] is None
    naive = get(since="2026-12-01T09:00:00")
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "since"]


def test_refused_messages_list_per_kiosk(api):
    with api.sessions() as session:
        for device_id in ("kiosk-1", "kiosk-2", "kiosk-1"):
            session.add(RejectedMessage(received_at=datetime.now(timezone.utc), topic=f"att/v1/dev/{device_id}/punch",
                                        device_id=device_id, punch_id=None, reason="bad signature", payload_size=2,
                                        payload=b"{}"))
        session.commit()
    items = api.machine.get("/api/v1/rejected", params={"device_id": "kiosk-1"}).json()["items"]
    assert [r["device_id"] for r in items] == ["kiosk-1", "kiosk-1"]
    assert len(api.machine.get("/api/v1/rejected").json()["items"]) == 3
