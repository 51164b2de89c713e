"""Remote commands at the hub: queued by admins only (audited), refused beside the bad field with
nothing written, sent only to kiosks online now, expired when their kiosk stays away, and an
enrol result believed only with the kiosk's signature (then it enrols like photos do).

On SQLite and PostgreSQL (when it answers). The round trip with a real broker and kiosk
process is tests/test_kiosk_commands_live.py.
"""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, select

from hub.accounts.models import AuditEntry
from hub.config import CommandsConfig
from hub.db import Device, DeviceHealth, FaceTemplate, GalleryMember, Site
from hub.devices import commands
from hub.devices.models import DeviceCommand
from hub.devices.registry import register_device
from hub.enrolment.models import ConsentRecord
from protocol import messages, signing
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import any_engine  # noqa: F401  (fixture)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
KEY = signing.generate_private_key()
CONFIG = CommandsConfig(expire_after_s=3600)


@pytest.fixture
def api(tmp_path, any_engine):
    hub = HubApi(tmp_path, any_engine)
    with hub.sessions() as session:
        seed_org(session)
        register_device(session, "kiosk-1", "S-PHC1", signing.public_key_b64(KEY))
        register_device(session, "kiosk-2", "S-PHC2", signing.public_key_b64(signing.generate_private_key()))
        session.commit()
    yield hub
    hub.close()


def stored_commands(hub: HubApi) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(DeviceCommand))


def test_an_admin_queues_a_command_for_a_kiosk_not_yet_seen_and_it_is_audited(api):
    officer = api.user_client("officer", "unit_officer", unit_ids=["PHC-1"])
    assert officer.post("/api/v1/devices/kiosk-1/commands", json={"name": "resync"}).status_code == 403
    assert officer.get("/api/v1/devices/kiosk-1/commands").status_code == 403

    admin = api.user_client("boss", "admin")
    sent = admin.post("/api/v1/devices/kiosk-1/commands", json={"name": "resync"})
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["state"] == "queued" and body["device_state"] == "never seen" and body["created_by"] == "boss"
    listed = admin.get("/api/v1/devices/kiosk-1/commands").json()["items"]
    assert [c["id"] for c in listed] == [body["id"]]
    assert admin.get(f"/api/v1/devices/kiosk-1/commands/{body['id']}").json()["state"] == "queued"
    assert admin.get(f"/api/v1/devices/kiosk-2/commands/{body['id']}").status_code == 404
    with api.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "device.command")).one()
    assert entry.actor == "boss" and entry.target == "device:kiosk-1" and '"name": "resync"' in entry.after


@pytest.mark.parametrize("body, field", [
    ({"name": "selfdestruct"}, "name"),
    ({"name": "config"}, "name"),
    ({"name": "enrol"}, "employee_id"),
    ({"name": "enrol", "employee_id": "NOBODY"}, "employee_id"),
    ({"name": "reboot", "employee_id": "H001"}, "employee_id"),
])
def test_bad_input_is_refused_beside_its_field_and_nothing_is_written(api, body, field):
    response = api.machine.post("/api/v1/devices/kiosk-1/commands", json=body)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert stored_commands(api) == 0


def test_unknown_and_retired_kiosks_take_no_commands(api):
    assert api.machine.post("/api/v1/devices/nope/commands", json={"name": "resync"}).status_code == 404
    assert api.machine.post("/api/v1/devices/kiosk-2/retire").status_code == 200
    assert api.machine.post("/api/v1/devices/kiosk-2/commands", json={"name": "resync"}).status_code == 409
    assert stored_commands(api) == 0


def queue(session, device_id: str, name: str = "resync", at: datetime = T0, employee_id: str | None = None):
    row = commands.create_command(session, device_id=device_id, name=name, employee_id=employee_id, actor="test",
                                  now=at, config=CONFIG)
    session.commit()
    return row.id


def set_status(session, device_id: str, status: str, seen: datetime) -> None:
    row = session.get(DeviceHealth, device_id) or DeviceHealth(device_id=device_id)
    row.status, row.last_seen_at = status, seen
    session.merge(row)
    session.commit()


def test_only_kiosks_online_now_are_sent_commands_and_the_rest_expire(api):
    with api.sessions() as session:
        first = queue(session, "kiosk-1")
        second = queue(session, "kiosk-2")
        set_status(session, "kiosk-1", "online", T0)
        set_status(session, "kiosk-2", "offline", T0)
        claimed = commands.claim_due(session, T0 + timedelta(seconds=5), stale_after_s=180)
        session.commit()
        assert [(d, c.id, c.name) for d, c in claimed] == [("kiosk-1", first, "resync")]
        assert claimed[0][1].expires_at == T0 + timedelta(hours=1)
        assert commands.claim_due(session, T0 + timedelta(seconds=6), stale_after_s=180) == []  # sent once only
        # kiosk-1 says online but has not been heard for longer than stale_after_s: not sent
        third = queue(session, "kiosk-1", at=T0 + timedelta(minutes=10))
        assert commands.claim_due(session, T0 + timedelta(minutes=10), stale_after_s=180) == []
        assert commands.expire_due(session, T0 + timedelta(minutes=61)) == 1   # kiosk-2's, an hour old
        session.commit()
        states = {r.id: r.state for r in session.scalars(select(DeviceCommand))}
    assert states == {first: "sent", second: "expired", third: "queued"}


def templates(n: int, spread: float = 0.02) -> list[str]:
    """Vectors near one point, as frames of one face are (``spread``: how far each is moved)."""
    rng = np.random.default_rng(7)
    base = rng.normal(scale=0.09, size=128)
    return [messages.encode_template((base + rng.normal(scale=spread / 11.3, size=128)).astype(np.float32))
            for _ in range(n)]


def result_data(command_id: str, key, spread: float = 0.02, **over) -> dict:
    fields = messages.CommandResult(id=command_id, ok=True, detail="3 templates", device_id="kiosk-1",
                                    templates=templates(3, spread), **over).model_dump(mode="json", exclude_none=True)
    return signing.sign_fields(fields, key) if key is not None else fields


def record(api, device_id: str, data: dict) -> commands.ResultOutcome:
    with api.sessions() as session:
        outcome = commands.record_result(session, device_id, data, messages.validate(messages.CommandResult, data),
                                         T0 + timedelta(minutes=1))
        session.commit()
    return outcome


def test_an_enrol_result_is_believed_only_with_the_kiosks_signature(api):
    with api.sessions() as session:
        unsigned, forged, mixed, signed = (queue(session, "kiosk-1", "enrol", employee_id="H001") for _ in range(4))
        version_before = session.get(Site, "S-PHC1").gallery_version

    assert record(api, "kiosk-1", result_data(unsigned, None)).what == "refused"
    assert record(api, "kiosk-1", result_data(forged, signing.generate_private_key())).what == "refused"
    assert record(api, "kiosk-1", result_data(mixed, KEY, spread=1.0)).what == "refused"   # two faces
    assert record(api, "kiosk-2", result_data(signed, KEY)).what == "unknown"   # another kiosk's command
    with api.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(DeviceCommand))}
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    assert rows[unsigned].state == "failed" and "not signed" in rows[unsigned].detail
    assert rows[forged].state == "failed" and "bad signature" in rows[forged].detail
    assert rows[mixed].state == "failed" and "not of one face" in rows[mixed].detail
    assert rows[signed].state == "queued"

    outcome = record(api, "kiosk-1", result_data(signed, KEY))
    assert outcome.what == "recorded" and outcome.sites == ("S-PHC1",)
    assert record(api, "kiosk-1", result_data(signed, KEY)).what == "duplicate"
    with api.sessions() as session:
        row = session.get(DeviceCommand, signed)
        stored = session.scalars(select(FaceTemplate).where(FaceTemplate.employee_id == "H001")).all()
        member = session.get(GalleryMember, ("S-PHC1", "H001"))
        site = session.get(Site, "S-PHC1")
        consent = session.scalars(select(ConsentRecord).where(ConsentRecord.employee_id == "H001")).one()
    assert row.state == "ok" and row.templates_added == 3
    # the kiosk showed its consent screen before capture; the admin who sent the command attests it
    assert (consent.channel, consent.recorded_by) == ("kiosk", row.created_by)
    assert len(stored) == 3 and all(t.photo_file is None for t in stored)   # templates, no photos
    assert site.gallery_version == version_before + 1 and member.version == site.gallery_version


def test_a_failed_enrol_stores_nothing_and_says_why(api):
    with api.sessions() as session:
        command_id = queue(session, "kiosk-1", "enrol", employee_id="H001")
    data = signing.sign_fields(messages.CommandResult(
        id=command_id, ok=False, detail="only 1 of 5 good frames within 60 s (last problem: too_small)",
        device_id="kiosk-1").model_dump(mode="json", exclude_none=True), KEY)
    assert record(api, "kiosk-1", data).what == "recorded"
    with api.sessions() as session:
        row = session.get(DeviceCommand, command_id)
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        assert session.get(Device, "kiosk-1") is not None
    assert row.state == "failed" and "too_small" in row.detail and row.templates_added == 0
