"""Master data through the API and the CLI: org units, DDOs, sites, employees, transfers, leavers, audit."""

import secrets

import numpy as np
import pytest
import yaml

from hub.cli import main
from hub.db import FaceTemplate
from hub.enrolment.gallery import sync_members
from tests.hub_api_kit import HubApi
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine)
    yield api
    api.close()


def post(client, path, body, expect=201):
    response = client.post(path, json=body)
    assert response.status_code == expect, response.text
    return response.json()


def give_face(hub: HubApi, employee_id: str) -> None:
    """A template (arbitrary numbers: this is about membership, not recognition) and gallery sync."""
    with hub.sessions() as session:
        session.add(FaceTemplate(employee_id=employee_id, source="1.jpg",
                                 encoding=np.random.default_rng(1).standard_normal(128).astype("<f4").tobytes()))
        session.flush()
        sync_members(session, [employee_id], content_changed=[employee_id])
        session.commit()


def setup_org(admin) -> None:
    post(admin, "/api/v1/org-units", {"unit_id": "REV", "name": "Revenue", "kind": "department"})
    post(admin, "/api/v1/org-units", {"unit_id": "TEH-1", "name": "Tehsil One", "parent_id": "REV"})
    post(admin, "/api/v1/ddos", {"ddo_id": "DDO-1", "name": "Tehsildar", "unit_id": "TEH-1"})
    post(admin, "/api/v1/sites", {"site_id": "HQ", "name": "District HQ", "unit_id": "REV", "lat": 31.1, "lon": 77.17,
                                  "radius_m": 150, "shift_start": "09:30", "cutoff": "12:00", "min_gap_min": 30,
                                  "half_day_hours": 4.5, "phone_policy": "kiosk_down"})
    post(admin, "/api/v1/sites", {"site_id": "BLOCK", "name": "Block office", "unit_id": "TEH-1"})


def test_units_ddos_and_sites_are_validated(hub):
    admin = hub.machine
    setup_org(admin)
    site = admin.get("/api/v1/sites").json()["items"][1]
    assert (site["site_id"], site["shift_start"], site["phone_policy"], site["radius_m"]) == (
        "HQ", "09:30:00", "kiosk_down", 150.0)
    assert post(admin, "/api/v1/org-units", {"unit_id": "REV", "name": "x"}, 409)
    assert post(admin, "/api/v1/org-units", {"unit_id": "X", "name": "x", "parent_id": "NOPE"}, 404)
    assert "cycle" in admin.patch("/api/v1/org-units/REV", json={"kind": "office", "parent_id": "TEH-1"}).text
    assert admin.patch("/api/v1/org-units/TEH-1", json={"name": None}).status_code == 422
    assert post(admin, "/api/v1/ddos", {"ddo_id": "D2", "name": "x", "unit_id": "NOPE"}, 404)
    bad_sites = [{"lat": 91, "lon": 0, "radius_m": 10}, {"lat": 31.0}, {"timezone": "Mars/Olympus"},
                 {"phone_policy": "sometimes"}, {"shift_start": "13:00", "cutoff": "12:00"}, {"radius_m": -1},
                 {"colour": "red"}]
    for extra in bad_sites:
        assert admin.post("/api/v1/sites", json={"site_id": "S9", "name": "x", **extra}).status_code == 422, extra
    assert admin.patch("/api/v1/sites/HQ", json={"cutoff": "11:00"}).json()["cutoff"] == "11:00:00"
    assert admin.patch("/api/v1/sites/NOPE", json={"cutoff": "11:00"}).status_code == 404
    assert post(admin, "/api/v1/sites", {"site_id": "HQ", "name": "District HQ"}, 200)  # same again: no-op
    assert "unit_id" in post(admin, "/api/v1/sites", {"site_id": "HQ", "name": "District HQ", "unit_id": "TEH-1"}, 409)[
        "detail"]


def test_employees_are_validated(hub):
    admin = hub.machine
    setup_org(admin)
    good = {"employee_id": "UNA-1", "name": "Asha", "home_site_id": "HQ", "unit_id": "TEH-1", "ddo_id": "DDO-1",
            "category": "contract", "mobile": "+919812345678", "allowed_site_ids": ["BLOCK", "HQ"]}
    created = post(admin, "/api/v1/employees", good)
    assert (created["allowed_site_ids"], created["templates"], created["gallery_sites"]) == (["BLOCK"], 0, [])
    for bad in ({"mobile": "9812345678"}, {"mobile": "+9198123"}, {"mobile": "+915812345678"},
                {"category": "temporary"}, {"name": ""}, {"employee_id": "x" * 65}):
        assert admin.post("/api/v1/employees", json={**good, "employee_id": "UNA-2", **bad}).status_code == 422, bad
    for missing in ({"home_site_id": "NOPE"}, {"unit_id": "NOPE"}, {"ddo_id": "NOPE"}, {"allowed_site_ids": ["NOPE"]}):
        assert admin.post("/api/v1/employees", json={**good, "employee_id": "UNA-2", **missing}).status_code == 404
    taken = admin.post("/api/v1/employees", json={**good, "employee_id": "UNA-2"})
    assert taken.status_code == 409 and "mobile" in taken.json()["detail"]
    assert post(admin, "/api/v1/employees", good, 409)
    assert admin.patch("/api/v1/employees/UNA-1", json={"home_site_id": None}).status_code == 422
    assert admin.get("/api/v1/employees", params={"site_id": "HQ"}).json()["items"][0]["mobile"] == "+919812345678"


def test_transfer_and_leaver_move_the_person_between_galleries_and_are_audited(hub):
    admin = hub.machine
    setup_org(admin)
    post(admin, "/api/v1/sites", {"site_id": "DIST", "name": "District office"})
    post(admin, "/api/v1/employees", {"employee_id": "UNA-7", "name": "Ravi", "home_site_id": "HQ",
                                      "allowed_site_ids": ["BLOCK"]})
    give_face(hub, "UNA-7")
    detail = admin.get("/api/v1/employees/UNA-7").json()
    assert (detail["templates"], detail["gallery_sites"]) == (1, ["BLOCK", "HQ"])
    versions = {s["site_id"]: s["gallery_version"] for s in admin.get("/api/v1/sites").json()["items"]}
    assert versions == {"BLOCK": 1, "DIST": 0, "HQ": 1}

    moved = admin.patch("/api/v1/employees/UNA-7", json={"home_site_id": "DIST"}).json()
    assert moved["gallery_versions"] == {"DIST": 1, "HQ": 2}  # BLOCK is still allowed: untouched
    assert moved["employee"]["gallery_sites"] == ["BLOCK", "DIST"]
    left = admin.patch("/api/v1/employees/UNA-7", json={"active": False}).json()
    assert left["gallery_versions"] == {"BLOCK": 2, "DIST": 2} and left["employee"]["gallery_sites"] == []
    assert admin.patch("/api/v1/employees/UNA-7", json={"active": False}).json()["gallery_versions"] == {}

    entries = [e for e in admin.get("/api/v1/audit", params={"target": "employee:UNA-7"}).json()["items"]
               if not e["action"].endswith(".read")]  # the reads above are audited too
    assert [e["action"] for e in entries] == ["employee.update"] * 3 + ["employee.create"]
    transfer = entries[2]
    assert (transfer["actor"], transfer["before"]["home_site_id"], transfer["after"]["home_site_id"]) == (
        "token:admin", "HQ", "DIST")
    assert entries[1]["before"]["active"] is True and entries[1]["after"]["active"] is False
    assert entries[3]["before"] is None and entries[3]["after"]["allowed_site_ids"] == ["BLOCK"]
    assert {e["action"] for e in admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]} >= {
        "org_unit.create", "ddo.create", "site.create", "employee.create", "employee.update"}


def test_cli_master_data_commands(tmp_path, capsys):
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                      "admin_token_file": str(token)}))
    c = ["--config", str(config)]
    assert main(["init-db", *c]) == 0
    assert main(["unit", "add", *c, "REV", "--name", "Revenue", "--kind", "department"]) == 0
    assert main(["unit", "add", *c, "TEH-1", "--name", "Tehsil", "--parent", "REV"]) == 0
    assert main(["ddo", "add", *c, "DDO-1", "--name", "Tehsildar", "--unit", "TEH-1"]) == 0
    assert main(["site", "add", *c, "HQ", "--name", "HQ", "--lat", "31.1", "--lon", "77.1", "--radius-m", "100",
                 "--shift-start", "09:30", "--phone-policy", "always"]) == 0
    assert main(["site", "add", *c, "BLOCK", "--name", "Block"]) == 0
    assert main(["site", "set", *c, "BLOCK", "--cutoff", "11:30"]) == 0
    assert main(["employee", "add", *c, "UNA-1", "--name", "Asha", "--site", "HQ", "--unit", "TEH-1",
                 "--ddo", "DDO-1", "--mobile", "+919812345678", "--allowed", "BLOCK"]) == 0
    capsys.readouterr()
    assert main(["employee", "add", *c, "UNA-2", "--name", "B", "--site", "HQ", "--mobile", "12345"]) == 1
    assert "hub: mobile: Value error, a mobile number is +91" in capsys.readouterr().err
    assert main(["site", "add", *c, "S3", "--name", "x", "--lat", "200", "--lon", "1", "--radius-m", "5"]) == 1
    assert "lat" in capsys.readouterr().err
    assert main(["employee", "transfer", *c, "UNA-1", "--site", "BLOCK"]) == 0
    assert main(["employee", "allow", *c, "UNA-1", "--sites", ""]) == 0
    assert main(["employee", "leave", *c, "UNA-1"]) == 0
    assert main(["employee", "leave", *c, "UNA-404"]) == 1
    out = capsys.readouterr()
    assert "employee UNA-1 transferred to BLOCK" in out.out and "marked as a leaver" in out.out
    assert "unknown employee 'UNA-404'" in out.err

    engine = sqlite_engine(tmp_path)
    api = HubApi(tmp_path, engine)
    employee = api.machine.get("/api/v1/employees/UNA-1").json()
    assert (employee["home_site_id"], employee["allowed_site_ids"], employee["active"]) == ("BLOCK", [], False)
    audit = [e for e in api.machine.get("/api/v1/audit").json()["items"] if not e["action"].endswith(".read")]
    assert audit[0]["actor"].startswith("cli:") and audit[0]["action"] == "employee.update"
    assert len(audit) == 10  # 2 units, a DDO, 2 sites, a site change, an employee, 3 changes
    api.close()
    engine.dispose()
