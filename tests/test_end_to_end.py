"""One face in front of a kiosk becomes one stored punch at the hub.

The real processes (`hub run`, `kiosk run`) over a real Mosquitto, with real
photos: an enrolled person is stored exactly once, a stranger produces no
punch, and a punch with a bad signature is rejected with a reason in the ack
and kept for audit.
"""

import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml

from devtools.mosquitto import free_port
from protocol import messages, signing, topics
from protocol.ids import new_punch_id

pytestmark = [pytest.mark.broker, pytest.mark.faces]

SITE, DEVICE = "site-e2e", "kiosk-e2e"
ENROLLED = ["Hamid_Karzai", "Benazir_Bhutto", "Barack_Obama"]
STRANGER = "Harbhajan_Singh"


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def check(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def hub(tmp_path, broker, faces_dir):
    """A running `hub run` with three people enrolled (all photos but their last)."""
    enrol = tmp_path / "people"
    for person in ENROLLED:
        photos = sorted((faces_dir / "dev" / person).glob("*.jpg"))
        (enrol / person).mkdir(parents=True)
        for photo in photos[:-1]:
            (enrol / person / photo.name).symlink_to(photo)
    token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token)
    port = free_port()
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
        "admin_token_file": str(tmp_path / "admin.token"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "hub-e2e"},
        "api": {"host": "127.0.0.1", "port": port},
    }))
    check([tool("hub"), "init-db", "--config", str(cfg)])
    check([tool("hub"), "site", "add", "--config", str(cfg), SITE, "--name", "E2E office"])
    check([tool("hub"), "enrol", "--config", str(cfg), "--site", SITE, "--consent-given", str(enrol)])
    log = open(tmp_path / "hub.log", "w")
    proc = subprocess.Popen([tool("hub"), "run", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "hub.log").read_text()
        try:
            if api.get("/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "hub did not become healthy"
        time.sleep(0.2)
    yield api
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    log.close()


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    return body["items"] if isinstance(body, dict) else body


def test_enrolled_face_is_stored_once_and_stranger_makes_no_punch(tmp_path, broker, hub, faces_dir):
    key_file = tmp_path / "kiosk" / "device.key"
    public_key = check([tool("kiosk"), "keygen", "--out", str(key_file)]).split()[-1]
    reg = hub.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": SITE, "public_key": public_key})
    assert reg.status_code == 201, reg.text

    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(sorted((faces_dir / "dev" / ENROLLED[0]).glob("*.jpg"))[-1])
    (frames / "2.jpg").symlink_to(sorted((faces_dir / "dev" / STRANGER).glob("*.jpg"))[0])
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(yaml.safe_dump({
        "device_id": DEVICE, "site_id": SITE, "state_dir": str(tmp_path / "kiosk"),
        "signing_key_file": str(key_file),
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
        "camera": {"kind": "replay", "path": str(frames), "fps": 20, "repeat": 4},
        "liveness": {"mode": "off"},  # still photos cannot blink; liveness has its own tests
        "clock": {"require_sync": False},  # a test machine's kernel may not call its clock synchronised
    }))
    out = check([tool("kiosk"), "run", "--config", str(cfg), "--exit-when-done", "--wait-gallery-s", "60",
                 "--drain-timeout-s", "60", "--summary-json"])
    summary = json.loads(out.strip().splitlines()[-1])

    assert summary["frames"] == 8
    assert summary["punches_created"] == 1          # four frames of one person: one punch
    assert summary["punches_acked"] == 1
    assert summary["outbox_depth"] == 0
    stored = items(hub.get("/api/v1/punches", params={"limit": 100}))
    assert [p["employee_id"] for p in stored] == [ENROLLED[0]]
    assert stored[0]["device_id"] == DEVICE and stored[0]["site_id"] == SITE

    # the kiosk's birth, health and clean goodbye reached the hub's device registry
    device = next(d for d in items(hub.get("/api/v1/devices")) if d["device_id"] == DEVICE)
    assert device["status"] == "offline" and device["last_seen"] is not None
    assert device["telemetry"]["sw_version"] and device["gallery_behind"] is False


def test_bad_signature_is_rejected_in_the_ack_and_kept_for_audit(tmp_path, broker, hub):
    device_key, forger_key = signing.generate_private_key(), signing.generate_private_key()
    reg = hub.post("/api/v1/devices",
                   json={"device_id": DEVICE, "site_id": SITE, "public_key": signing.public_key_b64(device_key)})
    assert reg.status_code == 201, reg.text
    punch = signing.sign_fields({
        "v": 1, "id": new_punch_id(), "device_id": DEVICE, "site_id": SITE, "employee_id": ENROLLED[1],
        "ts": messages.device_time(datetime.now(ZoneInfo("Asia/Kolkata"))), "method": "face",
        "match": {"distance": 0.3, "margin": 0.2, "gallery_version": 1}, "seq": 1,
    }, forger_key)

    acks: list[messages.Ack] = []
    got = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=DEVICE)
    client.on_message = lambda _c, _u, msg: (acks.append(messages.parse(messages.Ack, msg.payload)), got.set())
    client.on_connect = lambda c, *_: c.subscribe(topics.device_topic(DEVICE, topics.ACK), qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 30
        while not got.is_set() and time.monotonic() < deadline:  # resend until the subscription is live
            client.publish(topics.device_topic(DEVICE, topics.PUNCH), json.dumps(punch), qos=1)
            got.wait(2)
    finally:
        client.loop_stop()
        client.disconnect()

    assert acks, "no ack from the hub"
    assert acks[0].ids == []
    assert [(r.id, r.reason) for r in acks[0].rejected] == [(punch["id"], "bad signature")]
    assert items(hub.get("/api/v1/punches")) == []
    audit = items(hub.get("/api/v1/rejected"))
    assert any(r["punch_id"] == punch["id"] and r["reason"] == "bad signature" for r in audit)
