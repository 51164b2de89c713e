"""Remote commands end to end: `hub run`, a real Mosquitto and a real `kiosk run` on the replay camera.

- A resync sent while the kiosk is away waits, queued, at the hub; when the
  kiosk comes online it is sent, run and its result shows through the API,
  as does the ``logs`` command's output.
- ``enrol``: the kiosk shows consent, takes good frames of the person in
  front of it (real photos), sends signed templates; the hub enrols them and
  the kiosk, sent the new gallery, then recognises that person and punches.
"""

from pathlib import Path

import pytest

from tests.livekit import LiveHub, LiveKiosk, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.faces]

SITE, DEVICE = "site-cmd", "kiosk-cmd"
PERSON = "Naomi_Watts"


def frames_of(tmp_path: Path, faces_dir: Path, person: str) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for photo in sorted((faces_dir / "dev" / person).glob("*.jpg")):
        (folder / photo.name).symlink_to(photo)
    return folder


@pytest.fixture
def hub(tmp_path, broker):
    hub = LiveHub(tmp_path, broker.port, commands={"poll_s": 0.5, "enrol_frames": 3, "enrol_consent_s": 1.0,
                                                    "enrol_timeout_s": 120.0}).start()
    hub.cli("site", "add", SITE, "--name", "Command office")
    yield hub
    hub.stop()


@pytest.fixture
def kiosk(tmp_path, broker, hub, faces_dir):
    kiosk = LiveKiosk(tmp_path, hub, broker.port, DEVICE, SITE, frames_of(tmp_path, faces_dir, PERSON))
    registered = hub.api.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": SITE,
                                                       "public_key": kiosk.public_key})
    assert registered.status_code == 201, registered.text
    yield kiosk
    kiosk.stop()


def command(hub: LiveHub, command_id: str) -> dict:
    response = hub.api.get(f"/api/v1/devices/{DEVICE}/commands/{command_id}")
    assert response.status_code == 200, response.text
    return response.json()


def finished(hub: LiveHub, command_id: str):
    body = command(hub, command_id)
    return body if body["state"] not in ("queued", "sent") else None


def test_a_command_to_an_offline_kiosk_waits_then_runs_and_its_result_shows(hub, kiosk):
    queued = hub.api.post(f"/api/v1/devices/{DEVICE}/commands", json={"name": "resync"})
    assert queued.status_code == 201, queued.text
    assert queued.json()["state"] == "queued" and queued.json()["device_state"] == "never seen"
    assert command(hub, queued.json()["id"])["state"] == "queued"   # nobody to send it to: it waits

    kiosk.start()
    done = wait_for(lambda: finished(hub, queued.json()["id"]), "the resync result",
                    logs=(kiosk.log_file, hub.log_file))
    assert done["state"] == "ok" and done["detail"] == "asked the hub for the full gallery"
    assert done["sent_at"] is not None and done["finished_at"] >= done["sent_at"]

    logs = hub.api.post(f"/api/v1/devices/{DEVICE}/commands", json={"name": "logs"}).json()
    done = wait_for(lambda: finished(hub, logs["id"]), "the logs result", logs=(kiosk.log_file, hub.log_file))
    assert done["state"] == "ok" and f"command {queued.json()['id']}: resync" in done["output"]


def test_enrol_at_the_kiosk_then_the_kiosk_recognises_that_person(hub, kiosk):
    added = hub.api.post("/api/v1/employees", json={"employee_id": PERSON, "name": "Naomi Watts",
                                                    "home_site_id": SITE})
    assert added.status_code == 201, added.text
    kiosk.start()
    wait_for(lambda: hub.api.get("/api/v1/devices").json()["items"][0]["state"] == "online", "the kiosk online",
             logs=(kiosk.log_file,))
    assert hub.api.get("/api/v1/punches").json()["items"] == []   # a face it does not know: no punch

    sent = hub.api.post(f"/api/v1/devices/{DEVICE}/commands", json={"name": "enrol", "employee_id": PERSON})
    assert sent.status_code == 201, sent.text
    done = wait_for(lambda: finished(hub, sent.json()["id"]), "the enrol result", logs=(kiosk.log_file, hub.log_file))
    assert done["state"] == "ok", done
    assert done["templates_added"] == 3 and done["employee_id"] == PERSON

    punches = wait_for(lambda: hub.api.get("/api/v1/punches").json()["items"], "a punch of the enrolled person",
                       logs=(kiosk.log_file, hub.log_file))
    assert {p["employee_id"] for p in punches} == {PERSON} and punches[0]["device_id"] == DEVICE
    assert "consent shown" in kiosk.log_file.read_text()   # before any frame was taken
