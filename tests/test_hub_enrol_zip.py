"""Enrolment from a ZIP of staff_number/photo.jpg: the archive's bounds (no photos needed), then real
photos judged one by one in a background job the dashboard polls (../shared/faces)."""

import io
import zipfile

import pytest
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder
from hub.db import FaceTemplate
from hub.enrolment.photo_zip import ZipLimits, name_problem, read_zip
from hub.errors import InvalidInput
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine
from tests.polling import wait_until

NO_FACE = "Chan_Gailey/2.jpg"


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("name, reason", [
    ("E1/front.jpg", None),
    ("E1/FRONT.JPEG", None),
    ("../E1/front.jpg", "'..'"),
    ("E1/../../etc/front.jpg", "'..'"),
    ("/E1/front.jpg", "absolute"),
    ("C:/E1/front.jpg", "absolute"),
    ("E1\\front.jpg", "absolute"),
    ("front.jpg", "not in a staff-number folder"),
    ("batch/E1/front.jpg", "not in a staff-number folder"),
    ("E1/cv.pdf", "not a photo"),
    ("E1/.hidden.jpg", "hidden"),
    (("x" * 65) + "/front.jpg", "1-64 characters"),
])
def test_entry_names_must_be_staff_number_slash_photo(name, reason):
    found = name_problem(name)
    assert (found is None) if reason is None else (reason in found)


def test_bad_names_are_refused_one_by_one_and_the_rest_kept():
    contents = read_zip(zip_of({"E1/a.jpg": b"1", "../evil.jpg": b"2", "E2/b.png": b"3", "notes.txt": b"4",
                                "__MACOSX/E1/._a.jpg": b"5"}), ZipLimits())
    assert {k: [(p.file, p.data) for p in v] for k, v in contents.people.items()} == {
        "E1": [("a.jpg", b"1")], "E2": [("b.png", b"3")]}
    assert [name for name, _ in contents.refused] == ["../evil.jpg", "notes.txt"]


@pytest.mark.parametrize("data, limits, message", [
    (b"PK\x03\x04 not really", ZipLimits(), "not a ZIP file"),
    (b"", ZipLimits(), "not a ZIP file"),
    (zip_of({}), ZipLimits(), "holds no photos"),
    (zip_of({f"E{i}/a.jpg": b"x" for i in range(11)}), ZipLimits(max_entries=10), "holds 11 files; at most 10"),
    (zip_of({"E1/a.jpg": b"x" * 3000, "E2/a.jpg": b"x" * 3000}), ZipLimits(max_total_bytes=5000),
     "would unpack to 6000 bytes"),
    (zip_of({"E1/a.jpg": b"\0" * 5_000_000}, zipfile.ZIP_DEFLATED), ZipLimits(), "possible ZIP bomb"),
])
def test_a_refused_archive_is_refused_whole(data, limits, message):
    with pytest.raises(InvalidInput, match=message):
        read_zip(data, limits)


def test_an_entry_whose_header_lies_about_its_size_is_refused_not_trusted():
    data = bytearray(zip_of({"E1/big.jpg": b"y" * 4000, "E1/ok.jpg": b"z" * 10}))
    # lie in the central directory: declare the big entry as 10 bytes uncompressed
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x01\x02"))
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    contents = read_zip(bytes(data), ZipLimits(max_photo_bytes=1000))
    assert [p.file for p in contents.people["E1"]] == ["ok.jpg"]
    assert contents.refused and contents.refused[0][0] == "E1/big.jpg"


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture
def api(tmp_path, encoder):
    engine = sqlite_engine(tmp_path)
    hub = HubApi(tmp_path, engine, enrolment={"photo_dir": str(tmp_path / "kept")})
    hub.app.state.encoder_factory = lambda: encoder
    with hub.sessions() as s:
        seed_org(s)
        s.commit()
    yield hub
    hub.close()
    engine.dispose()


def templates(hub: HubApi) -> dict[str, int]:
    with hub.sessions() as s:
        return dict(s.execute(select(FaceTemplate.employee_id, func.count()).group_by(FaceTemplate.employee_id)).all())


@pytest.mark.faces
def test_a_zip_is_judged_photo_by_photo_in_a_job_and_each_verdict_is_reported(api, faces_dir):
    dev = faces_dir / "dev"
    data = zip_of({"H001/front.jpg": (dev / "Barack_Obama/1.jpg").read_bytes(),
                   "H001/side.jpg": (dev / "Barack_Obama/2.jpg").read_bytes(),
                   "H002/none.jpg": (dev / NO_FACE).read_bytes(),
                   "H002/broken.jpg": b"not an image",
                   "E001/one.jpg": (dev / "Chan_Gailey/1.jpg").read_bytes(),
                   "NOBODY/x.jpg": (dev / "Chan_Gailey/1.jpg").read_bytes(),
                   "E002/fine.jpg": (dev / "Chan_Gailey/2.jpg").read_bytes(),
                   "../escape.jpg": b"x"})
    admin = api.machine
    for employee_id in ("H001", "H002", "E001"):   # E002 has not consented: their photo is refused for that
        assert admin.post(f"/api/v1/employees/{employee_id}/consent", json={"language": "en"}).status_code == 201
    started = admin.post("/api/v1/enrolment/zip", files={"file": ("batch.zip", data, "application/zip")})
    assert started.status_code == 202, started.text
    assert {k: v for k, v in started.json().items() if k != "job_id"} == {"people": 5, "photos": 7,
                                                                           "refused_entries": 1}
    job_id = started.json()["job_id"]
    assert wait_until(lambda: admin.get(f"/api/v1/jobs/{job_id}").json()["state"] != "running", timeout_s=300)
    job = admin.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "done", job
    assert (job["done"], job["total"]) == (7, 7)
    verdicts = {i["file"]: (i["verdict"], i["note"].split(":")[0]) for i in job["items"]}
    assert verdicts == {
        "../escape.jpg": ("refused", "a path with '..' is refused"),
        "H001/front.jpg": ("accepted", ""), "H001/side.jpg": ("accepted", ""),
        "H002/none.jpg": ("refused", "no face found"), "H002/broken.jpg": ("refused", "unreadable image"),
        "E001/one.jpg": ("accepted", ""),
        "NOBODY/x.jpg": ("refused", "not in the master data"),
        "E002/fine.jpg": ("refused", "no consent on record")}
    assert job["result"]["enrolled"] == ["H001", "E001"] and job["result"]["accepted"] == 3
    assert templates(api) == {"H001": 2, "E001": 1}
    assert admin.get(f"/api/v1/jobs/{job_id}", params={"since": 7}).json()["items"] == [job["items"][-1]]
    audit = admin.get("/api/v1/audit", params={"action": "employee.enrol"}).json()["items"]
    assert {e["target"] for e in audit} == {"employee:H001", "employee:H002", "employee:E001", "employee:E002"}

    # what the person page reads: each template with a thumbnail of its kept photo, the refusals with reasons
    h001 = admin.get("/api/v1/employees/H001/photos").json()
    assert [(t["source"], t["photo_kept"]) for t in h001["templates"]] == [("front.jpg", True), ("side.jpg", True)]
    assert h001["refused"] == []
    thumb = admin.get(f"/api/v1/employees/H001/photos/{h001['templates'][0]['template_id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert max(Image.open(io.BytesIO(thumb.content)).size) == 160
    other = admin.get(f"/api/v1/employees/H002/photos/{h001['templates'][0]['template_id']}/thumbnail")
    assert other.status_code == 404  # another person's template is not reachable through H002
    h002 = admin.get("/api/v1/employees/H002/photos").json()
    assert h002["templates"] == []
    assert {r["file"]: r["reason"].split(":")[0] for r in h002["refused"]} == {
        "none.jpg": "no face found", "broken.jpg": "unreadable image"}
    assert admin.get("/api/v1/employees/NOBODY/photos").status_code == 404
    officer = api.user_client("officer", "unit_officer", unit_ids=["PHC-1"])
    assert officer.get("/api/v1/employees/H001/photos").status_code == 403


def test_a_refused_zip_answers_at_once_and_writes_nothing(api):
    admin = api.machine
    for data, message in ((b"not a zip", "not a ZIP file"),
                          (zip_of({"E1/a.jpg": b"\0" * 5_000_000}, zipfile.ZIP_DEFLATED), "ZIP bomb")):
        response = admin.post("/api/v1/enrolment/zip", files={"file": ("x.zip", data, "application/zip")})
        assert response.status_code == 422 and message in response.json()["detail"]
    assert templates(api) == {}
    assert api.client().get("/api/v1/jobs/nope").status_code == 401
    assert admin.get("/api/v1/jobs/nope").status_code == 404


def test_a_job_is_seen_only_by_the_admin_who_started_it(api):
    other = api.user_client("admin2", "admin")
    data = zip_of({"NOBODY/x.jpg": b"x"})
    job_id = api.machine.post("/api/v1/enrolment/zip", files={"file": ("x.zip", data, "application/zip")}).json()["job_id"]
    assert other.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert wait_until(lambda: api.machine.get(f"/api/v1/jobs/{job_id}").json()["state"] == "done")
