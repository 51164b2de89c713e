"""Enrolment from real photos (../shared/faces): folder and API upload, quality gates with reasons,
versions, photos kept at the hub and purged after the retention period."""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.cli import main
from hub.config import EnrolmentConfig
from hub.db import Employee, FaceTemplate, make_session_factory, utcnow
from hub.devices import registry
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import encode_photo, enrol_folder
from hub.enrolment.photo_quality import judge
from hub.errors import NotFound
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine

pytestmark = pytest.mark.faces

TWO_FACES = "Antonio_Banderas/1.jpg"  # a second, smaller face in the background
NO_FACE = "Chan_Gailey/2.jpg"         # the detector finds no face


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


PAPER = ConsentTaken("paper", "test")  # consent forms signed on paper (hub/enrolment/consent.py)


def link(src: Path, dst: Path) -> None:
    if not src.exists():
        pytest.skip(f"{src} is not in the shared photos")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


@pytest.fixture
def people(tmp_path, faces_dir) -> Path:
    dev, root = faces_dir / "dev", tmp_path / "people"
    link(dev / TWO_FACES, root / "Antonio_Banderas" / "1.jpg")
    link(dev / "Antonio_Banderas/2.jpg", root / "Antonio_Banderas" / "2.JPG")
    link(dev / "Chan_Gailey/1.jpg", root / "Chan_Gailey" / "1.jpg")
    link(dev / NO_FACE, root / "Chan_Gailey" / "2.jpg")
    (root / "Chan_Gailey" / "broken.jpg").write_text("not an image")
    (root / "Chan_Gailey" / "notes.txt").write_text("ignored: not a photo")
    (root / "Empty_Person").mkdir()
    link(dev / "Chan_Gailey/1.jpg", root / ("x" * 65) / "1.jpg")
    (root / "README.txt").write_text("ignored: not a folder")
    return root


@pytest.fixture
def session(tmp_path):
    engine = sqlite_engine(tmp_path)
    with make_session_factory(engine)() as s:
        registry.add_site(s, "site-a", "A")
        s.commit()
        yield s
    engine.dispose()


def test_enrol_accepts_faces_refuses_the_rest_with_reasons(session, people, encoder):
    report = enrol_folder(session, encoder, people, "site-a", consent_taken=PAPER)
    session.commit()
    by_id = {p.employee_id: p for p in report.people}
    assert sorted(by_id) == ["Antonio_Banderas", "Chan_Gailey", "Empty_Person", "x" * 65]

    antonio = by_id["Antonio_Banderas"]
    assert antonio.name == "Antonio Banderas" and antonio.refused == []
    assert [(a.file, a.note) for a in antonio.accepted] == [("1.jpg", "2 faces; used the largest"), ("2.JPG", "")]
    chan = by_id["Chan_Gailey"]
    assert [a.file for a in chan.accepted] == ["1.jpg"]
    assert [(r.file, r.note.split(":")[0]) for r in chan.refused] == [
        ("2.jpg", "no face found"), ("broken.jpg", "unreadable image")]
    assert by_id["Empty_Person"].problem.startswith("no photos")
    assert "employee id" in by_id["x" * 65].problem and by_id["x" * 65].accepted == []

    assert (report.gallery_version, report.changed) == (1, ["Antonio_Banderas", "Chan_Gailey"])
    assert (report.photos_accepted, report.photos_refused, len(report.enrolled)) == (3, 2, 2)

    templates = session.scalars(select(FaceTemplate).order_by(FaceTemplate.employee_id, FaceTemplate.source)).all()
    assert [(t.employee_id, t.source, len(t.encoding)) for t in templates] == [
        ("Antonio_Banderas", "1.jpg", 512), ("Antonio_Banderas", "2.JPG", 512), ("Chan_Gailey", "1.jpg", 512)]
    a1, a2 = (np.frombuffer(t.encoding, "<f4") for t in templates[:2])
    assert np.linalg.norm(a1 - a2) < 0.6  # the largest face of the group photo is the same man
    assert {e.employee_id: e.home_site_id for e in session.scalars(select(Employee))} == {
        "Antonio_Banderas": "site-a", "Chan_Gailey": "site-a"}


def test_enrolling_the_same_folder_again_changes_nothing(session, people, encoder):
    enrol_folder(session, encoder, people, "site-a", consent_taken=PAPER)
    session.commit()
    again = enrol_folder(session, encoder, people, "site-a", consent_taken=PAPER)
    session.commit()
    assert (again.gallery_version, again.changed) == (1, [])
    assert len(session.scalars(select(FaceTemplate)).all()) == 3


def test_enrol_needs_a_known_site_and_an_existing_folder(session, people, encoder, tmp_path):
    with pytest.raises(NotFound, match="unknown site"):
        enrol_folder(session, encoder, people, "site-zz", consent_taken=PAPER)
    with pytest.raises(NotFound, match="folder not found"):
        enrol_folder(session, encoder, tmp_path / "nowhere", "site-a", consent_taken=PAPER)


def test_cli_enrol_prints_the_report(tmp_path, people, capsys):
    config = tmp_path / "hub.yaml"
    (tmp_path / "admin.token").write_text("a-real-token-0123456789")
    config.write_text(f"database_url: sqlite:///{tmp_path / 'cli.sqlite'}\nadmin_token_file: {tmp_path / 'admin.token'}\n")
    assert main(["init-db", "--config", str(config)]) == 0
    assert main(["site", "add", "--config", str(config), "site-a", "--name", "Office A"]) == 0
    capsys.readouterr()
    assert main(["enrol", "--config", str(config), "--site", "site-a", "--consent-given", str(people)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Antonio_Banderas (Antonio Banderas): 2 accepted, 0 refused" in out
    assert "  accepted 1.jpg: 2 faces; used the largest" in out
    assert "  refused 2.jpg: no face found" in out
    assert "Empty_Person: refused: no photos (.jpg, .jpeg, .png)" in out
    assert out[-5:] == ["employees enrolled: 2 of 4", "photos accepted: 3", "photos refused: 2",
                        "gallery version of site-a: 1", "employees changed: 2"]
    kept = sorted(p.relative_to(tmp_path / "photos").parts[0] for p in (tmp_path / "photos").rglob("*.jpg"))
    assert kept == ["Antonio_Banderas", "Antonio_Banderas", "Chan_Gailey"]  # beside the SQLite file by default

    assert main(["enrol", "--config", str(config), "--consent-given", str(people)]) == 0  # no --site: known people only
    assert capsys.readouterr().out.splitlines()[-2:] == ["photos refused: 2", "employees changed: 0"]


def test_without_a_site_only_known_employees_are_enrolled(session, people, encoder):
    report = enrol_folder(session, encoder, people, None, consent_taken=PAPER)
    assert report.enrolled == [] and report.versions == {}
    assert {p.employee_id: p.problem for p in report.people}["Chan_Gailey"].startswith("not in the master data")


def small_copy(src: Path, dst: Path, scale: float) -> None:
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as img:
        img.resize((int(img.width * scale), int(img.height * scale))).save(dst)


@pytest.mark.parametrize("limit, value, reason", [
    ("min_face_px", 156, "face too small: 155 px high, at least 156 needed (come closer)"),
    ("min_brightness", 120, "too dark: brightness 113, at least 120 needed"),
    ("max_brightness", 100, "too bright: brightness 113, at most 100 allowed"),
    ("min_sharpness", 200, "too blurred: sharpness 107.4, at least 200.0 needed (hold still)"),
])
def test_each_quality_gate_refuses_with_its_reason(faces_dir, encoder, limit, value, reason):
    """Measured on a real photo (face 155 px, brightness 113, sharpness 107); each gate set just past it."""
    photo = faces_dir / "dev" / "Chan_Gailey" / "1.jpg"
    rgb = load_image_rgb(photo)
    boxes = encoder.detect(rgb)
    assert judge(rgb, boxes, EnrolmentConfig()).refusal is None
    verdict = judge(rgb, boxes, EnrolmentConfig(**{limit: value}))
    assert verdict.refusal == reason


def test_a_real_photo_taken_too_far_away_is_refused(faces_dir, encoder, tmp_path):
    small_copy(faces_dir / "dev" / "Antonio_Banderas" / "2.jpg", tmp_path / "far.png", 0.45)
    encoding, note = encode_photo(encoder, tmp_path / "far.png", EnrolmentConfig())
    assert encoding is None and note.startswith("face too small:") and note.endswith("(come closer)")


@pytest.fixture
def api(tmp_path, encoder):
    engine = sqlite_engine(tmp_path)
    hub = HubApi(tmp_path, engine, enrolment={"photo_dir": str(tmp_path / "kept"), "photo_retention_days": 30})
    hub.app.state.encoder_factory = lambda: encoder
    with hub.sessions() as s:
        seed_org(s)
        s.commit()
    yield hub
    hub.close()
    engine.dispose()


def test_api_upload_checks_each_photo_keeps_the_good_ones_and_bumps_the_galleries(api, faces_dir, tmp_path):
    dev = faces_dir / "dev"
    small_copy(dev / "Antonio_Banderas" / "2.jpg", tmp_path / "far.png", 0.45)
    files = [("files", ("front.jpg", (dev / "Barack_Obama" / "1.jpg").read_bytes(), "image/jpeg")),
             ("files", ("side.jpg", (dev / "Barack_Obama" / "2.jpg").read_bytes(), "image/jpeg")),
             ("files", ("none.jpg", (dev / NO_FACE).read_bytes(), "image/jpeg")),
             ("files", ("far.png", (tmp_path / "far.png").read_bytes(), "image/png")),
             ("files", ("cv.pdf", b"%PDF-1.4", "application/pdf")),
             ("files", ("broken.jpg", b"not an image", "image/jpeg"))]
    admin = api.machine
    assert admin.post("/api/v1/employees/NOBODY/photos", files=files[:1]).status_code == 404
    assert admin.post("/api/v1/employees/H001/consent", json={"language": "en"}).status_code == 201
    response = admin.post("/api/v1/employees/H001/photos", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["file"] for p in body["accepted"]] == ["front.jpg", "side.jpg"]
    refused = {p["file"]: p["note"].split(":")[0] for p in body["refused"]}
    assert refused == {"none.jpg": "no face found", "far.png": "face too small", "cv.pdf": "not a photo",
                       "broken.jpg": "unreadable image"}
    assert body["changed"] is True and body["gallery_versions"] == {"S-PHC1": 1}
    kept = sorted((tmp_path / "kept" / "H001").iterdir())
    assert len(kept) == 2 and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in kept)

    again = admin.post("/api/v1/employees/H001/photos", files=files[:2]).json()
    assert (again["changed"], again["gallery_versions"]) == (False, {})
    detail = admin.get("/api/v1/employees/H001").json()
    assert (detail["templates"], detail["gallery_sites"]) == (2, ["S-PHC1"])
    entry = admin.get("/api/v1/audit", params={"action": "employee.enrol"}).json()["items"][-1]
    assert entry["target"] == "employee:H001" and entry["after"]["accepted"] == ["front.jpg", "side.jpg"]


def test_kept_photos_are_purged_after_the_retention_period_and_templates_stay(api, faces_dir, tmp_path, capsys):
    for employee_id in ("H001", "H002"):
        assert api.machine.post(f"/api/v1/employees/{employee_id}/consent", json={"language": "hi"}).status_code == 201
    photo = (faces_dir / "dev" / "Barack_Obama" / "1.jpg").read_bytes()
    assert api.machine.post("/api/v1/employees/H001/photos",
                            files=[("files", ("a.jpg", photo, "image/jpeg"))]).status_code == 200
    photo2 = (faces_dir / "dev" / "Barack_Obama" / "2.jpg").read_bytes()
    assert api.machine.post("/api/v1/employees/H002/photos",
                            files=[("files", ("b.jpg", photo2, "image/jpeg"))]).status_code == 200
    with api.sessions() as s:  # H001's photo was taken 31 days ago, H002's today
        old = s.scalar(select(FaceTemplate).where(FaceTemplate.employee_id == "H001"))
        old.photo_stored_at = utcnow() - timedelta(days=31)
        old_file = tmp_path / "kept" / old.photo_file
        s.commit()
    assert old_file.exists()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database_url": api.engine.url.render_as_string(hide_password=False),
                                      "admin_token_file": str(tmp_path / "admin.token"),
                                      "enrolment": {"photo_dir": str(tmp_path / "kept"), "photo_retention_days": 30}}))
    assert main(["purge-photos", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "photos deleted: 1 (kept for 30 days)"
    assert not old_file.exists() and len(list((tmp_path / "kept" / "H002").iterdir())) == 1
    with api.sessions() as s:
        templates = {t.employee_id: t for t in s.scalars(select(FaceTemplate))}
    assert templates["H001"].photo_file is None and len(templates["H001"].encoding) == 512
    assert templates["H002"].photo_file is not None
    assert main(["purge-photos", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "photos deleted: 0 (kept for 30 days)"
