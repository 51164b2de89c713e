"""Bulk employee import: a generated CSV of thousands of rows with every kind of bad row.

The report must name every bad line with its reason, nothing may be written
before the accept, and the accept writes the valid rows in one transaction
(a failure late in the file leaves the database as it was).
"""

import csv
import io
import secrets

import numpy as np
import pytest
import yaml
from sqlalchemy import func, select, text

from hub.accounts.models import AuditEntry
from hub.accounts.principal import cli
from hub.cli import main
from hub.db import Employee, EmployeeAllowedSite, FaceTemplate, Site
from hub.enrolment.gallery import sync_members
from hub.masterdata import employees, importer
from hub.masterdata.fields import EmployeeIn
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)
from tests.polling import wait_until

ROWS = 3000
HEADER = ["staff_number", "name", "category", "home_site", "allowed_sites", "unit", "ddo", "mobile"]
CATEGORIES = ["permanent", "contract", "outsourced", "security"]


def good_row(i: int) -> list[str]:
    site, unit, ddo = [("S-PHC1", "PHC-1", "DDO-H"), ("S-PHC2", "PHC-2", "DDO-H"), ("S-SCH1", "SCH-1", "DDO-E")][i % 3]
    allowed = "S-SCH1;S-PHC2" if i % 7 == 0 else ""
    return [f"N{i:05d}", f"Synthetic Person {i}", CATEGORIES[i % 4].upper() if i % 11 == 0 else CATEGORIES[i % 4],
            site, allowed, unit, ddo if i % 5 else "", f"+9197{i:08d}" if i % 2 else ""]


def generated_csv() -> tuple[bytes, dict[int, str]]:
    """The file, and {line number: the start of the reason expected} for each bad line."""
    rows = [good_row(i) for i in range(ROWS)]
    bad: dict[int, list[str]] = {}

    def spoil(i: int, reason: str, **cells: str) -> None:
        for column, value in cells.items():
            rows[i][HEADER.index(column)] = value
        bad.setdefault(i, []).append(reason)

    spoil(100, "malformed mobile", mobile="98765 43210")
    spoil(200, "malformed mobile", mobile="+9112345")
    spoil(301, "duplicate mobile: also on line 404", mobile="+919000000001")
    spoil(402, "duplicate mobile: also on line 303", mobile="+919000000001")
    spoil(501, "mobile already registered to employee H001", mobile="+919811111111")
    spoil(600, "duplicate staff number: also on line 2704", staff_number="N02701")
    spoil(2701, "duplicate staff number: also on line 602")
    spoil(700, "unknown home site 'S-MARS'", home_site="S-MARS")
    spoil(800, "unknown allowed site 'S-MOON'", allowed_sites="S-PHC1;S-MOON")
    spoil(900, "unknown unit 'PHC-9'", unit="PHC-9")
    spoil(1000, "unknown DDO 'DDO-X'", ddo="DDO-X")
    spoil(1100, "missing required fields: name", name="")
    spoil(1200, "missing required fields: staff_number, category", staff_number="", category="")
    spoil(1300, "bad category 'temporary'", category="temporary")
    spoil(2999, "unknown unit 'NOPE'", unit="NOPE")
    spoil(2999, "malformed mobile", mobile="0")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    text_ = out.getvalue()
    lines = text_.splitlines()
    lines[1500 + 2] += ",surplus"  # line 1502: a row with more fields than columns
    lines.insert(2000, "")            # blank lines are skipped, but still counted in line numbers
    expected = {(i + 2 if i < 1999 else i + 3): r for i, r in bad.items()}
    expected[1503] = ["more fields than the header has columns"]
    return ("\n".join(lines) + "\n").encode("utf-8"), expected


def seed(api: HubApi) -> None:
    """The org of hub_api_kit; H001 and H002 have mobiles, H002 has a face (in galleries)."""
    with api.sessions() as session:
        seed_org(session)
        employees.update_employee(session, "H001", employees.EmployeePatch(mobile="+919811111111"))
        employees.update_employee(session, "H002", employees.EmployeePatch(mobile="+919822222222"))
        session.add(FaceTemplate(employee_id="H002", source="1.jpg",
                                 encoding=np.random.default_rng(2).standard_normal(128).astype("<f4").tobytes()))
        session.flush()
        sync_members(session, ["H002"], content_changed=["H002"])
        session.commit()


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine)
    seed(api)
    yield api
    api.close()


def employee_count(hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Employee))


def test_validation_lists_every_bad_row_and_writes_nothing(hub):
    data, expected = generated_csv()
    with hub.sessions() as session:
        report = importer.validate(session, data)
    got = {p.line: list(p.reasons) for p in report.problems}
    assert sorted(got) == sorted(expected)
    for line, reasons in expected.items():
        assert len(got[line]) == len(reasons), (line, got[line])
        for want, have in zip(reasons, got[line]):
            assert have.startswith(want) or want in have, (line, have, want)
    assert (report.rows_total, len(report.valid), report.new) == (ROWS, ROWS - len(expected), ROWS - len(expected))
    assert employee_count(hub) == 4


def test_upload_report_then_accept_writes_only_the_valid_rows(hub):
    data, expected = generated_csv()
    admin = hub.machine
    uploaded = admin.post("/api/v1/imports/employees", files={"file": ("staff.csv", data, "text/csv")})
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()
    assert report["status"] == "pending" and report["valid_rows"] == ROWS - len(expected)
    assert {p["line"] for p in report["problems"]} == set(expected)
    assert employee_count(hub) == 4  # nothing written before the accept
    assert admin.get(f"/api/v1/imports/employees/{report['import_id']}").json()["problems"] == report["problems"]

    accepted = admin.post(f"/api/v1/imports/employees/{report['import_id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["created"], accepted.json()["status"]) == (ROWS - len(expected), "accepted")
    assert employee_count(hub) == 4 + ROWS - len(expected)
    with hub.sessions() as session:
        person = session.get(Employee, "N00007")
        assert (person.category, person.home_site_id, person.ddo_id, person.mobile) == (
            "security", "S-PHC2", "DDO-H", "+919700000007")
        allowed = session.scalars(select(EmployeeAllowedSite.site_id).where(
            EmployeeAllowedSite.employee_id == "N00007").order_by(EmployeeAllowedSite.site_id)).all()
        assert allowed == ["S-SCH1"]  # the home site is not listed again
        assert session.get(Employee, "N00011").category == "security"  # upper case in the file
        assert session.get(Employee, "N00100") is None and session.get(Employee, "N02701") is None
    again = admin.post(f"/api/v1/imports/employees/{report['import_id']}/accept")
    assert again.status_code == 409
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "employee.import")) == ROWS - len(expected)
    actions = [e["action"] for e in admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]]
    assert actions[:2] == ["import.accept", "employee.import"]
    first = admin.get("/api/v1/audit", params={"target": "employee:N00007"}).json()["items"][0]
    assert (first["before"], first["after"]["home_site_id"], first["after"]["allowed_site_ids"]) == (
        None, "S-PHC2", ["S-SCH1"])


def test_updates_swap_mobiles_and_transfers_bump_galleries(hub):
    data = (
        "staff_number,name,category,home_site,unit,mobile\n"
        "H001,Person H001,permanent,S-PHC1,PHC-1,+919822222222\n"   # takes H002's number ...
        "H002,Person H002,permanent,S-SCH1,SCH-1,+919833333333\n"   # ... who moves and takes a new one
        "N1,New Person,contract,S-PHC1,PHC-1,+919811111111\n"       # and H001's old number goes to a newcomer
        "E001,Person E001,permanent,S-SCH1,SCH-1,\n"                 # unchanged apart from no mobile: was none
    ).encode()
    with hub.sessions() as session:
        before = {s.site_id: s.gallery_version for s in session.scalars(select(Site))}
        result = importer.write(session, data, cli("tester"))
        session.commit()
    assert result.report.problems == [] and (result.created, result.updated, result.report.unchanged) == (1, 2, 1)
    assert result.versions == {"S-PHC2": before["S-PHC2"] + 1, "S-SCH1": before["S-SCH1"] + 1}
    with hub.sessions() as session:
        mobiles = {e.employee_id: e.mobile for e in session.scalars(select(Employee))}
    assert (mobiles["H001"], mobiles["H002"], mobiles["N1"]) == ("+919822222222", "+919833333333", "+919811111111")


def test_a_failure_late_in_the_write_leaves_nothing_written(tmp_path, capsys):
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                      "admin_token_file": str(token)}))
    engine = sqlite_engine(tmp_path)
    api = HubApi(tmp_path, engine)
    seed(api)
    data, expected = generated_csv()
    csv_file = tmp_path / "staff.csv"
    csv_file.write_bytes(data)

    assert main(["import", "employees", "--config", str(config), str(csv_file)]) == 0
    out, err = capsys.readouterr()
    assert "line 102 (N00100): malformed mobile '98765 43210'" in out
    assert f"rows: {ROWS}, valid: {ROWS - len(expected)}" in out and "nothing written" in out
    assert f"validating: {ROWS}/{ROWS} rows (100%)" in err and "validating: 500/3000" in err
    assert employee_count(api) == 4

    with engine.begin() as conn:  # the database refuses the last valid row: the whole import must go
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON employees WHEN NEW.employee_id = 'N02998' "
                          "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"))
    assert main(["import", "employees", "--config", str(config), str(csv_file), "--accept"]) == 1
    assert "refused by test trigger" in capsys.readouterr().err
    assert employee_count(api) == 4

    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    assert main(["import", "employees", "--config", str(config), str(csv_file), "--accept"]) == 0
    out, err = capsys.readouterr()
    assert f"imported: {ROWS - len(expected)} new, 0 updated" in out and f"writing: {ROWS - len(expected)}/" in err
    assert employee_count(api) == 4 + ROWS - len(expected)
    api.close()
    engine.dispose()


@pytest.mark.parametrize("content, problem", [
    (b"staff_number,name\nA,B\n", "header lacks required columns: category, home_site, unit"),
    (b"staff_number,name,category,home_site,unit,colour\n", "unknown columns: colour"),
    ("staff_number,name,category,home_site,unit\nA,Ré,permanent,S,U\n".encode("latin-1"), "not UTF-8"),
])
def test_a_bad_file_is_refused_whole(hub, content, problem):
    with hub.sessions() as session:
        report = importer.validate(session, content)
    assert report.valid == [] and any(p.startswith(problem) for p in report.file_problems), report.file_problems
    response = hub.machine.post("/api/v1/imports/employees", files={"file": ("x.csv", content, "text/csv")})
    assert response.status_code == 201 and response.json()["file_problems"]
    accept = hub.machine.post(f"/api/v1/imports/employees/{response.json()['import_id']}/accept")
    assert accept.status_code == 422
    assert employee_count(hub) == 4


def test_imported_rows_pass_the_same_checks_as_the_api(hub):
    """A valid import row is a valid EmployeeIn: the two ways in agree."""
    data, _ = generated_csv()
    with hub.sessions() as session:
        report = importer.validate(session, data)
    for row in report.valid[:300]:
        EmployeeIn(employee_id=row.employee_id, name=row.values["name"], category=row.values["category"],
                   home_site_id=row.values["home_site_id"], unit_id=row.values["unit_id"],
                   ddo_id=row.values.get("ddo_id"), mobile=row.values.get("mobile"),
                   allowed_site_ids=row.allowed or [])


@pytest.fixture
def sqlite_hub(tmp_path):
    engine = sqlite_engine(tmp_path)
    api = HubApi(tmp_path, engine)
    seed(api)
    yield api
    api.close()
    engine.dispose()


def finished(admin, job_id: str) -> dict:
    assert wait_until(lambda: admin.get(f"/api/v1/jobs/{job_id}").json()["state"] != "running", timeout_s=300)
    return admin.get(f"/api/v1/jobs/{job_id}").json()


def test_a_large_file_is_checked_and_accepted_in_jobs_that_report_progress(sqlite_hub):
    """10,000 rows through the background twins the dashboard uses: the job counts the rows, its result
    is the same report as the plain upload (every bad line, every reason), nothing is written before
    the accept, and a second accept is refused at once."""
    hub = sqlite_hub
    rows = [good_row(i) for i in range(10_000)]
    rows[4000][HEADER.index("unit")] = "PHC-9"
    rows[4000][HEADER.index("mobile")] = "12"
    rows[9999][HEADER.index("home_site")] = "S-MARS"
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    data = out.getvalue().encode()
    admin = hub.machine
    started = admin.post("/api/v1/imports/employees/background", files={"file": ("big.csv", data, "text/csv")})
    assert started.status_code == 202, started.text
    job = finished(admin, started.json()["job_id"])
    assert job["state"] == "done", job
    assert (job["stage"], job["done"], job["total"]) == ("validating", 10_000, 10_000)
    report = job["result"]
    assert report["import_id"] == started.json()["import_id"] and report["valid_rows"] == 9_998
    assert {p["line"]: len(p["reasons"]) for p in report["problems"]} == {4002: 2, 10_001: 1}
    plain = admin.post("/api/v1/imports/employees", files={"file": ("big.csv", data, "text/csv")}).json()
    assert plain["problems"] == report["problems"]
    assert employee_count(hub) == 4

    accepting = admin.post(f"/api/v1/imports/employees/{report['import_id']}/accept/background")
    assert accepting.status_code == 202, accepting.text
    job = finished(admin, accepting.json()["job_id"])
    assert job["state"] == "done", job
    assert (job["stage"], job["done"], job["total"]) == ("writing", 9_998, 9_998)
    assert job["result"]["created"] == 9_998 and employee_count(hub) == 4 + 9_998
    again = admin.post(f"/api/v1/imports/employees/{report['import_id']}/accept/background")
    assert again.status_code == 409
    assert admin.post("/api/v1/imports/employees/999/accept/background").status_code == 404
