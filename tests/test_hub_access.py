"""Who may call what: driven by the app's route table, so a new endpoint is covered the day it is added.

Every route must declare a role policy (hub/api/deps.py). For each route,
each role outside its policy gets 403, an anonymous caller 401 (unless the
route is public), and a user who has not yet replaced their one-time
password 403 (except on password change, logout and "me"). Then the data
scoping: a unit officer sees only their units' employees, an employee only
their own record and punches.
"""

import re
from datetime import datetime, timezone

import pytest

from hub.accounts.principal import ADMIN, EMPLOYEE, UNIT_OFFICER
from hub.api.deps import PUBLIC, route_policies
from hub.ingest.intake import DeviceRecord, check_punch
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import signing, topics
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.punchkit import signed_punch, to_payload

KEY = signing.generate_private_key()
DEVICE = DeviceRecord("kiosk-01", "S-PHC1", signing.public_key_b64(KEY))
ROLES = (ADMIN, UNIT_OFFICER, EMPLOYEE)
PENDING_ALLOWED = {("POST", "/api/v1/auth/password"), ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/auth/me")}


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine)
    with api.sessions() as session:
        seed_org(session)
        session.commit()
    yield api
    api.close()


@pytest.fixture
def clients(hub):
    return {
        ADMIN: hub.user_client("admin0", ADMIN),  # denied only the kiosks' own routes (signed by a device key)
        UNIT_OFFICER: hub.user_client("officer", UNIT_OFFICER, unit_ids=["HEALTH"]),
        EMPLOYEE: hub.user_client("e001", EMPLOYEE, employee_id="E001"),
    }


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "x", path)


def test_every_route_declares_a_role_policy(hub):
    policies = route_policies(hub.app)
    undeclared = [(method, path) for method, path, roles in policies if roles is None]
    assert undeclared == [], f"routes without a role policy (see hub/api/deps.py): {undeclared}"
    assert len(policies) >= 30


def test_each_role_is_denied_every_route_outside_its_policy(hub, clients):
    checked = 0
    for method, path, roles in route_policies(hub.app):
        if PUBLIC in roles:
            continue
        for role in ROLES:
            if role in roles:
                continue
            response = clients[role].request(method, concrete(path), json={})
            assert response.status_code == 403, (role, method, path, response.text)
            checked += 1
        anonymous = hub.client().request(method, concrete(path), json={})
        assert anonymous.status_code == 401, (method, path, anonymous.text)
    assert checked >= 25


def test_admins_pass_every_admin_route_policy(hub):
    """The other side: a declared role really is let through (the answer may be 404 or 422 for made-up ids)."""
    hub.user_client("boss", ADMIN)
    for method, path, roles in route_policies(hub.app):
        if ADMIN in roles:
            response = hub.login("boss").request(method, concrete(path), json={})
            assert response.status_code not in (401, 403), (method, path, response.text)


def test_a_user_with_a_one_time_password_may_only_change_it(hub):
    pending = hub.login("newbie", hub.add_user("newbie", ADMIN))
    for method, path, roles in route_policies(hub.app):
        if PUBLIC in roles or (method, path) in PENDING_ALLOWED:
            continue
        response = pending.request(method, concrete(path), json={})
        assert response.status_code == 403, (method, path, response.text)
    assert pending.get("/api/v1/auth/me").status_code == 200


def store_punches(hub: HubApi, employee_ids: list[str]) -> None:
    topic = topics.device_topic(DEVICE.device_id, topics.PUNCH)
    now = datetime.now(timezone.utc)
    with hub.sessions() as session:
        decisions = []
        for i, employee_id in enumerate(employee_ids):
            payload = to_payload(signed_punch(KEY, DEVICE.device_id, DEVICE.site_id, employee_id, seq=i + 1))
            decisions.append((ReceivedMessage(topic, payload, now), check_punch(
                topic, payload, max_bytes=4096, device_lookup={DEVICE.device_id: DEVICE}.get,
                is_allowed=lambda e, s: True)))
        store_decisions(session, decisions, max_payload_bytes=4096)
        session.commit()


def ids(response, key: str = "employee_id") -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item[key] for item in response.json()["items"])


def test_a_unit_officer_sees_only_their_units_and_the_units_below(hub, clients):
    officer = clients[UNIT_OFFICER]
    assert ids(officer.get("/api/v1/employees")) == ["H001", "H002"]
    assert ids(officer.get("/api/v1/org-units"), "unit_id") == ["HEALTH", "PHC-1", "PHC-2"]
    assert ids(officer.get("/api/v1/ddos"), "ddo_id") == ["DDO-H"]
    assert officer.get("/api/v1/employees/H002").json()["home_site_id"] == "S-PHC2"
    assert officer.get("/api/v1/employees/E001").status_code == 403
    assert officer.get("/api/v1/employees/NOBODY").status_code == 403  # same answer: existence is not told
    narrow = hub.user_client("phc1", UNIT_OFFICER, unit_ids=["PHC-1"])
    assert ids(narrow.get("/api/v1/employees")) == ["H001"]
    assert ids(hub.machine.get("/api/v1/employees")) == ["E001", "E002", "H001", "H002"]

    store_punches(hub, ["H001", "H002", "E001", "E002", "E001"])
    assert ids(officer.get("/api/v1/punches")) == ["H001", "H002"]
    assert officer.get("/api/v1/punches/count").json() == {"count": 2}
    assert officer.get("/api/v1/punches", params={"employee_id": "E001"}).status_code == 403


def test_an_employee_sees_only_their_own_punches(hub, clients):
    employee = clients[EMPLOYEE]
    store_punches(hub, ["H001", "E001", "E002", "E001"])
    assert ids(employee.get("/api/v1/punches")) == ["E001", "E001"]
    assert employee.get("/api/v1/punches/count").json() == {"count": 2}
    assert ids(employee.get("/api/v1/punches", params={"employee_id": "E001"})) == ["E001", "E001"]
    assert employee.get("/api/v1/punches", params={"employee_id": "E002"}).status_code == 403
    assert employee.get("/api/v1/punches/count", params={"employee_id": "H001"}).status_code == 403
    assert employee.get("/api/v1/auth/me").json()["employee_id"] == "E001"
    assert employee.get("/api/v1/employees/E001").json()["name"] == "Person E001"
    assert employee.get("/api/v1/employees/E002").status_code == 403
    assert employee.get("/api/v1/employees").status_code == 403
    assert hub.machine.get("/api/v1/punches/count").json() == {"count": 4}
