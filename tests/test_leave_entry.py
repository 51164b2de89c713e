"""Leave, holidays, shifts and rosters refused with clear per-field errors (nothing stored), scoped to
the officer's units, audited; approved leave pulled from a local Frappe HRMS server into the muster roll
by ``hub hrms-leave``, and pulled again after a cancellation. SQLite and PostgreSQL."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from hub.accounts.models import AuditEntry
from hub.accounts.principal import UNIT_OFFICER
from hub.attendance.models import LeaveEntry
from hub.cli import main
from tests.hrms_targets import FakeFrappe
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.test_hrms_push import FRAPPE_TOKEN, secret, write_config

CL_6_8 = {"employee_id": "H001", "code": "CL", "first": "2026-04-06", "last": "2026-04-08"}


@pytest.fixture
def hub(tmp_path, any_engine):  # noqa: F811
    api = HubApi(tmp_path, any_engine)
    api.app.state.clock = lambda: datetime(2026, 5, 5, tzinfo=timezone.utc)
    with api.sessions.begin() as session:
        seed_org(session)
    yield api
    api.close()


def stored_leave(hub) -> list[tuple]:
    with hub.sessions() as session:
        return [(r.employee_id, r.code, r.first.isoformat(), r.last.isoformat(), r.half_day, r.source, r.source_ref)
                for r in session.scalars(select(LeaveEntry).order_by(LeaveEntry.employee_id, LeaveEntry.first))]


def errors(response) -> list[tuple]:
    return [(tuple(e["loc"]), e["msg"]) for e in response.json()["detail"]]


@pytest.mark.parametrize(("change", "loc", "says"), [
    ({"code": "XX"}, ("body", "code"), "unknown leave code 'XX'; known: CL, EL, ML, CO, OD, TR"),
    ({"last": "2026-04-05"}, ("body", "last"), "the last day 2026-04-05 is before the first day 2026-04-06"),
    ({"half_day": True}, ("body", "half_day"), "a half day is one day"),
    ({"employee_id": "NOBODY"}, ("body", "employee_id"), "unknown employee 'NOBODY'"),
    ({"first": "2026-04-31"}, ("body", "first"), "valid date"),
])
def test_a_bad_leave_entry_is_refused_beside_its_field(hub, change, loc, says):
    response = hub.machine.post("/api/v1/leave", json={**CL_6_8, **change})
    assert response.status_code in (404, 422), response.text
    [(got_loc, message)] = errors(response)
    assert got_loc == loc and says in message
    assert stored_leave(hub) == []


def test_overlapping_leave_is_a_conflict_and_the_first_entry_stays(hub):
    assert hub.machine.post("/api/v1/leave", json=CL_6_8).status_code == 201
    clash = hub.machine.post("/api/v1/leave", json={**CL_6_8, "code": "OD", "first": "2026-04-08",
                                                    "last": "2026-04-09"})
    assert clash.status_code == 409
    assert "H001 already has CL from 2026-04-06 to 2026-04-08" in errors(clash)[0][1]
    assert stored_leave(hub) == [("H001", "CL", "2026-04-06", "2026-04-08", False, "api", None)]


def test_a_leave_file_with_any_bad_row_stores_nothing_and_lists_every_problem(hub):
    content = ("employee_id,code,first,last,half_day\n"
               "H001,CL,2026-04-06,2026-04-08,no\n"
               "H002,ZZ,2026-04-06,2026-04-06,no\n"
               "H001,EL,2026-04-08,2026-04-09,no\n"
               "E001,CL,2026-04-10,2026-04-09,maybe\n"
               "E002,CL,2026-04-10,2026-04-09,\n").encode()
    refused = hub.machine.post("/api/v1/leave/import", files={"file": ("leave.csv", content, "text/csv")})
    assert refused.status_code == 422
    assert [(loc, msg.split(";")[0]) for loc, msg in errors(refused)] == [
        (("file", 3, "code"), "unknown leave code 'ZZ'"),
        (("file", 4, "first"), "overlaps line 2 of this file"),
        (("file", 5, "half_day"), "'maybe' is not yes or no"),
        (("file", 6, "last"), "Value error, the last day 2026-04-09 is before the first day 2026-04-10"),
    ]
    assert stored_leave(hub) == []
    missing_column = hub.machine.post("/api/v1/leave/import", files={"file": ("x.csv", b"employee_id,code\n", "")})
    assert errors(missing_column) == [(("file", 1, "first"), "required column missing"),
                                      (("file", 1, "last"), "required column missing")]


def test_holidays_shifts_and_rosters_refuse_bad_input_beside_the_field(hub):
    admin = hub.machine
    cases = [
        ("/api/v1/holidays", {"day": "2026-04-14", "name": "X", "level": "national", "unit_id": "HEALTH"},
         ("body", "unit_id"), "a national holiday is everyone's"),
        ("/api/v1/holidays", {"day": "2026-04-14", "name": "X", "level": "local"},
         ("body", "unit_id"), "a local holiday needs the unit"),
        ("/api/v1/holidays", {"day": "2026-04-14", "name": "X", "level": "state", "unit_id": "NOWHERE"},
         ("body", "unit_id"), "unknown unit 'NOWHERE'"),
        ("/api/v1/rosters", {"employee_id": "H001", "week_start": "2026-04-07"},
         ("body", "week_start"), "2026-04-07 is not a Monday"),
        ("/api/v1/rosters", {"employee_id": "H001", "unit_id": "PHC-1"},
         ("body", "unit_id"), "name either one employee"),
        ("/api/v1/rosters", {"employee_id": "H001", "shift_id": "NONE"}, ("body", "shift_id"), "unknown shift"),
    ]
    for path, body, loc, says in cases:
        response = admin.post(path, json=body)
        assert response.status_code in (404, 422), (body, response.text)
        [(got_loc, message)] = errors(response)
        assert got_loc == loc and says in message, (body, message)
    night = {"shift_id": "N", "site_id": "S-PHC1", "name": "Night", "start": "22:00", "end": "06:00",
             "cutoff": "07:00"}
    response = admin.put("/api/v1/shifts/N", json=night)
    assert errors(response) == [(("body", "cutoff"),
                                 "Value error, the cut-off 07:00 is not between the start 22:00 and the end 06:00")]
    assert admin.put("/api/v1/shifts/N", json={**night, "cutoff": "23:00"}).json()["crosses_midnight"] is True
    assert admin.put("/api/v1/shifts/N", json={**night, "cutoff": "23:30"}).status_code == 200  # replaced
    assert admin.post("/api/v1/holidays", json={"day": "2026-04-14", "name": "A", "level": "national"}
                      ).status_code == 201
    again = admin.post("/api/v1/holidays", json={"day": "2026-04-14", "name": "B", "level": "national"})
    assert again.status_code == 409 and "already a holiday there (A)" in errors(again)[0][1]
    with hub.sessions() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
                   if a.split(".")[0] in ("shift", "holiday")]
    assert actions == ["shift.create", "shift.update", "holiday.create"]


def test_a_shift_grace_must_end_before_the_cut_off(hub):
    night = {"shift_id": "N", "site_id": "S-PHC1", "name": "Night", "start": "22:00", "end": "06:00",
             "cutoff": "23:00"}
    response = hub.machine.put("/api/v1/shifts/N", json={**night, "grace_min": 60})
    assert errors(response) == [(("body", "grace_min"), "Value error, a grace of 60 min reaches the cut-off 23:00 "
                                                        "(60 min after the start): nobody could then be late")]
    assert hub.machine.put("/api/v1/shifts/N", json={**night, "grace_min": 15}).json()["grace_min"] == 15
    assert hub.machine.put("/api/v1/shifts/N", json=night).json()["grace_min"] == 0  # replaced: no grace


def test_a_shift_is_deleted_only_once_no_roster_line_names_it(hub):
    admin = hub.machine
    night = {"shift_id": "N", "site_id": "S-PHC1", "name": "Night", "start": "22:00", "end": "06:00",
             "cutoff": "23:00"}
    assert admin.put("/api/v1/shifts/N", json=night).status_code == 201
    line = admin.post("/api/v1/rosters", json={"employee_id": "H001", "shift_id": "N"}).json()
    refused = admin.delete("/api/v1/shifts/N")
    assert refused.status_code == 409 and f"roster line(s) ({line['id']})" in refused.json()["detail"]
    assert [s["shift_id"] for s in admin.get("/api/v1/shifts").json()["items"]] == ["N"]
    assert admin.delete(f"/api/v1/rosters/{line['id']}").status_code == 204
    assert admin.delete("/api/v1/shifts/N").status_code == 204
    assert admin.get("/api/v1/shifts").json()["items"] == []
    assert admin.delete("/api/v1/shifts/N").status_code == 404
    officer = hub.user_client("phc1", UNIT_OFFICER, unit_ids=["PHC-1"])
    assert officer.delete("/api/v1/shifts/N").status_code == 403
    with hub.sessions() as session:
        assert session.scalar(select(AuditEntry.before).where(AuditEntry.action == "shift.delete")).count('"N"')


def test_an_officer_enters_leave_only_in_their_units_and_it_is_audited(hub):
    officer = hub.user_client("phc1", UNIT_OFFICER, unit_ids=["PHC-1"])
    assert officer.post("/api/v1/leave", json={**CL_6_8, "employee_id": "E001"}).status_code == 403
    created = officer.post("/api/v1/leave", params={"source": "dashboard"}, json=CL_6_8)
    assert created.status_code == 201 and created.json()["created_by"] == "phc1"
    listed = officer.get("/api/v1/leave", params={"from": "2026-04-01", "to": "2026-04-30"}).json()["items"]
    assert [(i["employee_id"], i["code"], i["source"]) for i in listed] == [("H001", "CL", "dashboard")]
    assert officer.delete(f"/api/v1/leave/{created.json()['id']}").status_code == 204
    with hub.sessions() as session:
        audit = [(e.actor, e.action) for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("leave.%")).order_by(AuditEntry.id))]
    assert audit == [("phc1", "leave.create"), ("phc1", "leave.delete")]


def test_approved_leave_from_frappe_reaches_the_muster_roll_and_a_cancellation_takes_it_away(hub, tmp_path):
    frappe = FakeFrappe({"H001", "H002"}, FRAPPE_TOKEN)
    try:
        def application(name, employee, leave_type, first, last, half_day_date=None):
            return {"name": name, "employee": employee, "leave_type": leave_type, "from_date": first,
                    "to_date": last, "half_day": int(half_day_date is not None), "half_day_date": half_day_date,
                    "status": "Approved", "docstatus": 1}

        frappe.leave_applications = [
            application("LAP-1", "H001", "Casual Leave", "2026-04-06", "2026-04-08", half_day_date="2026-04-08"),
            application("LAP-2", "H002", "Earned Leave", "2026-04-01", "2026-04-02"),
            application("LAP-3", "H002", "Bereavement Leave", "2026-04-20", "2026-04-20"),
        ]
        config = write_config(tmp_path, hub.engine, {"targets": [{
            "kind": "frappe", "name": "frappe", "url": frappe.url,
            "token_file": str(secret(tmp_path, "frappe", FRAPPE_TOKEN))}]})
        assert main(["hrms-leave", "--config", str(config), "--month", "2026-04"]) == 0
        assert stored_leave(hub) == [
            ("H001", "CL", "2026-04-06", "2026-04-07", False, "hrms", "LAP-1"),
            ("H001", "CL", "2026-04-08", "2026-04-08", True, "hrms", "LAP-1"),
            ("H002", "EL", "2026-04-01", "2026-04-02", False, "hrms", "LAP-2"),
        ]
        muster = hub.machine.get("/api/v1/reports/muster", params={"unit_id": "HEALTH", "month": "2026-04"}).json()
        codes = {i["employee"]["employee_id"]: i["codes"][:8] for i in muster["items"]}
        assert codes == {"H001": ["A", "A", "A", "A", "WO", "CL", "CL", "CL/2"],
                         "H002": ["EL", "EL", "A", "A", "WO", "A", "A", "A"]}
        # pulled again: the same rows (no duplicates); then LAP-2 is cancelled in Frappe
        assert main(["hrms-leave", "--config", str(config), "--month", "2026-04"]) == 0
        assert len(stored_leave(hub)) == 3
        frappe.leave_applications[1]["docstatus"] = 2
        assert main(["hrms-leave", "--config", str(config), "--month", "2026-04"]) == 0
        assert [r[6] for r in stored_leave(hub)] == ["LAP-1", "LAP-1"]
    finally:
        frappe.close()
