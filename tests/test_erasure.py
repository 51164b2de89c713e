"""Erasure of a person's biometric data at the hub and in every kiosk's encrypted cache (issue 20, part 4).

Real parts throughout: photos enrolled through the API, the real ingest
worker and two real kiosk links (``gallery.key_source: hub``) over a real
Mosquitto, ``hub erase`` as the command line runs it, and the API action.
Each kiosk's cache file is then opened with the key the hub derives for it
(hub/enrolment/gallery_keys.py) and searched for the erased person's templates.
"""

import getpass
import secrets
import struct
import threading
from datetime import datetime, timezone

import numpy as np
import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select

from biometrics.encoder import FaceEncoder
from hub.accounts.models import AuditEntry
from hub.cli import main as hub_cli
from hub.db import FaceTemplate, PunchRecord, utcnow
from hub.enrolment.gallery_keys import device_gallery_key, load_or_create_secret
from hub.ingest.worker import IngestWorker
from hub.phone.models import PhoneFrameHash
from kiosk.config import KioskConfig
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import HubGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore, People, decode_payload
from kiosk.link import MqttLink
from kiosk.outbox import Outbox
from protocol import messages, signing
from tests.hub_api_kit import HubApi, punch_record, seed_org
from tests.hub_db import sqlite_engine

pytestmark = [pytest.mark.broker, pytest.mark.faces]

WAIT_S = 30.0
# H001 (home S-PHC1, also allowed at S-PHC2) and H002 (home S-PHC2), with photos of two real people
FACES = {"H001": "Barack_Obama", "H002": "Atal_Bihari_Vajpayee"}
KIOSKS = {"K-PHC1": "S-PHC1", "K-PHC2": "S-PHC2"}


class Kiosk:
    """One kiosk's gallery sync as `kiosk run` wires it: link, hub-sent key, encrypted cache."""

    def __init__(self, tmp_path, port: int, device_id: str, site_id: str) -> None:
        self.device_id, self.dir = device_id, tmp_path / device_id
        self.dir.mkdir()
        self.signing_key = signing.generate_private_key()
        signing.write_private_key(self.signing_key, self.dir / "device.key")
        config = KioskConfig(device_id=device_id, site_id=site_id, state_dir=self.dir / "state",
                             signing_key_file=self.dir / "device.key", mqtt={"port": port})
        self.key = HubGalleryKey(device_id, self.signing_key)
        self.cache_file = self.dir / "gallery.bin"
        self.cache = GalleryCache(site_id, EncryptedGalleryStore(self.cache_file, self.key))
        self.outbox = Outbox(self.dir / "outbox.sqlite")
        self.link = MqttLink(config, self.outbox, sw_version="test", gallery_version=lambda: self.cache.version,
                             on_gallery=self.cache.apply, gallery_key=self.key, on_gallery_unlocked=self.cache.load)

    @property
    def public_key(self) -> str:
        return signing.public_key_b64(self.signing_key)

    def report_health(self) -> None:
        """What a running kiosk does every few seconds; the hub answers a kiosk that is behind with its delta."""
        self.link.gallery_applied.clear()
        assert self.link.publish_health(messages.Health(
            ts=datetime.now(timezone.utc), uptime_s=1.0, outbox_depth=0, gallery_version=self.cache.version,
            sw_version="test"))
        assert self.link.gallery_applied.wait(WAIT_S), f"the hub pushed no delta to {self.device_id}"

    def cache_plaintext(self, secret: bytes) -> bytes:
        """The cache file opened with the key the hub derives for this kiosk (format 2 header)."""
        blob = self.cache_file.read_bytes()
        fixed = struct.Struct("<8sHBQH")
        header_len = fixed.size + fixed.unpack_from(blob)[4]
        key = device_gallery_key(secret, self.device_id, signing.public_key_bytes(self.public_key))
        return AESGCM(key).decrypt(blob[header_len:header_len + 12], blob[header_len + 12:], blob[:header_len])

    def close(self) -> None:
        self.link.stop()
        self.outbox.close()


@pytest.fixture
def hub(tmp_path, broker):
    engine = sqlite_engine(tmp_path)
    api = HubApi(tmp_path, engine, mqtt={"port": broker.port, "client_id": f"hub-{secrets.token_hex(4)}"},
                 gallery_key_secret_file=str(tmp_path / "hub-etc" / "gallery-key.secret"))
    api.app.state.encoder_factory = FaceEncoder
    with api.sessions() as session:
        seed_org(session)
        session.commit()
    worker = IngestWorker(api.config, api.sessions)
    worker.start()
    assert worker.ready.wait(WAIT_S), "ingest worker did not subscribe"
    yield api, worker
    worker.stop()
    api.close()
    engine.dispose()


def wait_until(check, what: str) -> None:
    tick = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if check():
            return
        tick.wait(0.05)
    raise AssertionError(what)


def hub_config_file(tmp_path, api: HubApi) -> str:
    """The same hub as a config file, for `hub erase --config`."""
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                    "admin_token_file": str(tmp_path / "admin.token"),
                                    "enrolment": {"photo_dir": str(tmp_path / "photos")},
                                    "gallery_key_secret_file": str(tmp_path / "hub-etc" / "gallery-key.secret")}))
    return str(path)


def templates_of(cache_people: People) -> dict[str, list[bytes]]:
    return {e: [np.asarray(t, "<f4").tobytes() for t in ts] for e, (_n, ts) in cache_people.items()}


def hub_state(api: HubApi, employee_id: str) -> tuple[list[bytes], int]:
    with api.sessions() as session:
        encodings = list(session.scalars(select(FaceTemplate.encoding).where(FaceTemplate.employee_id == employee_id)))
        punches = session.scalar(select(func.count()).where(PunchRecord.employee_id == employee_id))
    return encodings, punches


def erase_audit(api: HubApi, employee_id: str) -> list[AuditEntry]:
    with api.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "employee.erase", AuditEntry.target == f"employee:{employee_id}")
            .order_by(AuditEntry.id)))


def test_erasure_removes_photos_templates_and_every_kiosk_cache_copy_and_keeps_attendance(
        hub, broker, faces_dir, tmp_path):
    api, worker = hub
    admin = api.machine
    assert admin.patch("/api/v1/employees/H001", json={"allowed_site_ids": ["S-PHC2"]}).status_code == 200
    for employee_id, person in FACES.items():
        photos = [("files", (p.name, p.read_bytes(), "image/jpeg"))
                  for p in sorted((faces_dir / "dev" / person).glob("*.jpg"))[:2]]
        assert admin.post(f"/api/v1/employees/{employee_id}/consent", json={"language": "en"}).status_code == 201
        assert len(admin.post(f"/api/v1/employees/{employee_id}/photos", files=photos).json()["accepted"]) == 2
    with api.sessions() as session:
        session.add_all([punch_record("H001", "S-PHC1", "09:02"), punch_record("H002", "S-PHC2", "09:05")])
        session.add_all([PhoneFrameHash(sha256=f"{n:064x}", employee_id=e, punch_id=f"phone-{n}", at=utcnow())
                         for n, e in enumerate(["H001", "H002"])])   # the replay guard of their phone punches
        session.commit()
    h001_templates, _ = hub_state(api, "H001")
    assert len(h001_templates) == 2 and any((tmp_path / "photos").rglob("*.jpg"))

    kiosks = [Kiosk(tmp_path, broker.port, d, s) for d, s in KIOSKS.items()]
    try:
        for kiosk in kiosks:
            assert admin.post("/api/v1/devices", json={"device_id": kiosk.device_id, "site_id": KIOSKS[kiosk.device_id],
                                                       "public_key": kiosk.public_key}).status_code == 201
            kiosk.link.start()
        secret = load_or_create_secret(tmp_path / "hub-etc" / "gallery-key.secret")
        for kiosk in kiosks:
            wait_until(lambda k=kiosk: k.cache.version >= 1 and "H001" in k.cache.gallery.person_ids,
                       f"{kiosk.device_id} never held H001")
            held = templates_of(decode_payload(kiosk.cache_plaintext(secret)))
            assert sorted(held["H001"]) == sorted(h001_templates)   # the cache holds exactly the hub's templates

        # 1. `hub erase` at the command line
        assert hub_cli(["erase", "--config", hub_config_file(tmp_path, api), "H001",
                        "--reason", "erasure request R-17 of 2026-12-01"]) == 0
        encodings, punches = hub_state(api, "H001")
        assert encodings == [] and punches == 1                     # templates gone, attendance kept
        with api.sessions() as session:
            assert list(session.scalars(select(PhoneFrameHash.employee_id))) == ["H002"]
        assert not (tmp_path / "photos" / "H001").exists()
        assert any((tmp_path / "photos" / "H002").glob("*.jpg"))   # nobody else's photos
        for kiosk in kiosks:
            kiosk.report_health()
            assert "H001" not in kiosk.cache.gallery.person_ids
            plaintext = kiosk.cache_plaintext(secret)
            assert "H001" not in decode_payload(plaintext)
            assert not any(t in plaintext for t in h001_templates), f"{kiosk.device_id}'s cache still holds them"
        assert "H002" in decode_payload(kiosks[1].cache_plaintext(secret))
        [entry] = erase_audit(api, "H001")
        assert entry.actor == f"cli:{getpass.getuser()}"
        assert "erasure request R-17" in entry.after and '"templates": 2' in entry.before
        assert '"phone_frame_hashes": 1' in entry.before
        assert not any(t.hex() in entry.before + entry.after for t in h001_templates)

        # 2. erasing again is harmless: nothing to delete, no gallery moves, logged again
        versions = {k.device_id: k.cache.version for k in kiosks}
        again = admin.post("/api/v1/employees/H001/erase", json={"reason": "repeat of R-17"})
        assert again.status_code == 200, again.text
        assert again.json() | {"employee_id": "H001"} == {"employee_id": "H001", "templates_deleted": 0,
                                                            "photos_deleted": 0, "gallery_versions": {}}
        assert len(erase_audit(api, "H001")) == 2

        # 3. the API action: admin only, with a reason; H002 leaves the S-PHC2 kiosk's cache
        officer = api.user_client("officer1", "unit_officer", unit_ids=["HEALTH"])
        assert officer.post("/api/v1/employees/H002/erase", json={"reason": "x"}).status_code == 403
        assert admin.post("/api/v1/employees/H002/erase", json={}).status_code == 422
        assert admin.post("/api/v1/employees/H002/erase", json={"reason": "   "}).status_code == 422
        assert admin.post("/api/v1/employees/NOBODY/erase", json={"reason": "R-18"}).status_code == 404
        head = api.user_client("chief", "admin")
        erased = head.post("/api/v1/employees/H002/erase", json={"reason": "R-18"}).json()
        assert erased["templates_deleted"] == 2 and erased["gallery_versions"] == {"S-PHC2": versions["K-PHC2"] + 1}
        assert hub_state(api, "H002") == ([], 1)
        kiosks[1].report_health()
        assert decode_payload(kiosks[1].cache_plaintext(secret)) == {}
        assert erase_audit(api, "H002")[-1].actor == "chief"
    finally:
        for kiosk in kiosks:
            kiosk.close()


# --- audit of reads, exports and logins --------------------------------------------------------------


@pytest.fixture
def api(tmp_path):
    engine = sqlite_engine(tmp_path)
    hub_api = HubApi(tmp_path, engine)
    with hub_api.sessions() as session:
        seed_org(session)
        session.add(punch_record("H001", "S-PHC1", "09:02"))
        session.commit()
    yield hub_api
    hub_api.close()
    engine.dispose()


def audit_rows(api: HubApi, **where) -> list[AuditEntry]:
    with api.sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(session.scalars(query))


def test_reads_and_exports_of_personal_data_are_audited_and_refused_reads_are_not(api):
    officer = api.user_client("officer1", "unit_officer", unit_ids=["HEALTH"])
    clerk = api.user_client("clerk", "employee", employee_id="E001")
    assert officer.get("/api/v1/employees/H001").status_code == 200
    assert officer.get("/api/v1/employees", params={"unit_id": "PHC-1"}).status_code == 200
    assert officer.get("/api/v1/punches", params={"employee_id": "H001"}).status_code == 200
    assert officer.get("/api/v1/reports/daily", params={"unit_id": "PHC-1", "date": "2026-04-07"}).status_code == 200
    export = officer.get("/api/v1/reports/muster", params={"unit_id": "PHC-1", "month": "2026-04", "format": "csv"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert officer.get("/api/v1/dashboard/today", params={"date": "2026-04-07"}).status_code == 200
    assert officer.get("/api/v1/dashboard/clock").status_code == 200               # no personal data: not logged
    assert clerk.get("/api/v1/reports/employees/E001/history",
                     params={"from": "2026-04-01", "to": "2026-04-07"}).status_code == 200
    assert clerk.get("/api/v1/employees/H001").status_code in (403, 404)     # not theirs: refused, not a read
    assert clerk.get("/api/v1/reports/daily", params={"unit_id": "SCH-1", "date": "2026-04-07"}).status_code == 403

    reads = [(r.actor, r.action, r.target) for r in audit_rows(api) if r.action.endswith((".read", ".export"))]
    assert reads == [
        ("officer1", "employee.read", "employee:H001"),
        ("officer1", "employee.read", "/api/v1/employees"),
        ("officer1", "punches.read", "/api/v1/punches"),
        ("officer1", "report.read", "/api/v1/reports/daily"),
        ("officer1", "report.export", "/api/v1/reports/muster"),
        ("officer1", "attendance.read", "/api/v1/dashboard/today"),
        ("clerk", "report.read", "employee:E001"),
    ]
    punches = audit_rows(api, action="punches.read")[0]
    assert '"employee_id": "H001"' in punches.after and punches.source == "testclient"
    # writes keep their own entries and are not counted as reads
    api.machine.patch("/api/v1/employees/H001", json={"name": "Person One"})
    assert [r.action for r in audit_rows(api)][-1] == "employee.update"


def test_dashboard_logins_and_failed_logins_are_audited_without_the_password(api):
    api.user_client("officer1", "unit_officer", unit_ids=["HEALTH"])
    wrong = "Not-the-password-42"
    client = api.client(address="203.0.113.5")
    assert client.post("/api/v1/auth/login", json={"username": "officer1", "password": wrong}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "Nobody", "password": wrong}).status_code == 401
    api.login("officer1", address="203.0.113.6")
    logins = [(r.actor, r.action, r.target, r.source) for r in audit_rows(api) if r.action.startswith("auth.")]
    assert logins[-3:] == [
        ("officer1", "auth.login_failed", "dashboard:officer1", "203.0.113.5"),
        ("nobody", "auth.login_failed", "dashboard:nobody", "203.0.113.5"),
        ("officer1", "auth.login", "dashboard:officer1", "203.0.113.6"),
    ]
    assert audit_rows(api, action="auth.login")[-1].actor_user_id is not None
    for row in audit_rows(api):
        assert wrong not in f"{row.before}{row.after}{row.target}{row.actor}"


def test_phone_logins_and_failed_logins_are_audited_without_the_password(tmp_path):
    from fastapi.testclient import TestClient

    from tests import phonekit as kit
    from tests.test_hub_phone_api import activate, login

    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, [])
    app = kit.make_app(tmp_path, engine, FaceEncoder(), clock=kit.Clock())
    try:
        with TestClient(app, base_url="https://hub.example", client=("198.51.100.7", 40000)) as client:
            device = activate(client, tmp_path / "sms-outbox.jsonl")["X-Phone-Device"]
            assert login(client, device).status_code == 200
            assert login(client, device, "Wrong-password-1").status_code == 401
            assert login(client, None).status_code != 200
        with app.state.session_factory() as session:
            rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("auth."))
                                        .order_by(AuditEntry.id)))
        assert [(r.actor, r.action, r.target, r.source) for r in rows] == [
            (kit.STAFF, "auth.login", f"phone:{kit.STAFF}", "198.51.100.7"),
            (kit.STAFF, "auth.login_failed", f"phone:{kit.STAFF}", "198.51.100.7"),
            (kit.STAFF, "auth.login_failed", f"phone:{kit.STAFF}", "198.51.100.7"),
        ]
        assert '"reason": "login_failed"' in rows[1].after and '"reason": "phone_not_bound"' in rows[2].after
        assert not any(kit.PASSWORD in f"{r.after}" or "Wrong-password-1" in f"{r.after}" for r in rows)
    finally:
        engine.dispose()
