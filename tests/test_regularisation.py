"""Regularisation (issue 14 part 3): the pure rules, then the phone and officer API on SQLite and
PostgreSQL, with the exact muster roll rows a regularised day gives, the exports, limits, scope,
bad input (4xx with a reason, nothing written) and the audit log."""

import csv
import io
import json
import os
import stat
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from hub.accounts.models import AuditEntry
from hub.attendance import daycode, rules
from hub.attendance.daycode import CodeBook, DayFacts, day_mark
from hub.attendance.config import RegularisationConfig
from hub.attendance.regularisation import RegularisationRefused, check_request, regularised_statuses
from hub.phone.models import PhoneRefusal
from tests import regkit
from tests.hub_api_kit import punch_record
from tests.hub_db import any_engine  # noqa: F401  (fixture)

API = regkit.PHONE_API + "/regularisations"
OFFICER_API = "/api/v1/regularisations"
TODAY = date(2026, 5, 5)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
# April 2026 for H001 on 5 May: no punch is A, Sundays (5, 12, 19, 26) are -, ...
APRIL_ABSENT = "AAAA-AAAAAA-AAAAAA-AAAAAA-AAAA"


def april(compact: str) -> list[str]:
    """A month's codes written one character a day: '-' is a Sunday (WO on the muster roll), 'H' a half day (HD)."""
    return [{"-": "WO", "H": "HD", " ": ""}.get(c, c) for c in compact]


# ---- pure rules ---------------------------------------------------------------------------------

CONFIG = RegularisationConfig(max_days_back=10)


@pytest.mark.parametrize("day, status, kind, reason, code", [
    (TODAY, rules.NOT_YET, "forgot_punch", "at the collectorate", None),
    (TODAY - timedelta(days=1), rules.ABSENT, "kiosk_down", "screen was dark", None),
    (TODAY - timedelta(days=1), rules.HALF_DAY, "forgot_punch", "no out punch", None),
    (TODAY - timedelta(days=1), rules.LATE, "on_duty_elsewhere", "meeting first", None),
    (TODAY - timedelta(days=10), rules.ABSENT, "kiosk_down", "x", None),
    (TODAY - timedelta(days=11), rules.ABSENT, "kiosk_down", "x", "reg_too_old"),
    (TODAY + timedelta(days=1), rules.NOT_YET, "kiosk_down", "x", "reg_future_day"),
    (TODAY - timedelta(days=1), rules.PRESENT, "kiosk_down", "x", "reg_day_present"),
    (TODAY - timedelta(days=1), rules.REGULARISED, "kiosk_down", "x", "reg_day_present"),
    (TODAY - timedelta(days=2), rules.NON_WORKING, "kiosk_down", "x", "reg_not_working_day"),
    (TODAY - timedelta(days=1), rules.ABSENT, "holiday_trip", "x", "reg_kind_unknown"),
    (TODAY - timedelta(days=1), rules.ABSENT, "kiosk_down", "   ", "reg_reason_missing"),
    (TODAY - timedelta(days=1), rules.ABSENT, "kiosk_down", "x" * 501, "reg_reason_too_long"),
])
def test_which_requests_are_refused_before_anything_is_stored(day, status, kind, reason, code):
    if code is None:
        check_request(day=day, today=TODAY, status=status, kind=kind, reason=reason, config=CONFIG)
        return
    with pytest.raises(RegularisationRefused) as refused:
        check_request(day=day, today=TODAY, status=status, kind=kind, reason=reason, config=CONFIG)
    assert refused.value.code == code


DAYS = [date(2026, 4, d) for d in range(5, 10)]  # Sunday 5 to Thursday 9 April


@pytest.mark.parametrize("statuses, approved, expected", [
    (["non_working", "absent", "present", "half_day", "late"], set(DAYS),
     ["non_working", "regularised", "present", "regularised", "regularised"]),
    (["non_working", "absent", "absent", "absent", "not_yet"], {DAYS[2], DAYS[4]},
     ["non_working", "absent", "regularised", "absent", "regularised"]),
    (["non_working", "absent", "absent", "absent", "absent"], set(), ["non_working"] + ["absent"] * 4),
])
def test_an_approved_day_overrides_only_a_day_that_needs_it(statuses, approved, expected):
    assert regularised_statuses(DAYS, statuses, approved) == expected


def test_a_regularised_day_is_R_and_counts_as_present():
    marks = [day_mark(DayFacts(rules.PRESENT)), day_mark(DayFacts(rules.ABSENT, override=daycode.REGULARISED)),
             day_mark(DayFacts(rules.LATE)), day_mark(DayFacts(rules.HALF_DAY)), day_mark(DayFacts(rules.ABSENT)),
             day_mark(DayFacts(rules.NON_WORKING, weekly_off=True))]
    totals = daycode.month_totals(marks, CodeBook())
    assert rules.MUSTER_CODES[rules.REGULARISED] == "R" and marks[1].code == "R"
    assert (totals.present, totals.regularised, totals.working_days, totals.present_days) == (2, 1, 5, 3.5)


# ---- through the API -------------------------------------------------------------------------------

@pytest.fixture
def hub(tmp_path, any_engine):  # noqa: F811
    """(api, phone client with H001's headers, PHC officer, school officer, admin)."""
    api = regkit.make_hub(tmp_path, any_engine, regularisation={"max_per_month": 3})
    with api.sessions.begin() as session:
        session.add_all([
            punch_on("08", "09:40"), punch_on("08", "17:50"),   # a full day: present
            punch_on("09", "09:40"), punch_on("09", "11:00"),   # in, out too soon: half day
        ])
    phone = TestClient(api.app, base_url="https://hub.example", client=("198.51.100.7", 40000))
    phone.headers.update(regkit.activate(phone, tmp_path / "sms-outbox.jsonl"))
    officer = api.user_client("phc.officer", "unit_officer", unit_ids=["PHC-1"])
    outsider = api.user_client("school.officer", "unit_officer", unit_ids=["SCH-1"])
    admin = api.user_client("admin1", "admin")
    yield api, phone, officer, outsider, admin
    phone.close()
    api.close()


def punch_on(day: str, hhmm: str):
    return punch_record(regkit.STAFF, "S-PHC1", hhmm, day=date(2026, 4, int(day)))


def ask(phone, day, kind="kiosk_down", reason="The kiosk screen was dark all day", files=None):
    data = {k: v for k, v in {"day": day, "kind": kind, "reason": reason}.items() if v is not None}
    return phone.post(API, data=data, files=files)


def muster_row(client, month="2026-04", unit="PHC-1", fmt="json"):
    response = client.get("/api/v1/reports/muster", params={"unit_id": unit, "month": month, "format": fmt})
    assert response.status_code == 200, response.text
    return response


def test_a_request_approved_by_the_units_officer_shows_as_R_in_the_muster_roll_and_its_exports(hub):
    api, phone, officer, outsider, admin = hub
    before = muster_row(officer).json()["items"]
    assert [r["employee"]["employee_id"] for r in before] == ["H001"]
    assert before[0]["codes"] == april("AAAA-AAPHAA-AAAAAA-AAAAAA-AAAA")

    asked = ask(phone, "2026-04-07", files={"attachment": ("duty-order.pdf", PDF, "application/pdf")})
    assert asked.status_code == 200, asked.text
    made = asked.json()
    assert (made["day"], made["state"], made["kind"], made["attachment_type"]) == \
        ("2026-04-07", "pending", "kiosk_down", "application/pdf")
    assert made["kind_label"]["hi"] == "कियोस्क काम नहीं कर रहा था"
    mine = phone.get(API).json()
    assert [(i["day"], i["state"]) for i in mine["items"]] == [("2026-04-07", "pending")]
    assert mine["today"] == "2026-05-05" and [r["code"] for r in mine["reasons"]] == \
        ["forgot_punch", "kiosk_down", "on_duty_elsewhere"]

    # the officer of another unit neither sees nor decides it
    assert outsider.get(OFFICER_API).json()["items"] == []
    refused = outsider.post(f"{OFFICER_API}/{made['id']}/decision", json={"decision": "approve"})
    assert refused.status_code == 403, refused.text
    assert outsider.get(f"{OFFICER_API}/{made['id']}/attachment").status_code == 403
    assert regkit.stored_requests(api)[0].state == "pending"

    pending = officer.get(OFFICER_API).json()["items"]
    assert [(p["id"], p["employee_id"], p["name"], p["unit_id"]) for p in pending] == \
        [(made["id"], "H001", "Person H001", "PHC-1")]
    download = officer.get(f"{OFFICER_API}/{made['id']}/attachment")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")

    decided = officer.post(f"{OFFICER_API}/{made['id']}/decision", json={"decision": "approve", "remark": "seen"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["decided_by"], decided.json()["remark"]) == \
        ("approved", "phc.officer", "seen")
    again = officer.post(f"{OFFICER_API}/{made['id']}/decision", json={"decision": "reject", "remark": "no"})
    assert again.status_code == 409
    assert officer.get(OFFICER_API).json()["items"] == []
    assert [i["state"] for i in phone.get(API).json()["items"]] == ["approved"]

    row = muster_row(officer).json()["items"][0]
    assert row["codes"] == april("AAAA-ARPHAA-AAAAAA-AAAAAA-AAAA")
    by_code = row["totals"].pop("by_code")  # R is its own code, and also counted in P (present)
    assert {k: by_code[k] for k in ("P", "R", "HD", "A", "WO")} == {"P": 2, "R": 1, "HD": 1, "A": 23, "WO": 4}
    assert row["totals"] == {"present": 2, "late": 0, "half_day": 1, "absent": 23, "regularised": 1,
                             "working_days": 26, "present_days": 2.5}

    [csv_row] = list(csv.DictReader(io.StringIO(muster_row(officer, fmt="csv").content.decode("utf-8-sig"))))
    assert (csv_row["7"], csv_row["8"], csv_row["9"], csv_row["P"], csv_row["present_days"]) == \
        ("R", "P", "HD", "2", "2.5")
    sheet = load_workbook(io.BytesIO(muster_row(officer, fmt="xlsx").content), read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = values[4]
    h001 = next(r for r in values if r[0] == "H001")
    assert (h001[header.index("7")], h001[header.index("P")]) == ("R", 2)
    pdf = PdfReader(io.BytesIO(muster_row(officer, fmt="pdf").content))
    pdf_text = "".join(page.extract_text() for page in pdf.pages)
    assert "R: regularised: an approved correction of the day; counted as present (in P)" in " ".join(pdf_text.split())
    assert "".join(april("AAAA-ARPHAA-AAAAAA-AAAAAA-AAAA")) in pdf_text.replace(" ", "")
    payroll = admin.get("/api/v1/reports/payroll", params={"ddo_id": "DDO-H", "month": "2026-04"}).json()
    assert {r["employee"]["employee_id"]: r["totals"]["present_days"] for r in payroll["items"]}["H001"] == 2.5

    with api.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action.in_(
            ["regularisation.request", "regularisation.approve"])).order_by(AuditEntry.id)))
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("regularisation.request", "H001", "employee:H001"), ("regularisation.approve", "phc.officer", "employee:H001")]
    assert json.loads(entries[1].before)["state"] == "pending" and json.loads(entries[1].after)["state"] == "approved"


def register_day(client, day):
    response = client.get("/api/v1/reports/daily", params={"unit_id": "PHC-1", "date": day})
    assert response.status_code == 200, response.text
    [row] = response.json()["items"]
    return row["day"]


def listed_exceptions(client):
    response = client.get("/api/v1/reports/exceptions", params={"from": "2026-04-06", "to": "2026-04-09"})
    assert response.status_code == 200, response.text
    return [(e["date"], e["employee"]["employee_id"], e["kind"]) for e in response.json()["items"]]


def test_an_approved_day_reads_regularised_in_the_register_history_and_exceptions_as_in_the_muster(hub):
    api, phone, officer, *_ = hub
    before = register_day(officer, "2026-04-07")
    assert (before["status"], before["code"]) == ("absent", "A")
    assert listed_exceptions(officer) == [("2026-04-06", "H001", "missing"), ("2026-04-07", "H001", "missing")]

    for day in ("2026-04-07", "2026-04-09"):  # no punch, and a half day
        made = ask(phone, day)
        assert made.status_code == 200, made.text
        decided = officer.post(f"{OFFICER_API}/{made.json()['id']}/decision", json={"decision": "approve"})
        assert decided.status_code == 200, decided.text

    missed = register_day(officer, "2026-04-07")
    assert (missed["status"], missed["code"], missed["missing"], missed["exceptions"]) == \
        ("regularised", "R", False, [])
    half = register_day(officer, "2026-04-09")  # the punches stay visible: they are the evidence
    assert (half["status"], half["code"], half["in_at"][11:16], half["out_at"][11:16]) == \
        ("regularised", "R", "09:40", "11:00")
    history = officer.get("/api/v1/reports/employees/H001/history", params={"from": "2026-04-06", "to": "2026-04-09"})
    assert history.status_code == 200, history.text
    assert [(d["date"], d["status"], d["code"]) for d in history.json()["items"]] == [
        ("2026-04-06", "absent", "A"), ("2026-04-07", "regularised", "R"), ("2026-04-08", "present", "P"),
        ("2026-04-09", "regularised", "R")]
    assert listed_exceptions(officer) == [("2026-04-06", "H001", "missing")]  # the approved day is settled
    assert muster_row(officer).json()["items"][0]["codes"] == april("AAAA-ARPRAA-AAAAAA-AAAAAA-AAAA")
    # the phone still judges a new request by the punches alone: the approved day is already asked
    again = ask(phone, "2026-04-07")
    assert (again.status_code, again.json()["reason"]) == (409, "reg_already_requested")


def test_the_attachment_is_kept_owner_only_under_a_name_of_the_hubs_choosing(hub, tmp_path):
    api, phone, *_ = hub
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    asked = ask(phone, "2026-04-07", files={"attachment": ("../../etc/passwd.png", png, "image/png")})
    assert asked.status_code == 200, asked.text
    folder = tmp_path / "reg-files"
    [kept] = list(folder.iterdir())
    assert kept.name == regkit.stored_requests(api)[0].attachment_file and kept.suffix == ".png"
    assert kept.read_bytes() == png
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


BIG = b"%PDF-" + b"0" * (2 * 1024 * 1024)


@pytest.mark.parametrize("day, kind, reason, files, status, code", [
    ("2026-04-07", "kiosk_down", None, None, 422, "reg_reason_missing"),
    ("2026-04-07", "kiosk_down", "   ", None, 422, "reg_reason_missing"),
    ("2026-04-07", None, "dark screen", None, 422, "reg_kind_unknown"),
    ("2026-04-07", "kiosk_down", "dark screen", {"attachment": ("big.pdf", BIG, "application/pdf")}, 413,
     "reg_attachment_too_large"),
    ("2026-04-07", "kiosk_down", "dark screen", {"attachment": ("x.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
     415, "reg_attachment_type"),
    ("2026-05-06", "kiosk_down", "dark screen", None, 422, "reg_future_day"),
    ("2026-04-08", "kiosk_down", "dark screen", None, 409, "reg_day_present"),
    ("2026-04-12", "kiosk_down", "dark screen", None, 422, "reg_not_working_day"),
    ("2026-03-31", "kiosk_down", "dark screen", None, 422, "reg_too_old"),
    ("0001-01-01", "kiosk_down", "dark screen", None, 422, "reg_too_old"),
    ("7 April", "kiosk_down", "dark screen", None, 422, "reg_day_invalid"),
    (None, "kiosk_down", "dark screen", None, 422, "reg_day_invalid"),
])
def test_bad_input_is_refused_with_a_reason_and_writes_nothing(hub, tmp_path, day, kind, reason, files, status,
                                                               code):
    api, phone, *_ = hub
    answer = ask(phone, day, kind=kind, reason=reason, files=files)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["reason"] == code and body["message"]["en"] and body["message"]["hi"]
    assert regkit.stored_requests(api) == []
    assert not (tmp_path / "reg-files").exists() or list((tmp_path / "reg-files").iterdir()) == []
    with api.sessions() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action.like("regularisation.%"))).all() == []
        assert [r.reason for r in session.scalars(select(PhoneRefusal).where(PhoneRefusal.step == "regularise"))] \
            == [code]


def test_a_second_request_for_the_same_day_and_the_monthly_limit_are_refused(hub):
    api, phone, officer, *_ = hub
    assert ask(phone, "2026-04-07").status_code == 200
    second = ask(phone, "2026-04-07", kind="forgot_punch", reason="again")
    assert (second.status_code, second.json()["reason"]) == (409, "reg_already_requested")
    assert second.json()["details"] == {"day": "2026-04-07", "state": "pending"}
    assert ask(phone, "2026-04-09").status_code == 200   # the half day
    # rejected: that day may be asked again, but it still counts towards the month's three
    rejected_id = regkit.stored_requests(api)[0].id
    no_remark = officer.post(f"{OFFICER_API}/{rejected_id}/decision", json={"decision": "reject"})
    assert no_remark.status_code == 422
    assert officer.post(f"{OFFICER_API}/{rejected_id}/decision",
                        json={"decision": "reject", "remark": "the kiosk log shows it working"}).status_code == 200
    assert ask(phone, "2026-04-07", kind="forgot_punch", reason="I forgot, sorry").status_code == 200
    fourth = ask(phone, "2026-04-10")
    assert (fourth.status_code, fourth.json()["reason"]) == (409, "reg_month_limit")
    assert fourth.json()["details"] == {"limit": 3, "month": "2026-04"}
    assert ask(phone, "2026-05-04").status_code == 200  # another month has its own three
    assert [(r.day.isoformat(), r.state) for r in regkit.stored_requests(api)] == [
        ("2026-04-07", "rejected"), ("2026-04-09", "pending"), ("2026-04-07", "pending"), ("2026-05-04", "pending")]
    # the rejected request leaves the muster roll as it was
    row = muster_row(officer).json()["items"][0]
    assert row["codes"] == april("AAAA-AAPHAA-AAAAAA-AAAAAA-AAAA")


def test_only_officers_use_the_officer_api_and_phones_need_their_login(hub):
    api, phone, *_ = hub
    employee = api.user_client("h001.self", "employee", employee_id="H001")
    assert employee.get(OFFICER_API).status_code == 403
    assert api.client().get(OFFICER_API).status_code == 401
    anonymous = TestClient(api.app, base_url="https://hub.example")
    answer = anonymous.post(API, data={"day": "2026-04-07", "kind": "kiosk_down", "reason": "x"})
    assert (answer.status_code, answer.json()["reason"]) == (401, "session_missing")
    assert regkit.stored_requests(api) == []


def test_the_api_is_in_the_openapi_schema(hub):
    api, *_ = hub
    answer = api.client().get("/openapi.json")
    assert answer.status_code == 200, answer.text
    paths = answer.json()["paths"]
    assert {"/api/v1/regularisations", "/api/v1/regularisations/{request_id}/decision",
            "/api/v1/regularisations/{request_id}/attachment", "/phone/api/regularisations"} <= set(paths)
