"""The report endpoints through FastAPI's TestClient, logged in as each role, on SQLite and PostgreSQL.

Organisation from ``tests.hub_api_kit.seed_org``: HEALTH (PHC-1, PHC-2) with
H001, H002 under DDO-H; EDU (SCH-1) with E001, E002 under DDO-E. All sites
have the default rules (Asia/Kolkata, shift 10:00, cut-off 12:00). On
Tuesday 7 April 2026: H001 09:40-17:50; H002 late 10:30-17:50; E001 at the
PHC-1 site (not home) 09:40-17:50 with a reason; E002 no punch.
"""

import csv
import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.accounts.principal import EMPLOYEE, UNIT_OFFICER
from tests.hub_api_kit import REPORT_DAY, HubApi, seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import any_engine  # noqa: F401  (fixture)

IST = ZoneInfo("Asia/Kolkata")
DAY = REPORT_DAY
URL = "/api/v1/reports"


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine)
    api.app.state.clock = lambda: datetime(2026, 5, 5, tzinfo=timezone.utc)
    with api.sessions.begin() as session:
        seed_org(session)
        session.add_all([
            punch("H001", "S-PHC1", "09:40"), punch("H001", "S-PHC1", "17:50"),
            punch("H002", "S-PHC2", "10:30"), punch("H002", "S-PHC2", "17:50"),
            punch("E001", "S-PHC1", "09:40", "vaccination camp"), punch("E001", "S-PHC1", "17:50", "vaccination camp"),
        ])
    yield api
    api.close()


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_daily_register_as_json_and_csv(hub):
    admin = hub.machine
    body = admin.get(f"{URL}/daily", params={"unit_id": "HEALTH", "date": "2026-04-07"}).json()
    assert [(i["employee"]["employee_id"], i["day"]["status"], i["day"]["in_at"], i["day"]["out_at"])
            for i in body["items"]] == [
        ("H001", "present", "2026-04-07T09:40:00+05:30", "2026-04-07T17:50:00+05:30"),
        ("H002", "late", "2026-04-07T10:30:00+05:30", "2026-04-07T17:50:00+05:30"),
    ]
    response = admin.get(f"{URL}/daily", params={"unit_id": "HEALTH", "date": "2026-04-07", "format": "csv"})
    assert response.headers["content-disposition"] == 'attachment; filename="daily-HEALTH-2026-04-07.csv"'
    assert [(r["employee_id"], r["status"], r["in"], r["out"]) for r in read_csv(response)] == [
        ("H001", "present", "09:40", "17:50"), ("H002", "late", "10:30", "17:50")]


def test_each_report_downloads_as_csv_with_a_file_name(hub):
    admin = hub.machine
    cases = [
        ("exceptions", {"from": "2026-04-07", "to": "2026-04-07"}, "exceptions-all-2026-04-07-2026-04-07.csv"),
        ("muster", {"unit_id": "EDU", "month": "2026-04"}, "muster-EDU-2026-04.csv"),
        ("payroll", {"ddo_id": "DDO-E", "month": "2026-04"}, "payroll-DDO-E-2026-04.csv"),
        ("employees/E001/history", {"from": "2026-04-06", "to": "2026-04-07"},
         "history-E001-2026-04-06-2026-04-07.csv"),
    ]
    for path, params, filename in cases:
        response = admin.get(f"{URL}/{path}", params={**params, "format": "csv"})
        assert response.headers["content-disposition"] == f'attachment; filename="{filename}"', path
        assert read_csv(response), path
    history = read_csv(admin.get(f"{URL}/employees/E001/history",
                                 params={"from": "2026-04-06", "to": "2026-04-07", "format": "csv"}))
    assert [(r["date"], r["status"], r["off_site"]) for r in history] == [
        ("2026-04-06", "absent", ""),
        ("2026-04-07", "present", "S-PHC1 09:40: vaccination camp; S-PHC1 17:50: vaccination camp"),
    ]


def test_muster_and_payroll_json(hub):
    admin = hub.machine
    muster = admin.get(f"{URL}/muster", params={"unit_id": "HEALTH", "month": "2026-04"}).json()
    assert len(muster["days"]) == 30 and muster["days"][6] == "2026-04-07"
    codes = {i["employee"]["employee_id"]: i["codes"][6] for i in muster["items"]}
    assert codes == {"H001": "P", "H002": "L"}
    assert muster["items"][0]["codes"][4] == "WO"  # Sunday 5 April
    assert {"code": "WO", "en": "weekly off of the roster", "hi": "साप्ताहिक अवकाश"} in muster["legend"]
    payroll = admin.get(f"{URL}/payroll", params={"ddo_id": "DDO-E", "month": "2026-04"}).json()
    totals = {i["employee"]["employee_id"]: i["totals"] for i in payroll["items"]}
    assert totals["E001"] == {"present": 1, "late": 0, "half_day": 0, "absent": 25, "regularised": 0,
                              "working_days": 26,
                              "present_days": 1.0,
                              "by_code": {"P": 1, "A": 25, "WO": 4, "missed_cutoff": 25}}
    assert totals["E002"]["present_days"] == 0.0


def test_a_unit_officer_sees_their_units_only(hub):
    officer = hub.user_client("officer", UNIT_OFFICER, unit_ids=["HEALTH"])
    body = officer.get(f"{URL}/exceptions", params={"from": "2026-04-07", "to": "2026-04-07"}).json()
    assert [(i["employee"]["employee_id"], i["kind"], i["detail"]) for i in body["items"]] == [
        ("H002", "late", "in 10:30")]
    for path, params in [("daily", {"unit_id": "EDU", "date": "2026-04-07"}),
                         ("muster", {"unit_id": "SCH-1", "month": "2026-04"}),
                         ("exceptions", {"unit_id": "EDU", "from": "2026-04-07", "to": "2026-04-07"}),
                         ("employees/E001/history", {"from": "2026-04-07", "to": "2026-04-07"})]:
        assert officer.get(f"{URL}/{path}", params=params).status_code == 403, path
    assert officer.get(f"{URL}/muster", params={"unit_id": "PHC-2", "month": "2026-04"}).status_code == 200
    assert officer.get(f"{URL}/payroll", params={"ddo_id": "DDO-E", "month": "2026-04"}).json()["items"] == []


def test_an_employee_sees_their_own_history_only(hub):
    me = hub.user_client("e001", EMPLOYEE, employee_id="E001")
    body = me.get(f"{URL}/employees/E001/history", params={"from": "2026-04-07", "to": "2026-04-07"}).json()
    [day] = body["items"]
    assert (day["status"], day["exceptions"], day["off_site"]) == ("present", ["off_site"], [
        {"site_id": "S-PHC1", "at": "2026-04-07T09:40:00+05:30", "reason": "vaccination camp"},
        {"site_id": "S-PHC1", "at": "2026-04-07T17:50:00+05:30", "reason": "vaccination camp"}])
    assert me.get(f"{URL}/employees/E002/history", params={"from": "2026-04-07", "to": "2026-04-07"}
                  ).status_code == 403
    assert me.get(f"{URL}/daily", params={"unit_id": "EDU", "date": "2026-04-07"}).status_code == 403
    assert me.get(f"{URL}/muster", params={"unit_id": "EDU", "month": "2026-04"}).status_code == 403


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("muster", {"unit_id": "HEALTH", "month": "2026-4"}, 422),
        ("muster", {"unit_id": "HEALTH", "month": "2026-13"}, 422),
        ("muster", {"unit_id": "NOPE", "month": "2026-04"}, 404),
        ("payroll", {"ddo_id": "NOPE", "month": "2026-04"}, 404),
        ("daily", {"unit_id": "HEALTH", "date": "7 April"}, 422),
        ("daily", {"unit_id": "HEALTH", "date": "2026-04-07", "format": "xlsx"}, 422),
        ("exceptions", {"from": "2026-04-08", "to": "2026-04-07"}, 422),
        ("exceptions", {"from": "2024-01-01", "to": "2026-04-07"}, 422),
        ("employees/NOPE/history", {"from": "2026-04-07", "to": "2026-04-07"}, 404),
    ],
)
def test_bad_requests_get_a_clear_answer(hub, path, params, status):
    response = hub.machine.get(f"{URL}/{path}", params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
