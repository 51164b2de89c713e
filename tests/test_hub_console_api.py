"""The API the admin console's users, audit and device pages use: a refused user form names its
field and writes nothing; the audit log filters by who, what and when and pages back; refused
messages list per kiosk."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from hub.accounts.models import AuditEntry, User
from hub.db import DeviceHealthSample, RejectedMessage
from hub.devices.health_series import bucket_series
from tests.hub_api_kit import HubApi, seed_org


@pytest.fixture
def api(tmp_path):
    from tests.hub_db import sqlite_engine

    engine = sqlite_engine(tmp_path)
    hub = HubApi(tmp_path, engine)
    with hub.sessions() as session:
        seed_org(session)
        session.commit()
    yield hub
    hub.close()
    engine.dispose()


def counts(hub: HubApi) -> tuple[int, int]:
    with hub.sessions() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "user.create")))


@pytest.mark.parametrize("body, status, field", [
    ({"username": "x", "role": "admin"}, 422, "username"),
    ({"username": "asha", "role": "boss"}, 422, "role"),
    ({"username": "asha", "role": "unit_officer"}, 422, "unit_ids"),
    ({"username": "asha", "role": "unit_officer", "unit_ids": ["NOPE"]}, 404, "unit_ids"),
    ({"username": "asha", "role": "admin", "unit_ids": ["PHC-1"]}, 422, "unit_ids"),
    ({"username": "asha", "role": "employee"}, 422, "employee_id"),
    ({"username": "asha", "role": "employee", "employee_id": "NOBODY"}, 404, "employee_id"),
    ({"username": "taken", "role": "admin"}, 409, "username"),
])
def test_a_refused_user_form_names_its_field_and_writes_nothing(api, body, status, field):
    api.add_user("taken", "admin")
    before = counts(api)
    response = api.machine.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and error["msg"]
    assert counts(api) == before


def test_the_audit_log_filters_by_who_what_and_when_and_pages_back(api):
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    with api.sessions() as session:
        for i, (actor, action) in enumerate([("asha", "user.create"), ("asha", "employee.update"),
                                             ("ravi", "user.update"), ("asha", "user.reset_password"),
                                             ("ravi", "device.command")]):
            session.add(AuditEntry(at=t0 + timedelta(hours=i), actor=actor, action=action, target=f"t:{i}"))
        session.commit()
    get = lambda **q: api.machine.get("/api/v1/audit", params=q)  # noqa: E731

    assert [e["action"] for e in get(actor="asha").json()["items"]] == [
        "user.reset_password", "employee.update", "user.create"]
    assert [e["target"] for e in get(action="user.*").json()["items"]] == ["t:3", "t:2", "t:0"]
    window = get(since=(t0 + timedelta(hours=1)).isoformat(), until=(t0 + timedelta(hours=3)).isoformat()).json()
    assert [e["target"] for e in window["items"]] == ["t:2", "t:1"]
    first = get(actor="asha", limit=2).json()
    assert [e["target"] for e in first["items"]] == ["t:3", "t:1"] and first["next_before_id"] is not None
    last = get(actor="asha", limit=2, before_id=first["next_before_id"]).json()
    assert [e["target"] for e in last["items"]] == ["t:0"] and last["next_before_id"] is None
    naive = get(since="2026-12-01T09:00:00")
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "since"]
    backwards = get(since=(t0 + timedelta(hours=2)).isoformat(), until=t0.isoformat())
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["body", "until"]


def test_refused_messages_list_per_kiosk(api):
    with api.sessions() as session:
        for device_id in ("kiosk-1", "kiosk-2", "kiosk-1"):
            session.add(RejectedMessage(received_at=datetime.now(timezone.utc), topic=f"att/v1/dev/{device_id}/punch",
                                        device_id=device_id, punch_id=None, reason="bad signature", payload_size=2,
                                        payload=b"{}"))
        session.commit()
    items = api.machine.get("/api/v1/rejected", params={"device_id": "kiosk-1"}).json()["items"]
    assert [r["device_id"] for r in items] == ["kiosk-1", "kiosk-1"]
    assert len(api.machine.get("/api/v1/rejected").json()["items"]) == 3


def sample(at: datetime, **values) -> DeviceHealthSample:
    fields = {"cpu_temp_c": None, "outbox_depth": 0, "clock_skew_s": 0.0, "camera_fps": None, **values}
    return DeviceHealthSample(device_id="kiosk-1", received_at=at, device_ts=at, uptime_s=1.0, gallery_version=1,
                              sw_version="1", **fields)


def test_health_series_averages_per_bucket_keeps_backlog_peaks_and_leaves_gaps():
    end = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    samples = [sample(end - timedelta(minutes=50), cpu_temp_c=50.0, outbox_depth=3, clock_skew_s=1.0),
               sample(end - timedelta(minutes=40), cpu_temp_c=60.0, outbox_depth=40, clock_skew_s=3.0),
               sample(end - timedelta(minutes=5), cpu_temp_c=70.0, camera_fps=4.0),
               sample(end - timedelta(hours=2), cpu_temp_c=99.0)]   # before the window: left out
    points = bucket_series(samples, end=end, window=timedelta(hours=1), bucket=timedelta(minutes=30))
    assert [p.samples for p in points] == [2, 1]
    assert points[0].values == {"cpu_temp_c": 55.0, "outbox_depth": 40, "clock_skew_s": 2.0, "camera_fps": None}
    assert points[1].values["cpu_temp_c"] == 70.0 and points[1].values["camera_fps"] == 4.0
    newest = bucket_series([sample(end, cpu_temp_c=40.0)], end=end, window=timedelta(hours=1),
                           bucket=timedelta(minutes=30))
    assert [p.samples for p in newest] == [0, 1]   # received at this very moment: the last bucket
    empty = bucket_series([], end=end, window=timedelta(hours=1), bucket=timedelta(minutes=15))
    assert len(empty) == 4 and all(p.samples == 0 and p.values["cpu_temp_c"] is None for p in empty)


def test_the_device_page_reads_a_day_or_a_week_of_health_in_buckets(api):
    from hub.devices.registry import register_device
    from protocol import signing

    t_end = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    api.app.state.clock = lambda: t_end
    with api.sessions() as session:
        register_device(session, "kiosk-1", "S-PHC1", signing.public_key_b64(signing.generate_private_key()))
        session.flush()
        session.add_all([sample(t_end - timedelta(hours=3), cpu_temp_c=48.0),
                         sample(t_end - timedelta(days=3), cpu_temp_c=61.0)])
        session.commit()
    day = api.machine.get("/api/v1/devices/kiosk-1/health/series").json()
    assert day["bucket_s"] == 900 and len(day["points"]) == 96
    assert [p["cpu_temp_c"] for p in day["points"] if p["samples"]] == [48.0]
    week = api.machine.get("/api/v1/devices/kiosk-1/health/series", params={"window": "week"}).json()
    assert week["bucket_s"] == 3600 and len(week["points"]) == 168
    assert [p["cpu_temp_c"] for p in week["points"] if p["samples"]] == [61.0, 48.0]
    assert api.machine.get("/api/v1/devices/nope/health/series").status_code == 404
    assert api.machine.get("/api/v1/devices/kiosk-1/health/series", params={"window": "year"}).status_code == 422
