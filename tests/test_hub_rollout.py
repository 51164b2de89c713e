"""Rollouts in rings (hub/devices/rollout.py): ring sizes, the verdicts, and a rollout driven through the database
by health as kiosks report it (tests/test_kiosk_update.py drives one with a real kiosk)."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hub.config import HubConfig, UpdatesConfig
from hub.db import DeviceHealth, make_session_factory
from hub.devices import commands, registry, rollout
from hub.devices.models import DeviceCommand, Release, RolloutTarget
from hub.errors import Conflict, NotFound
from protocol import messages, signing
from tests.hub_db import any_engine  # noqa: F401

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
CONFIG = UpdatesConfig(soak_s=60, deadline_s=3600, canary_fraction=0.05, max_failure_fraction=0.1)


@pytest.mark.parametrize("total, sizes", [(0, [0, 0, 0]), (1, [1, 0, 0]), (2, [1, 1, 0]), (20, [1, 1, 18]),
                                          (2000, [1, 100, 1899])])
def test_ring_sizes_are_one_kiosk_then_five_percent_then_the_rest(total, sizes):
    assert rollout.ring_sizes(total, 0.05) == sizes


def test_rings_are_a_stable_spread_that_differs_by_version():
    ids = [f"k{i:03}" for i in range(200)]
    a = rollout.assign_rings(ids, "1.0", 0.05)
    assert a == rollout.assign_rings(list(reversed(ids)), "1.0", 0.05)
    assert sorted(a.values()).count(0) == 1 and list(a.values()).count(1) == 10
    assert a != rollout.assign_rings(ids, "2.0", 0.05)


def seen(**kw) -> rollout.Seen:
    return rollout.Seen(**({"command_state": "sent", "command_detail": None, "sw_version": "1.0",
                            "health_at": NOW, "alarms": []} | kw))


ROLLED = {"kind": messages.ALARM_UPDATE_ROLLED_BACK, "detail": "2.0 rolled back to 1.0: started 3 times",
          "since": (NOW + timedelta(minutes=1)).isoformat()}


@pytest.mark.parametrize("reported, s, now, state, detail", [
    (None, seen(), NOW, "sent", None),
    (None, seen(command_state="failed", command_detail="refused: not signed"), NOW, "failed", "refused: not signed"),
    (None, seen(command_state="expired"), NOW, "skipped", "offline"),
    (None, seen(alarms=[ROLLED]), NOW, "failed", "2.0 rolled back to 1.0"),
    (None, seen(alarms=[{**ROLLED, "since": (NOW - timedelta(days=1)).isoformat()}]), NOW, "sent", None),  # older
    (None, seen(sw_version="2.0"), NOW, "sent", None),                                  # soaking
    (NOW, seen(sw_version="2.0", health_at=NOW + timedelta(seconds=61)), NOW, "installed", "running 2.0"),
    (NOW, seen(sw_version="1.0"), NOW, "failed", "reported 2.0, then 1.0"),
    (None, seen(), NOW + timedelta(seconds=3601), "failed", "not running 2.0"),
    (None, seen(command_state="queued"), NOW + timedelta(seconds=3601), "sent", None),   # offline: still waits
])
def test_judging_a_kiosk_sent_the_release(reported, s, now, state, detail):
    verdict = rollout.judge("2.0", NOW, reported, s, now, CONFIG)
    assert verdict.state == state and (detail is None or detail in verdict.detail)


@pytest.mark.parametrize("states, verdict", [
    ([], "advance"), (["installed"], "advance"), (["sent"], "wait"), (["failed"], "halt"),
    (["installed"] * 9 + ["failed"], "advance"),          # 10 % is not more than 10 %
    (["installed"] * 8 + ["failed"] * 2, "halt"),
    (["failed"] + ["sent"] * 5, "halt"),                  # halted early, not after the ring ends
    (["skipped", "installed"], "advance"),                # an offline kiosk says nothing of the release
])
def test_ring_verdicts(states, verdict):
    assert rollout.ring_verdict(states, 0.1) == verdict


def report(session, device_id: str, version: str, at: datetime, alarms=()) -> None:
    row = session.get(DeviceHealth, device_id) or DeviceHealth(device_id=device_id)
    row.status, row.last_seen_at, row.health_at, row.sw_version = "online", at, at, version
    row.telemetry = json.dumps({"sw_version": version, "alarms": list(alarms)})
    session.merge(row)


def test_a_rollout_goes_ring_by_ring_and_halts_when_a_ring_gets_worse(any_engine):  # noqa: F811
    sessions = make_session_factory(any_engine)
    config = HubConfig.model_validate({"admin_token_file": "/x", "updates": {"soak_s": 60, "canary_fraction": 0.1}})
    key = signing.public_key_b64(signing.generate_private_key())
    with sessions() as s:
        registry.add_site(s, "S1", "Site one")
        for i in range(20):
            registry.register_device(s, f"k{i:02}", "S1", key)
            report(s, f"k{i:02}", "1.0", NOW)
        s.add(Release(version="2.0", manifest="{}", published_at=NOW, published_by="test"))
        s.commit()
        with pytest.raises(NotFound):
            rollout.start(s, "9.9", actor="a", now=NOW, config=config.updates)
        row = rollout.start(s, "2.0", actor="admin", now=NOW, config=config.updates)
        with pytest.raises(Conflict, match="is running"):
            rollout.start(s, "2.0", actor="admin", now=NOW, config=config.updates)

        def ring(n: int) -> list[RolloutTarget]:
            return [t for t in rollout.targets_of(s, row.id) if t.ring == n]

        assert rollout.advance(s, NOW, config) == 1          # ring 0: one kiosk, one update command
        [canary] = ring(0)
        cmd = s.get(DeviceCommand, canary.command_id)
        assert cmd.name == "update" and json.loads(cmd.args) == {"version": "2.0", "rollout_id": row.id}
        assert commands.has_queued(s)
        report(s, canary.device_id, "2.0", NOW + timedelta(seconds=10))
        assert rollout.advance(s, NOW + timedelta(seconds=10), config) == 0 and row.ring == 0   # soaking
        report(s, canary.device_id, "2.0", NOW + timedelta(seconds=80))
        assert rollout.advance(s, NOW + timedelta(seconds=80), config) == 2   # ring 1: 10 % of 20
        assert row.ring == 1 and canary.state == "installed"
        first, second = ring(1)
        report(s, first.device_id, "1.0", NOW + timedelta(seconds=200), alarms=[{
            "kind": messages.ALARM_UPDATE_ROLLED_BACK, "detail": "2.0 rolled back to 1.0: started 3 times",
            "since": (NOW + timedelta(seconds=190)).isoformat()}])
        assert rollout.advance(s, NOW + timedelta(seconds=200), config) == 0
        assert row.state == "halted" and "ring 1: 1 of 2 kiosks failed" in row.detail
        assert "rolled back" in row.detail and ring(2)[0].state == "pending"   # nothing sent to everyone
        progress = rollout.progress(s, row)
        assert progress["rings"][1]["failed"] == 1 and progress["rings"][2]["pending"] == 17

        rollout.resume(s, row.id, NOW + timedelta(seconds=300))   # the admin sends it again to the failed one
        assert rollout.advance(s, NOW + timedelta(seconds=300), config) == 1
        for seconds in (310, 400):
            for target in ring(1):
                report(s, target.device_id, "2.0", NOW + timedelta(seconds=seconds))
            queued = rollout.advance(s, NOW + timedelta(seconds=seconds), config)
        assert queued == 17 and row.ring == 2
        for seconds in (500, 600):
            for target in ring(2):
                report(s, target.device_id, "2.0", NOW + timedelta(seconds=seconds))
            rollout.advance(s, NOW + timedelta(seconds=seconds), config)
        assert row.state == "done" and rollout.progress(s, row)["installed"] == 20
        s.commit()
        assert s.scalar(select(DeviceCommand.id).where(DeviceCommand.name == "update").limit(1)) is not None


def test_kiosks_download_a_published_release_only_with_their_own_signature(tmp_path):
    """The HTTPS API's device door (hub/api/device_auth.py) and the admins' rollout API."""
    from hub.devices import releases
    from protocol import device_auth
    from provisioning.cli import main as provision
    from tests.hub_api_kit import HubApi
    from tests.hub_db import sqlite_engine

    key_file = tmp_path / "release.key"
    assert provision(["release", "keygen", "--key", str(key_file)]) == 0
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "kiosk-2.0-py3-none-any.whl").write_bytes(b"wheel")
    assert provision(["release", "build", "--wheelhouse", str(wheels), "--version", "2.0", "--key", str(key_file),
                      "--out", str(tmp_path / "rel")]) == 0
    public = (tmp_path / "release.key.pub").read_text().strip()
    hub = HubApi(tmp_path, sqlite_engine(tmp_path), updates={"release_dir": str(tmp_path / "served"),
                                                             "release_key": public})
    kiosk_key, other_key = signing.generate_private_key(), signing.generate_private_key()
    with hub.sessions() as s:
        registry.add_site(s, "S1", "Site one")
        registry.register_device(s, "K1", "S1", signing.public_key_b64(kiosk_key))
        registry.register_device(s, "K2", "S1", signing.public_key_b64(other_key))
        releases.publish(s, tmp_path / "rel", hub.config.updates, actor="test", now=NOW)
        s.commit()
        with pytest.raises(Conflict, match="already published"):
            releases.publish(s, tmp_path / "rel", hub.config.updates, actor="test", now=NOW)
    anyone = hub.client()

    def get(path: str, key=kiosk_key, device_id: str = "K1", client=anyone):
        headers = device_auth.sign_request(key, device_id, "GET", path, datetime.now(timezone.utc))
        return client.get(path, headers=headers)

    base = "/api/v1/device/releases/2.0"
    manifest = get(f"{base}/manifest.json")
    assert manifest.status_code == 200 and manifest.content == (tmp_path / "rel" / "manifest.json").read_bytes()
    assert get(f"{base}/files/kiosk-2.0-py3-none-any.whl").content == b"wheel"
    assert get(f"{base}/files/hub.sqlite").status_code == 404            # only what the manifest names
    assert get(f"{base}/files/..%2F..%2Fadmin.token").status_code == 404
    assert get("/api/v1/device/releases/9.9/manifest.json").status_code == 404
    assert get(f"{base}/manifest.json", key=other_key).status_code == 401  # K2's key claiming to be K1
    assert anyone.get(f"{base}/manifest.json").status_code == 401
    assert hub.machine.get(f"{base}/manifest.json").status_code == 403   # an admin is no kiosk
    assert get(f"{base}/manifest.json", key=other_key, device_id="K2").status_code == 200
    with hub.sessions() as s:
        registry.retire_device(s, "K2")
        s.commit()
    assert get(f"{base}/manifest.json", key=other_key, device_id="K2").status_code == 401   # retired

    admin = hub.machine
    assert admin.get("/api/v1/releases").json()["items"][0]["version"] == "2.0"
    started = admin.post("/api/v1/rollouts", json={"version": "2.0"})
    assert started.status_code == 201 and started.json()["total"] == 1 and started.json()["state"] == "running"
    assert admin.post("/api/v1/rollouts", json={"version": "2.0"}).status_code == 409
    rid = started.json()["id"]
    assert admin.post(f"/api/v1/rollouts/{rid}/halt", json={"reason": "wrong day"}).json()["state"] == "halted"
    body = admin.get(f"/api/v1/rollouts/{rid}").json()
    assert "wrong day" in body["detail"] and [t["device_id"] for t in body["targets"]] == ["K1"]   # not K2
    assert admin.post(f"/api/v1/rollouts/{rid}/resume").json()["state"] == "running"
    hub.close()


def test_the_hub_release_commands_publish_roll_out_halt_and_resume_with_audit(tmp_path, capsys):
    import yaml

    from hub.accounts.models import AuditEntry
    from hub.app import load, open_engine
    from hub.cli import main as hub_main
    from provisioning.cli import main as provision

    key_file = tmp_path / "release.key"
    assert provision(["release", "keygen", "--key", str(key_file)]) == 0
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "kiosk-2.0-py3-none-any.whl").write_bytes(b"wheel")
    assert provision(["release", "build", "--wheelhouse", str(tmp_path / "wheels"), "--version", "2.0",
                      "--key", str(key_file), "--out", str(tmp_path / "rel")]) == 0
    (tmp_path / "admin.token").write_text("t" * 40)
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "admin_token_file": str(tmp_path / "admin.token"),
        "updates": {"release_dir": str(tmp_path / "served"),
                    "release_key": (tmp_path / "release.key.pub").read_text().strip()}}))
    cfg = ["--config", str(config_file)]
    assert hub_main(["init-db", *cfg]) == 0
    assert hub_main(["site", "add", "S1", "--name", "Site one", *cfg]) == 0
    assert hub_main(["device", "add", "--device-id", "K1", "--site", "S1",
                     "--public-key", signing.public_key_b64(signing.generate_private_key()), *cfg]) == 0
    capsys.readouterr()
    assert hub_main(["release", "publish", str(tmp_path / "rel"), *cfg]) == 0
    assert hub_main(["release", "publish", str(tmp_path / "rel"), *cfg]) == 1
    assert "already published" in capsys.readouterr().err
    assert hub_main(["release", "rollout", "2.0", *cfg]) == 0
    assert "rollout 1 of 2.0: running (ring 0); ring 0: 0/1 updated, 0 failed" in capsys.readouterr().out
    assert hub_main(["release", "halt", "1", *cfg]) == 0 and hub_main(["release", "resume", "1", *cfg]) == 0
    assert hub_main(["release", "status", *cfg]) == 0
    assert "rollout 1 of 2.0: running" in capsys.readouterr().out
    assert hub_main(["release", "rollout", "9.9", *cfg]) == 1
    assert "no published release '9.9'" in capsys.readouterr().err
    engine = open_engine(load(config_file))
    with make_session_factory(engine)() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.action.like("release.%")))]
    engine.dispose()
    assert sorted(actions) == ["release.halt", "release.publish", "release.resume", "release.rollout"]
