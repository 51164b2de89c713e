"""The staff-number fallback end to end: keypad, live face 1:1, a real Mosquitto and a real `hub run`.

A kiosk at a site in ``match.mode: verify_with_id`` with the shipped fake
keypad; the hub enrolled two people under numeric staff numbers (all their
photos but the last), and the kiosk got its gallery from the hub. The replay
camera shows a held-back photo of one person (still photos: liveness off, as
in tests/test_end_to_end.py; liveness in the fallback is pinned in
tests/test_kiosk_keypad.py):
- that person's number and their face: one punch, ``method`` "face+id", stored by the hub;
- that number and another person's face: no punch anywhere, the "not matched"
  answer, an assisted attempt kept on the kiosk (with its snapshot, the site
  allowing it), and the hub told of it by the ``assisted_pending`` alarm.
"""

import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.mosquitto import MosquittoProcess, free_port
from hardware.replay import ReplayCamera
from kiosk.app import KioskApp, RunOptions
from kiosk.assisted import SNAPSHOT_DIR
from kiosk.config import KioskConfig
from kiosk.decision import MESSAGES
from kiosk.keypad import FakeKeypad
from protocol import signing

pytestmark = [pytest.mark.broker, pytest.mark.faces]

SITE = "site-fallback"
STAFF = {"1001": "Naomi_Watts", "1002": "Barack_Obama"}   # staff number -> dev/ identity


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def check(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory, faces_dir):
    """One Mosquitto and one `hub run` for the module, the staff enrolled under their numbers."""
    tmp = tmp_path_factory.mktemp("fallback-hub")
    broker = MosquittoProcess(tmp / "mosquitto")
    broker.start()
    for number, person in STAFF.items():
        (tmp / "people" / number).mkdir(parents=True)
        for photo in sorted((faces_dir / "dev" / person).glob("*.jpg"))[:-1]:
            (tmp / "people" / number / photo.name).symlink_to(photo)
    token = secrets.token_urlsafe(32)
    (tmp / "admin.token").write_text(token)
    port = free_port()
    cfg = tmp / "hub.yaml"
    cfg.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp / 'hub.sqlite'}", "admin_token_file": str(tmp / "admin.token"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "hub-fallback"},
        "api": {"host": "127.0.0.1", "port": port},
    }))
    check([tool("hub"), "init-db", "--config", str(cfg)])
    check([tool("hub"), "site", "add", "--config", str(cfg), SITE, "--name", "Fallback office"])
    check([tool("hub"), "enrol", "--config", str(cfg), "--site", SITE, "--consent-given", str(tmp / "people")])
    log = open(tmp / "hub.log", "w")
    proc = subprocess.Popen([tool("hub"), "run", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)
    try:
        wait_for(lambda: proc.poll() is None and healthy(api), 180, "hub healthy")
        yield broker, api
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
        broker.stop()


def healthy(api: httpx.Client) -> bool:
    try:
        return api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    return body["items"] if isinstance(body, dict) else body


def start_kiosk(tmp_path: Path, world, faces_dir: Path, device_id: str, face_of: str,
                keep_snapshots: bool = False) -> tuple[KioskApp, FakeKeypad, threading.Thread, dict]:
    """A registered kiosk running in a thread on a looping replay of ``face_of``'s held-back photo."""
    broker, api = world
    key_file = tmp_path / "device.key"
    key = signing.generate_private_key()
    signing.write_private_key(key, key_file)
    reg = api.post("/api/v1/devices", json={"device_id": device_id, "site_id": SITE,
                                            "public_key": signing.public_key_b64(key)})
    assert reg.status_code == 201, reg.text
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(sorted((faces_dir / "dev" / face_of).glob("*.jpg"))[-1])
    config = KioskConfig(
        device_id=device_id, site_id=SITE, state_dir=tmp_path / "state", signing_key_file=key_file,
        mqtt={"host": "127.0.0.1", "port": broker.port, "reconnect_max_s": 1},
        liveness={"mode": "off"},          # still photos cannot blink
        clock={"require_sync": False},     # a test machine's kernel may not call its clock synchronised
        match={"mode": "verify_with_id", "keypad": {"kind": "fake"}, "keep_snapshots": keep_snapshots},
    )
    keypad = FakeKeypad()
    app = KioskApp(config, ReplayCamera(frames, fps=10, loop=True, pace=True), keypad=keypad)
    summary: dict = {}
    thread = threading.Thread(target=lambda: summary.update(app.run(RunOptions(wait_gallery_s=60))), daemon=True)
    thread.start()
    wait_for(lambda: app.gallery.version > 0, 120, "the kiosk's gallery from the hub")
    return app, keypad, thread, summary


def stop_kiosk(app: KioskApp, thread: threading.Thread) -> None:
    app.stop()
    thread.join(30)
    assert not thread.is_alive()


def test_staff_number_and_own_face_punches_face_id(tmp_path, world, faces_dir):
    _broker, api = world
    app, keypad, thread, summary = start_kiosk(tmp_path, world, faces_dir, "kiosk-fb-1", STAFF["1001"])
    try:
        keypad.type("1001", "enter")
        wait_for(lambda: [p for p in items(api.get("/api/v1/punches", params={"device_id": "kiosk-fb-1"}))],
                 120, "the punch at the hub")
        wait_for(lambda: app.keeper.depth() == 0, 60, "the hub's ack")
    finally:
        stop_kiosk(app, thread)
    stored = items(api.get("/api/v1/punches", params={"device_id": "kiosk-fb-1"}))
    assert [(p["employee_id"], p["method"]) for p in stored] == [("1001", "face+id")]
    assert stored[0]["distance"] < 0.5
    assert summary["punches_created"] == summary["punches_face_id"] == 1   # the face stays: one punch
    assert summary["assisted"] == 0


def test_staff_number_and_another_face_is_not_a_punch_but_an_assisted_attempt(tmp_path, world, faces_dir):
    _broker, api = world
    app, keypad, thread, summary = start_kiosk(tmp_path, world, faces_dir, "kiosk-fb-2", STAFF["1002"],
                                               keep_snapshots=True)
    outcomes = []
    process = app.process
    app.process = lambda frame: outcomes.append(process(frame)) or outcomes[-1]   # what the screen showed

    def hub_alarm() -> list[dict]:
        device = next(d for d in items(api.get("/api/v1/devices")) if d["device_id"] == "kiosk-fb-2")
        return [a for a in device["alarms"] if a["kind"] == "assisted_pending"]

    try:
        keypad.type("1001", "enter")                  # 1002 claims to be 1001
        wait_for(lambda: hub_alarm(), 120, "the assisted_pending alarm at the hub")
    finally:
        stop_kiosk(app, thread)
    assert summary["punches_created"] == 0 and summary["outbox_depth"] == 0
    assert items(api.get("/api/v1/punches", params={"device_id": "kiosk-fb-2"})) == []
    refused = [o for o in outcomes if o.state == "refused"]
    assert [(o.reason, o.prompt) for o in refused] == [("assisted", MESSAGES["assisted"])]
    assert summary["assisted"] == 1
    [alarm] = hub_alarm()
    assert "1001 at" in alarm["detail"]
    app.assisted.open()
    [record] = app.assisted.pending()
    assert record.claimed_id == "1001" and record.known and record.distance > 0.5
    snapshot = tmp_path / "state" / SNAPSHOT_DIR / record.snapshot
    assert snapshot.stat().st_size > 1000 and snapshot.stat().st_mode & 0o077 == 0
    assert app.assisted.mark_reviewed([record.id]) == 1
    assert app.assisted.pending() == [] and not snapshot.exists() and app.assisted.alarm() is None
    app.assisted.close()
