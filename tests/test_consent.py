"""Notice and consent before enrolment, and withdrawal leading to erasure (issue 20 part 4, DPDP Act 2023).

Real parts: the hub API on SQLite and PostgreSQL (``any_engine``), real photos
from ../shared/faces through the real encoder, and ``hub enrol`` as the
command line runs it.
"""

import pytest
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder
from hub.accounts.models import AuditEntry
from hub.cli import main as hub_cli
from hub.db import FaceTemplate, GalleryMember
from hub.enrolment.consent import NOTICE_VERSION
from hub.enrolment.models import ConsentRecord
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture
def api(tmp_path, any_engine, encoder):  # noqa: F811
    hub = HubApi(tmp_path, any_engine, enrolment={"photo_dir": str(tmp_path / "kept")})
    hub.app.state.encoder_factory = lambda: encoder
    with hub.sessions() as s:
        seed_org(s)
        s.commit()
    yield hub
    hub.close()


def photo_files(faces_dir, person: str = "Barack_Obama", n: int = 2) -> list:
    return [("files", (p.name, p.read_bytes(), "image/jpeg"))
            for p in sorted((faces_dir / "dev" / person).glob("*.jpg"))[:n]]


def counts(api: HubApi, employee_id: str) -> tuple[int, int, int]:
    """(templates, consent records, live gallery memberships) of the person."""
    with api.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(table).where(*where)) for table, where in (
            (FaceTemplate, [FaceTemplate.employee_id == employee_id]),
            (ConsentRecord, [ConsentRecord.employee_id == employee_id]),
            (GalleryMember, [GalleryMember.employee_id == employee_id, GalleryMember.removed.is_(False)])))


def test_enrolment_is_refused_without_consent_and_nothing_is_written(api, faces_dir, tmp_path):
    admin = api.machine
    refused = admin.post("/api/v1/employees/H001/photos", files=photo_files(faces_dir))
    assert refused.status_code == 409
    assert "no consent on record" in refused.json()["detail"] and "H001" in refused.json()["detail"]
    assert counts(api, "H001") == (0, 0, 0)
    assert not (tmp_path / "kept").exists() or not any((tmp_path / "kept").rglob("*.jpg"))
    state = admin.get("/api/v1/employees/H001/consent").json()
    assert (state["active"], state["history"], state["current_notice_version"]) == (None, [], NOTICE_VERSION)


def test_consent_is_recorded_shown_and_then_enrolment_goes_through(api, faces_dir):
    admin = api.machine
    assert admin.post("/api/v1/employees/H001/consent", json={"language": "xx"}).status_code == 422
    assert admin.post("/api/v1/employees/NOBODY/consent", json={"language": "en"}).status_code == 404
    given = admin.post("/api/v1/employees/H001/consent", json={"language": "hi"})
    assert given.status_code == 201, given.text
    active = given.json()["active"]
    assert (active["language"], active["channel"], active["notice_version"], active["withdrawn_at"]) == \
        ("hi", "dashboard", NOTICE_VERSION, None)
    assert active["recorded_by"]  # the admin who recorded it
    again = admin.post("/api/v1/employees/H001/consent", json={"language": "en"}).json()
    assert again["active"]["id"] == active["id"] and len(again["history"]) == 1  # recording again changes nothing
    enrolled = admin.post("/api/v1/employees/H001/photos", files=photo_files(faces_dir))
    assert enrolled.status_code == 200 and len(enrolled.json()["accepted"]) == 2
    assert counts(api, "H001") == (2, 1, 1)
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "consent.record")).one()
    assert entry.target == "employee:H001"


def test_withdrawal_erases_photos_and_templates_and_enrolment_is_refused_again(api, faces_dir, tmp_path):
    admin = api.machine
    assert admin.post("/api/v1/employees/H001/consent/withdraw", json={"reason": "R-1"}).status_code == 409
    admin.post("/api/v1/employees/H001/consent", json={"language": "en"})
    assert admin.post("/api/v1/employees/H001/photos", files=photo_files(faces_dir)).status_code == 200
    assert any((tmp_path / "kept" / "H001").iterdir())
    withdrawn = admin.post("/api/v1/employees/H001/consent/withdraw", json={"reason": "letter of 3 Dec, ref R-7"})
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert body["active"] is None and body["history"][0]["withdrawn_at"] is not None
    assert counts(api, "H001") == (0, 1, 0)  # templates gone, out of every gallery; the record stays as evidence
    assert not (tmp_path / "kept" / "H001").exists()
    with api.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.target == "employee:H001")
                                 .order_by(AuditEntry.id)))
        erase = s.scalars(select(AuditEntry).where(AuditEntry.action == "employee.erase")).one()
    assert actions[-2:] == ["employee.erase", "consent.withdraw"]
    assert "consent withdrawn: letter of 3 Dec, ref R-7" in erase.after
    assert admin.post("/api/v1/employees/H001/photos", files=photo_files(faces_dir)).status_code == 409


def test_cli_enrol_refuses_people_without_consent_unless_paper_consent_is_attested(tmp_path, faces_dir, capsys):
    people = tmp_path / "people" / "Barack_Obama"
    people.mkdir(parents=True)
    (people / "1.jpg").symlink_to(sorted((faces_dir / "dev" / "Barack_Obama").glob("*.jpg"))[0])
    token = tmp_path / "admin.token"
    token.write_text("a-real-token-0123456789")
    config = tmp_path / "hub.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'hub.sqlite'}\nadmin_token_file: {token}\n")
    assert hub_cli(["init-db", "--config", str(config)]) == 0
    assert hub_cli(["site", "add", "--config", str(config), "site-a", "--name", "A"]) == 0
    capsys.readouterr()
    assert hub_cli(["enrol", "--config", str(config), "--site", "site-a", str(tmp_path / "people")]) == 0
    out = capsys.readouterr().out
    assert "Barack_Obama: refused: no consent on record" in out and "employees enrolled: 0 of 1" in out
    assert hub_cli(["enrol", "--config", str(config), "--site", "site-a", "--consent-given",
                    "--consent-language", "hi", str(tmp_path / "people")]) == 0
    assert "employees enrolled: 1 of 1" in capsys.readouterr().out
    from hub.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with make_session_factory(engine)() as s:
        row = s.scalars(select(ConsentRecord)).one()
        assert (row.employee_id, row.channel, row.language) == ("Barack_Obama", "paper", "hi")
        assert row.recorded_by.startswith("cli:")
    engine.dispose()
