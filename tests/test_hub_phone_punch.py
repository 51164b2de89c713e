"""Phone punches through the real app: every refusal, the accepted punch as stored, flags,
and the refusal audit. Selfies are real photos from ../shared/faces/dev."""

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.db import Device, PunchRecord
from hub.phone.models import PhoneFrameHash, PhoneRefusal
from tests import phonekit as kit
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)
from tests.test_hub_phone_api import API, activate, agree, refused

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def templates(encoder, faces_dir):
    return kit.encodings(encoder, [kit.photo(faces_dir, kit.SELF, n) for n in (2, 3, 4)])


def jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def selfies(faces_dir):
    """Real photos: the employee, someone else, both side by side, and a frame with no face."""
    me = load_image_rgb(kit.photo(faces_dir, kit.SELF, 1))
    other = load_image_rgb(kit.photo(faces_dir, kit.OTHER, 1))
    small_me = np.asarray(Image.fromarray(me).resize((other.shape[1], other.shape[0])))
    return {"self": kit.photo(faces_dir, kit.SELF, 1).read_bytes(),
            "other": kit.photo(faces_dir, kit.OTHER, 1).read_bytes(),
            "two": jpeg(np.concatenate([small_me, other], axis=1)),
            "none": jpeg(np.full((240, 320, 3), 128, np.uint8))}


class Phone:
    """An activated phone talking to the hub."""

    def __init__(self, client, headers, selfies):
        self.client, self.headers, self.selfies = client, headers, selfies

    def nonce(self) -> str:
        return self.client.post(f"{API}/nonce", headers=self.headers).json()["nonce"]

    def punch(self, where=kit.HOME, accuracy=10.0, selfie="self", reason=None, nonce=None, data=None):
        form = {"lat": str(where[0]), "lon": str(where[1]), "accuracy": str(accuracy),
                "nonce": nonce or self.nonce(), **({"reason": reason} if reason is not None else {}), **(data or {})}
        body = self.selfies[selfie] if isinstance(selfie, str) else selfie
        files = {"selfie": ("selfie.jpg", body, "image/jpeg")} if body is not None else None
        return self.client.post(f"{API}/punch", headers=self.headers, data=form, files=files)


@pytest.fixture
def world(tmp_path, encoder, templates, selfies):
    """``world(home_policy=..., kiosk_status=..., consent=True, **phone_settings)`` -> (Phone, clock, session
    factory); the phone's person has accepted the first-use notice unless ``consent=False``."""
    engine = sqlite_engine(tmp_path)
    made = []

    def build(home_policy="always", kiosk_status=None, staff=kit.STAFF, mobile=kit.MOBILE, consent=True,
              **settings):
        if not made:
            kit.build_world(engine, templates, home_policy=home_policy)
        clock = kit.Clock()
        app = kit.make_app(tmp_path, engine, encoder, clock=clock, kiosk_status=kiosk_status, **settings)
        client = TestClient(app, base_url="https://hub.example", client=("198.51.100.7", 40000))
        made.append(client)
        headers = activate(client, tmp_path / "sms-outbox.jsonl", staff=staff, mobile=mobile)
        if consent:
            agree(client, headers)
        return Phone(client, headers, selfies), clock, app.state.session_factory

    yield build
    for client in made:
        client.close()
    engine.dispose()


def punches(factory) -> list[PunchRecord]:
    with factory() as session:
        return list(session.scalars(select(PunchRecord).order_by(PunchRecord.device_ts)))


def test_an_accepted_phone_punch_is_stored_like_a_kiosk_punch(world):
    phone, clock, factory = world()
    response = phone.punch(accuracy=12.5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] and body["site_id"] == "home" and body["flags"] == []
    assert "District Office" in body["message"]["en"] and "पंच दर्ज" in body["message"]["hi"]
    [row] = punches(factory)
    assert (row.id, row.method, row.site_id, row.employee_id) == (body["punch_id"], "phone", "home", kit.STAFF)
    assert (row.lat, row.lon, row.accuracy_m) == (*kit.HOME, 12.5)
    assert row.site_distance_m == pytest.approx(0, abs=0.5) and row.distance == pytest.approx(body["match_distance"])
    assert row.distance < 0.5 and row.reason is None and row.flags is None
    assert row.device_ts == clock.now and row.device_utc_offset_min == 330  # Asia/Kolkata
    payload = json.loads(row.payload)
    assert payload["method"] == "phone" and payload["position"]["accuracy_m"] == 12.5


def test_nonces_are_single_use_expiring_and_personal(world):
    phone, clock, factory = world()
    nonce = phone.nonce()
    assert phone.punch(nonce=nonce).status_code == 200
    refused(phone.punch(nonce=nonce), "nonce_reused")
    refused(phone.punch(nonce="n" * 43), "nonce_invalid")
    refused(phone.client.post(f"{API}/punch", headers=phone.headers, data={"lat": "1", "lon": "1", "accuracy": "5"}),
            "nonce_invalid")
    stale = phone.nonce()
    clock.advance(seconds=121)
    refused(phone.punch(nonce=stale), "nonce_expired")
    other, _, _ = world(staff="UP1002", mobile="+919800000002")
    refused(phone.punch(nonce=other.nonce()), "nonce_invalid")
    assert len(punches(factory)) == 1


def test_two_requests_racing_with_one_nonce_store_one_punch(world):
    """Over real HTTP (uvicorn threads), so both requests are in flight at once."""
    import httpx

    from tests.browser import ServedApp

    phone, _, factory = world()
    nonce = phone.nonce()
    form = {"lat": str(kit.HOME[0]), "lon": str(kit.HOME[1]), "accuracy": "10", "nonce": nonce}
    start = threading.Barrier(2)

    def send(url: str) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait(30)
            return client.post(f"{API}/punch", headers=phone.headers, data=form,
                               files={"selfie": ("s.jpg", phone.selfies["self"], "image/jpeg")})

    with ServedApp(phone.client.app) as served, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, [served.url] * 2))
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert [r.json()["reason"] for r in answers if r.status_code == 409] == ["nonce_reused"]
    assert len(punches(factory)) == 1


def test_a_refused_punch_spends_its_nonce(world):
    phone, _, _ = world()
    nonce = phone.nonce()
    refused(phone.punch(where=kit.FOREIGN, nonce=nonce), "outside_geofence")
    refused(phone.punch(nonce=nonce), "nonce_reused")


@pytest.mark.parametrize("where, accuracy, data, code, status", [
    (kit.HOME, 10.0, {"lat": "north"}, "position_invalid", 422),
    ((95.0, 80.9), 10.0, {}, "position_invalid", 422),
    (kit.HOME, 0.0, {}, "position_invalid", 422),
    (kit.HOME, 50.5, {}, "accuracy_too_low", 422),
    (kit.HOME, 2500.0, {}, "accuracy_too_low", 422),
    (kit.offset(kit.HOME, east_m=150), 10.0, {}, "outside_geofence", 403),
    (kit.FOREIGN, 10.0, {}, "outside_geofence", 403),  # a real site, but not one of the employee's
])
def test_position_refusals(world, where, accuracy, data, code, status):
    phone, _, factory = world()
    response = phone.punch(where=where, accuracy=accuracy, data=data)
    assert response.status_code == status
    refused(response, code)
    assert punches(factory) == []


def test_a_reason_is_required_away_from_home(world):
    phone, _, factory = world()
    body = refused(phone.punch(where=kit.ANNEX), "reason_required")
    assert body["details"]["site_name"] == "Block Office"
    refused(phone.punch(where=kit.ANNEX, reason="   "), "reason_required")
    refused(phone.punch(where=kit.ANNEX, reason="x" * 501), "reason_too_long")
    assert phone.punch(where=kit.ANNEX, reason="  Block   review ").status_code == 200
    assert [(p.site_id, p.reason) for p in punches(factory)] == [("annex", "Block review")]


@pytest.mark.parametrize("policy, kiosks, code", [
    ("never", [], "phone_not_allowed_at_site"),
    ("kiosk_down", [("online", 0)], "kiosk_available"),
    ("kiosk_down", [("offline", 600), ("online", 10)], "kiosk_available"),
    ("kiosk_down", [("offline", 600), ("online", 900)], None),   # the "online" one is stale
    ("kiosk_down", [("offline", 600)], None),
])
def test_site_phone_policy(world, policy, kiosks, code):
    now = datetime.now().astimezone()
    known = {"home": [(status, now - timedelta(seconds=age)) for status, age in kiosks]}
    phone, clock, factory = world(home_policy=policy, kiosk_status=lambda _session, site_id: known.get(site_id, []))
    clock.now = now
    response = phone.punch()
    if code is None:
        assert response.status_code == 200, response.text
    else:
        refused(response, code)
    listed = phone.client.get(f"{API}/sites", headers=phone.headers).json()
    assert [i["phone"] for i in listed["items"] if i["site_id"] == "home"] == [code]


def test_kiosk_down_fails_closed_while_the_hub_has_no_kiosk_status(world):
    phone, _, factory = world(home_policy="kiosk_down")  # the default status source
    assert phone.punch().status_code == 200  # no kiosk registered at the site: nothing to fall back from
    with factory() as session:
        session.add(Device(device_id="kiosk-home-1", site_id="home", public_key_b64="A" * 44))
        session.commit()
    refused(phone.punch(), "kiosk_available")


def test_impossible_travel_since_the_last_punch(world):
    phone, clock, factory = world()
    with factory() as session:  # a kiosk punch at the far site (80 km) ten minutes ago
        session.add(PunchRecord(
            id="0190f3c4-0000-7000-8000-000000000001", device_id="kiosk-far-1", site_id="far",
            employee_id=kit.STAFF, device_ts=clock.now - timedelta(minutes=10), device_utc_offset_min=330,
            received_at=clock.now, method="face", distance=0.4, margin=0.1, gallery_version=1, seq=1, payload="{}"))
        session.commit()
    body = refused(phone.punch(), "impossible_travel")
    assert body["details"] == {"distance_km": 80.0, "minutes": 10}
    clock.advance(minutes=30)   # 80 km in 40 minutes: 120 km/h, possible by road
    assert phone.punch().status_code == 200
    clock.advance(minutes=20)   # and back from home to the far site in 20 minutes: not
    refused(phone.punch(where=kit.FAR, reason="Tehsil inspection"), "impossible_travel")


@pytest.mark.parametrize("selfie, code, status", [
    (None, "selfie_missing", 422),
    (b"", "selfie_missing", 422),
    (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "selfie_invalid", 422),
    (b"\xff\xd8\xff" + b"not really a jpeg" * 10, "selfie_invalid", 422),
    ("none", "no_face", 422),
    ("two", "several_faces", 422),
    ("other", "face_mismatch", 403),
])
def test_selfie_refusals(world, selfie, code, status):
    phone, _, factory = world()
    response = phone.punch(selfie=selfie)
    assert response.status_code == status, response.text
    refused(response, code)
    assert punches(factory) == []


def test_a_selfie_larger_than_the_limit_is_refused(world):
    phone, _, _ = world(max_selfie_bytes=100_000)
    assert len(phone.selfies["self"]) > 100_000
    assert phone.punch().status_code == 413


def test_not_enrolled(world):
    world()
    phone, _, _ = world(staff="UP1002", mobile="+919800000002")
    refused(phone.punch(), "not_enrolled")


def test_a_punch_without_consent_on_record_is_refused_and_nothing_is_kept(world, tmp_path):
    """A client that skips the first-use notice cannot punch with a selfie; once the person accepts the
    notice the same phone punches, and a withdrawal stops it again."""
    phone, _, factory = world(consent=False)
    body = refused(phone.punch(), "consent_missing")
    assert phone.punch().status_code == 403
    assert "notice" in body["message"]["en"] and "सूचना" in body["message"]["hi"]
    with factory() as session:
        assert punches(factory) == [] and session.scalar(select(func.count()).select_from(PhoneFrameHash)) == 0
        assert set(session.scalars(select(PhoneRefusal.reason))) == {"consent_missing"}
    agree(phone.client, phone.headers, language="hi")
    assert phone.punch().status_code == 200
    admin = {"Authorization": f"Bearer {(tmp_path / 'admin.token').read_text().strip()}"}
    withdrawn = phone.client.post(f"/api/v1/employees/{kit.STAFF}/consent/withdraw", headers=admin,
                                  json={"reason": "request 7"})
    assert withdrawn.status_code == 200, withdrawn.text
    refused(phone.punch(), "consent_missing")
    assert len(punches(factory)) == 1


def test_marginal_punches_are_accepted_and_flagged(world):
    phone, _, factory = world(marginal_match_band=0.45)   # every real match is within 0.45 of 0.5
    body = phone.punch(where=kit.offset(kit.HOME, north_m=85), accuracy=45.0).json()
    assert body["ok"]
    assert body["flags"] == ["phone_marginal_match", "phone_marginal_accuracy", "phone_marginal_position"]
    assert punches(factory)[0].flags == "phone_marginal_match,phone_marginal_accuracy,phone_marginal_position"


def test_the_site_list_gives_distances_and_asks_for_a_reason_away_from_home(world):
    phone, _, _ = world()
    near_annex = phone.client.get(f"{API}/sites", headers=phone.headers,
                                  params={"lat": kit.ANNEX[0], "lon": kit.ANNEX[1], "accuracy": 8}).json()
    assert [(i["site_id"], round(i["distance_m"]), i["inside"], i["home"]) for i in near_annex["items"]] == [
        ("annex", 0, True, False), ("home", 300, False, True), ("far", 79700, False, False)]
    assert near_annex["punch_site_id"] == "annex" and near_annex["needs_reason"] is True
    at_home = phone.client.get(f"{API}/sites", headers=phone.headers,
                               params={"lat": kit.HOME[0], "lon": kit.HOME[1], "accuracy": 8}).json()
    assert at_home["punch_site_id"] == "home" and at_home["needs_reason"] is False
    nowhere = phone.client.get(f"{API}/sites", headers=phone.headers).json()
    assert nowhere["punch_site_id"] is None and {i["distance_m"] for i in nowhere["items"]} == {None}


def test_refusals_are_audited_for_the_admin(world, tmp_path):
    phone, _, factory = world()
    refused(phone.punch(where=kit.FOREIGN), "outside_geofence")
    refused(phone.punch(selfie="other"), "face_mismatch")
    token = (tmp_path / "admin.token").read_text().strip()
    listed = phone.client.get("/api/v1/phone/refusals", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["step"], i["reason"], i["employee_id"]) for i in items[:2]] == [
        ("punch", "face_mismatch", kit.STAFF), ("punch", "outside_geofence", kit.STAFF)]
    assert items[1]["lat"] == pytest.approx(kit.FOREIGN[0]) and items[1]["address"] == "198.51.100.7"
    assert phone.client.get("/api/v1/phone/refusals").status_code == 401
    with factory() as session:
        assert session.scalar(select(PhoneRefusal.details).where(PhoneRefusal.reason == "outside_geofence"))


def test_activation_and_punch_on_every_database(any_engine, tmp_path, encoder, templates, selfies):  # noqa: F811
    kit.build_world(any_engine, templates)
    app = kit.make_app(tmp_path, any_engine, encoder)
    with TestClient(app, base_url="https://hub.example") as client:
        phone = Phone(client, activate(client, tmp_path / "sms-outbox.jsonl"), selfies)
        agree(client, phone.headers)
        nonce = phone.nonce()
        assert phone.punch(nonce=nonce).status_code == 200
        refused(phone.punch(nonce=nonce), "nonce_reused")
        refused(phone.punch(selfie="other"), "face_mismatch")
        assert [p.method for p in punches(app.state.session_factory)] == ["phone"]
