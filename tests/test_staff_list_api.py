"""GET /api/v1/employees as the staff page uses it: search (staff-number prefix or any part of the
name), offset pages with a total, and the caller's units still deciding who is listed.
On SQLite and PostgreSQL (when it answers)."""

import pytest

from hub.accounts.principal import ADMIN, UNIT_OFFICER
from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)


@pytest.fixture
def hub(tmp_path, any_engine):  # noqa: F811
    api = HubApi(tmp_path, any_engine)
    with api.sessions.begin() as session:
        seed_org(session)
        for n in range(1, 121):  # H1001..H1120 in PHC-1, names with % and _ among them
            name = {7: "Asha 100% Devi", 8: "Ram_Kumar", 9: "RAMESH Singh"}.get(n, f"Worker {n:03d}")
            employees.create_employee(session, EmployeeIn(employee_id=f"H{1000 + n}", name=name,
                                                          home_site_id="S-PHC1", unit_id="PHC-1"))
    yield api
    api.close()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["employee_id"] for e in response.json()["items"]]


def test_pages_by_offset_with_a_total(hub):
    admin = hub.user_client("root", ADMIN)
    first = admin.get("/api/v1/employees", params={"limit": 50, "count": "true"})
    assert first.json()["total"] == 124 and ids(first)[:2] == ["E001", "E002"] and len(ids(first)) == 50
    third = admin.get("/api/v1/employees", params={"limit": 50, "offset": 100, "count": "true"})
    assert len(ids(third)) == 24  # ordered by staff number
    assert ids(third)[-1] == "H1120"
    assert admin.get("/api/v1/employees").json()["total"] is None  # counted only when asked
    assert set(ids(first)).isdisjoint(ids(third))


SEARCHES = [
    ("H100", [f"H100{n}" for n in range(1, 10)]),  # a staff-number prefix
    ("ram", ["H1008", "H1009"]),            # any part of the name, any case
    ("100%", ["H1007"]),                    # % is a character, not a wildcard
    ("m_k", ["H1008"]),                     # so is _
    ("m%k", []),
    ("Worker 11", [f"H{1110 + n}" for n in range(10)]),  # "Worker 110".."Worker 119"
    ("zzz", []),
]


def test_search_matches_staff_number_prefix_or_name(hub):
    admin = hub.user_client("root", ADMIN)
    for q, expected in SEARCHES:
        found = admin.get("/api/v1/employees", params={"q": q, "limit": 1000, "count": "true"})
        assert (sorted(ids(found)), found.json()["total"]) == (sorted(expected), len(expected)), q


def test_a_unit_officer_searches_only_their_units(hub):
    officer = hub.user_client("officer", UNIT_OFFICER, unit_ids=["EDU"])
    found = officer.get("/api/v1/employees", params={"q": "0", "count": "true"})
    assert ids(found) == ["E001", "E002"] and found.json()["total"] == 2


def test_bad_paging_is_refused(hub):
    admin = hub.user_client("root", ADMIN)
    for params in ({"offset": -1}, {"q": "x" * 101}, {"limit": 0}):
        assert admin.get("/api/v1/employees", params=params).status_code == 422, params
