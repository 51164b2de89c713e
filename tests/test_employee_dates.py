"""Joining and leaving dates of an employee: stored, shown, and leaving never before joining, whether
both come in one request or one date is changed against the other as stored. SQLite and PostgreSQL."""

import pytest

from hub.accounts.principal import ADMIN
from hub.masterdata.fields import EmployeeIn, EmployeePatch
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)


@pytest.fixture
def admin(tmp_path, any_engine):  # noqa: F811
    api = HubApi(tmp_path, any_engine)
    with api.sessions.begin() as session:
        seed_org(session)
    yield api.user_client("root", ADMIN)
    api.close()


def test_leaving_before_joining_is_refused_beside_left_on_and_nothing_is_written(admin):
    body = {"employee_id": "D001", "name": "Dev", "home_site_id": "S-PHC1", "joined_on": "2026-04-01", "left_on": "2026-03-31"}
    refused = admin.post("/api/v1/employees", json=body)
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "left_on"]]
    assert "before the joining date" in refused.json()["detail"][0]["msg"]
    assert admin.get("/api/v1/employees/D001").status_code == 404

    created = admin.post("/api/v1/employees", json={**body, "left_on": None})
    assert created.status_code == 201 and created.json()["joined_on"] == "2026-04-01"
    # one date changed: checked against the stored other
    late = admin.patch("/api/v1/employees/D001", json={"left_on": "2026-03-01"})
    assert late.status_code == 422 and "before the joining date" in late.json()["detail"]
    assert admin.get("/api/v1/employees/D001").json()["left_on"] is None
    same_day = admin.patch("/api/v1/employees/D001", json={"left_on": "2026-04-01"})
    assert same_day.status_code == 200 and same_day.json()["employee"]["left_on"] == "2026-04-01"


@pytest.mark.parametrize(("joined", "left", "ok"), [
    ("2026-01-01", "2026-01-01", True), ("2026-01-02", "2026-01-01", False), (None, "2026-01-01", True),
    ("2026-01-01", None, True),
])
def test_the_rule_is_the_input_models_own(joined, left, ok):
    """The CLI and the API build the same models, so both refuse the same dates."""
    for model, extra in ((EmployeeIn, {"employee_id": "X", "name": "X", "home_site_id": "S"}), (EmployeePatch, {})):
        try:
            model(**extra, joined_on=joined, left_on=left)
            assert ok
        except ValueError as exc:
            assert not ok and "before the joining date" in str(exc)
