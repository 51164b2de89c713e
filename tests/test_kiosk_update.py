"""Signed software updates end to end: `hub run` serving HTTPS, a real Mosquitto, and a real kiosk run from its
software slot by kiosk.service's own command lines (tests/updatekit.py stands in for systemd).

One kiosk, recognising a real person from a replay camera and punching all
along, is sent three releases in turn by rollouts:

- 0.2.0, built and signed by `provision release build`, published by `hub
  release publish`: installed into a new slot, switched to, started, kept
  once healthy; health reports 0.2.0 and the rollout is done;
- 0.3.0 signed with another key (a hub without the release key check, as a
  compromised hub would serve it): the kiosk refuses it and says why, nothing
  is installed, and the rollout halts on its one-kiosk ring;
- 0.4.0, properly signed, whose kiosk fails at start: installed, started,
  crashes, and the slot guard rolls back to 0.2.0 on its own; the kiosk
  reports the rollback, and the rollout halts;
- 0.5.0, properly signed, that works but spends seconds more on every
  camera frame: installed, kept after its trial, reporting 0.5.0, and its
  health shows the camera far slower than at 0.2.0, so the rollout halts in
  its one-kiosk ring with that reason (hub/devices/ring_health.py), where
  0.2.0, as fast as 0.1.0, went through.

Every punch the kiosk logged through all of it reaches the hub.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kiosk import slots
from kiosk.config import UpdateConfig
from kiosk.updater import install_slot
from protocol import signing
from provisioning import tls
from provisioning.cli import main as provision
from tests.livekit import LiveHub, check, tool, wait_for
from tests.updatekit import KioskService, build_kiosk_wheel, outer_site_packages

pytestmark = [pytest.mark.broker, pytest.mark.faces]

SITE, DEVICE, PERSON = "site-upd", "kiosk-upd", "Naomi_Watts"
WAIT_S = 300.0   # a kiosk start loads dlib and the gallery; the machine is shared
PUNCH_LINE = re.compile(r"punch ([0-9a-f-]{36}) \(seq")


@pytest.fixture
def tls_files(tmp_path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "tls"
    folder.mkdir()
    ca = tls.ensure_ca(folder, "test hub CA")
    tls.ensure_server_cert(folder, ca, ["127.0.0.1"])
    return folder / tls.SERVER_CERT, folder / tls.SERVER_KEY, folder / tls.CA_CERT


@pytest.fixture
def release_key(tmp_path) -> Path:
    key = tmp_path / "release" / "release.key"
    assert provision(["release", "keygen", "--key", str(key)]) == 0
    return key


@pytest.fixture
def hub(tmp_path, broker, tls_files, release_key, faces_dir):
    public = (release_key.parent / "release.key.pub").read_text().strip()
    hub = LiveHub(tmp_path, broker.port, tls=tls_files,
                  commands={"poll_s": 0.5},
                  health={"stale_after_s": 30},
                  updates={"release_dir": str(tmp_path / "hub-releases"), "release_key": public, "soak_s": 40,
                           "deadline_s": 600, "camera_fps_drop": 0.5}).start()
    hub.cli("site", "add", SITE, "--name", "Update office")
    photos = tmp_path / "enrol" / PERSON
    photos.mkdir(parents=True)
    for photo in sorted((faces_dir / "dev" / PERSON).glob("*.jpg"))[:3]:
        (photos / photo.name).symlink_to(photo)
    hub.cli("enrol", "--site", SITE, "--consent-given", str(photos.parent))
    yield hub
    hub.stop()


@pytest.fixture
def kiosk(tmp_path, broker, hub, tls_files, release_key, faces_dir):
    """The kiosk at 0.1.0 in its first slot, registered at the hub, run as kiosk.service would."""
    folder = tmp_path / DEVICE
    frames = folder / "frames"
    frames.mkdir(parents=True)
    for photo in sorted((faces_dir / "dev" / PERSON).glob("*.jpg")):
        (frames / photo.name).symlink_to(photo)
    key_file = folder / "device.key"
    public_key = check([tool("kiosk"), "keygen", "--out", str(key_file)]).split()[-1]
    registered = hub.api.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": SITE,
                                                       "public_key": public_key})
    assert registered.status_code == 201, registered.text
    root = folder / "opt-kiosk"
    update = {"release_key": (release_key.parent / "release.key.pub").read_text().strip(), "hub_url": hub.url,
              "ca_file": str(tls_files[2]), "root": str(root), "python": sys.executable,
              "base_site_dirs": [str(outer_site_packages())], "confirm_after_s": 8, "max_starts": 2}
    install_slot(UpdateConfig.model_validate(update), "0.1.0", [build_kiosk_wheel(folder / "wheels", "0.1.0")])
    slots.switch(root, "0.1.0")
    shutil.copyfile(Path(slots.__file__), root / "slots.py")   # as first boot does
    config_file = folder / "kiosk.yaml"
    config_file.write_text(yaml.safe_dump({
        "device_id": DEVICE, "site_id": SITE, "state_dir": str(folder / "state"), "signing_key_file": str(key_file),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "reconnect_max_s": 2, "ack_timeout_s": 5},
        "camera": {"kind": "replay", "path": str(frames), "fps": 4, "repeat": 3, "loop": True},
        "liveness": {"mode": "off"}, "clock": {"require_sync": False}, "voice": {"enabled": False},
        "display": False, "health_interval_s": 2, "recognition": {"repunch_suppress_s": 15},
        "update": update,
    }))
    service = KioskService(root, config_file, folder / "kiosk.log").start()
    service.root = root
    yield service
    service.stop()


def device(hub: LiveHub) -> dict:
    return next(d for d in hub.api.get("/api/v1/devices").json()["items"] if d["device_id"] == DEVICE)


def release(tmp_path: Path, version: str, key: Path, broken: bool = False, slow_frame_s: float | None = None) -> Path:
    """A release folder made the way a release manager makes one."""
    wheel = build_kiosk_wheel(tmp_path / "wheelhouse" / version, version, broken=broken, slow_frame_s=slow_frame_s)
    out = tmp_path / "releases" / version
    assert provision(["release", "build", "--wheelhouse", str(wheel.parent), "--version", version,
                      "--key", str(key), "--out", str(out)]) == 0
    return out


def roll_out(hub: LiveHub, version: str) -> int:
    started = hub.api.post("/api/v1/rollouts", json={"version": version})
    assert started.status_code == 201, started.text
    assert started.json()["total"] == 1 and started.json()["rings"][0]["total"] == 1
    return started.json()["id"]


def rollout_ended(hub: LiveHub, rollout_id: int) -> dict | None:
    body = hub.api.get(f"/api/v1/rollouts/{rollout_id}").json()
    return body if body["state"] != "running" else None


def punches_logged(kiosk: KioskService) -> set[str]:
    return set(PUNCH_LINE.findall(kiosk.log_file.read_text()))


def punches_at_hub(hub: LiveHub) -> set[str]:
    items = hub.api.get("/api/v1/punches", params={"limit": 500}).json()["items"]
    return {p["id"] for p in items}


def test_signed_updates_install_refuse_and_roll_back_and_no_punch_is_lost(tmp_path, hub, kiosk, release_key):
    logs = (kiosk.log_file, hub.log_file)
    wait_for(lambda: device(hub)["state"] == "online" and device(hub)["sw_version"] == "0.1.0",
             "the kiosk online at 0.1.0", WAIT_S, logs)
    wait_for(lambda: punches_at_hub(hub), "a first punch", WAIT_S, logs)

    # 1. a good release: installed in a new slot, started, kept, reported
    hub.cli("release", "publish", str(release(tmp_path, "0.2.0", release_key)))
    good = roll_out(hub, "0.2.0")
    done = wait_for(lambda: rollout_ended(hub, good), "the 0.2.0 rollout to end", WAIT_S, logs)
    assert done["state"] == "done" and done["installed"] == 1, done
    assert done["targets"][0]["from_version"] == "0.1.0" and done["targets"][0]["state"] == "installed"
    assert device(hub)["sw_version"] == "0.2.0"
    wait_for(lambda: (slots.read_outcome(kiosk.root) or slots.Outcome("", "", "", 0)).outcome == slots.KEPT,
             "0.2.0 kept after its trial", WAIT_S, logs)
    assert slots.current_version(kiosk.root) == "0.2.0" and slots.read_trial(kiosk.root) is None
    commands = hub.api.get(f"/api/v1/devices/{DEVICE}/commands").json()["items"]
    assert commands[0]["name"] == "update" and commands[0]["state"] == "ok"
    assert commands[0]["detail"].startswith("installed 0.2.0 on trial (from 0.1.0)")

    # 2. signed with another key: the hub's publish check refuses it; a hub without that check (or a
    # compromised one) serves it, and the kiosk refuses it, saying why, and installs nothing
    stranger = tmp_path / "stranger.key"
    signing.write_private_key(signing.generate_private_key(), stranger)
    forged = release(tmp_path, "0.3.0", stranger)
    refused = _hub_cli(hub, "release", "publish", str(forged))
    assert refused.returncode == 1 and "not signed by the release key" in refused.stderr
    unchecked = hub.dir / "unchecked.yaml"
    config = yaml.safe_load(hub.config_file.read_text())
    config["updates"]["release_key"] = None
    unchecked.write_text(yaml.safe_dump(config))
    check([tool("hub"), "release", "publish", str(forged), "--config", str(unchecked)])
    bad_sig = roll_out(hub, "0.3.0")
    halted = wait_for(lambda: rollout_ended(hub, bad_sig), "the 0.3.0 rollout to halt", WAIT_S, logs)
    assert halted["state"] == "halted" and halted["failed"] == 1, halted
    assert "refused: manifest of 0.3.0 is not signed by the release key" in halted["targets"][0]["detail"]
    assert "ring 0: 1 of 1 kiosks failed" in halted["detail"]
    assert not slots.version_dir(kiosk.root, "0.3.0").exists() and slots.current_version(kiosk.root) == "0.2.0"
    assert device(hub)["sw_version"] == "0.2.0"

    # 3. a signed release whose kiosk fails at start: installed, crashes, rolled back by the slot guard
    hub.cli("release", "publish", str(release(tmp_path, "0.4.0", release_key, broken=True)))
    starts_before = kiosk.starts
    broken = roll_out(hub, "0.4.0")
    halted = wait_for(lambda: rollout_ended(hub, broken), "the 0.4.0 rollout to halt", WAIT_S, logs)
    assert halted["state"] == "halted", halted
    assert halted["targets"][0]["detail"].startswith("0.4.0 rolled back to 0.2.0: started 2 times"), halted
    outcome = slots.read_outcome(kiosk.root)
    assert outcome.outcome == slots.ROLLED_BACK and outcome.version == "0.4.0"
    assert slots.current_version(kiosk.root) == "0.2.0" and not slots.version_dir(kiosk.root, "0.4.0").exists()
    assert kiosk.starts - starts_before >= 3   # 0.4.0 twice, then 0.2.0 again
    assert "this release is broken on purpose" in kiosk.log_file.read_text()
    wait_for(lambda: device(hub)["state"] == "online" and device(hub)["sw_version"] == "0.2.0",
             "the kiosk back online at 0.2.0", WAIT_S, logs)

    # 4. a signed release that installs and runs, but slows the camera: kept by the kiosk, halted by the hub
    hub.cli("release", "publish", str(release(tmp_path, "0.5.0", release_key, slow_frame_s=4.0)))
    slow = roll_out(hub, "0.5.0")
    halted = wait_for(lambda: rollout_ended(hub, slow), "the 0.5.0 rollout to halt", WAIT_S, logs)
    assert halted["state"] == "halted" and halted["degraded"] == 1 and halted["failed"] == 0, halted
    target = halted["targets"][0]
    assert target["state"] == "degraded" and re.fullmatch(
        r"worse on 0\.5\.0: camera \d+\.\d -> 0\.[0-3] fps", target["detail"]), target
    assert halted["detail"].startswith(f"ring 0: 1 of 1 kiosks worse after 0.5.0; {DEVICE} camera "), halted
    assert device(hub)["sw_version"] == "0.5.0"   # it installed fine: only its health says it is worse
    wait_for(lambda: (slots.read_outcome(kiosk.root) or slots.Outcome("", "", "", 0)).version == "0.5.0",
             "0.5.0 kept after its trial", WAIT_S, logs)
    assert slots.read_outcome(kiosk.root).outcome == slots.KEPT

    # every punch taken before, during and after the updates is at the hub
    logged = punches_logged(kiosk)
    assert len(logged) >= 3, logged
    wait_for(lambda: logged <= punches_at_hub(hub), "every punch logged at the kiosk to reach the hub", WAIT_S,
             logs)
    by_version = _punch_versions(kiosk.log_file.read_text())
    assert {"0.1.0", "0.2.0"} <= set(by_version.values()), by_version   # punches on both sides of the switch


def _hub_cli(hub: LiveHub, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("hub"), *args, "--config", str(hub.config_file)], capture_output=True, text=True,
                          timeout=300)


def _punch_versions(log: str) -> dict[str, str]:
    """Each punch id -> the software version of the kiosk run that logged it (from the run's start line)."""
    versions, current = {}, "?"
    for line in log.splitlines():
        started = re.search(r"starting \(software version (\S+),", line)
        if started:
            current = started.group(1)
        punch = PUNCH_LINE.search(line)
        if punch:
            versions[punch.group(1)] = current
    return versions
