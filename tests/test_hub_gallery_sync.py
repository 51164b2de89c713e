"""Enrol -> gallery version bump -> a kiosk over real MQTT asks, receives, applies, confirms -> not behind.

The hub side is the real API and ingest worker on a real Mosquitto; the
kiosk is tests.punchkit.KioskLink driven the way the kiosk's gallery sync
works (kiosk/link.py does not exist yet): it says the version it holds and
applies the delta it gets to its own copy of the gallery.
"""

import secrets
import threading

import numpy as np
import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.ingest import IngestWorker
from protocol import messages, signing, topics
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine
from tests.punchkit import KioskLink

pytestmark = [pytest.mark.broker, pytest.mark.faces]

DEVICE, SITE = "kiosk-phc1", "S-PHC1"


class KioskGallery:
    """What a kiosk holds: {employee_id: (name, templates)} at a version; applies deltas like the kiosk."""

    def __init__(self) -> None:
        self.version = 0
        self.people: dict[str, tuple[str, list[np.ndarray]]] = {}

    def apply(self, delta: messages.GalleryDelta) -> None:
        if not delta.full and delta.from_version != self.version:
            raise AssertionError(f"delta from {delta.from_version} does not fit version {self.version}")
        if delta.full:
            self.people = {}
        for employee_id in delta.removed:
            self.people.pop(employee_id, None)
        for person in delta.upserts:
            self.people[person.employee_id] = (person.name, [messages.decode_template(e) for e in person.encodings])
        self.version = delta.to_version

    def sync(self, link: KioskLink) -> messages.GalleryDelta:
        """Ask for what changed since our version, wait for the answer, apply it, confirm it."""
        seen = len(link.deltas())
        link.publish(topics.GALLERY_REQUEST, messages.GalleryRequest(site_id=SITE, have_version=self.version).to_json())
        assert link.wait_for(lambda k: len(k.deltas()) > seen, timeout_s=30), link.received
        delta = link.deltas()[seen]
        self.apply(delta)
        link.publish(topics.GALLERY_APPLIED, messages.GalleryApplied(site_id=SITE, version=self.version).to_json())
        return delta


@pytest.fixture
def hub(tmp_path, broker):
    engine = sqlite_engine(tmp_path)
    api = HubApi(tmp_path, engine, mqtt={"port": broker.port, "client_id": f"hub-{secrets.token_hex(4)}"})
    api.app.state.encoder_factory = FaceEncoder
    with api.sessions() as session:
        seed_org(session)
        session.commit()
    worker = IngestWorker(api.config, api.sessions)
    worker.start()
    assert worker.ready.wait(20), "ingest worker did not subscribe"
    yield api, worker
    worker.stop()
    api.close()
    engine.dispose()


def device_row(api: HubApi) -> dict:
    devices = api.machine.get("/api/v1/devices").json()["items"]
    return next(d for d in devices if d["device_id"] == DEVICE)


def wait_confirmed(worker: IngestWorker, count: int) -> None:
    """The confirmation is a QoS 1 message: wait until the worker has stored ``count`` of them."""
    tick = threading.Event()
    for _ in range(600):  # up to 30 s
        if worker.stats["gallery_applied"] >= count:
            return
        tick.wait(0.05)
    raise AssertionError(f"hub stored {worker.stats['gallery_applied']} gallery confirmations, expected {count}")


def test_enrolment_reaches_the_kiosk_and_the_hub_sees_who_is_behind(hub, faces_dir, broker):
    api, worker = hub
    admin = api.machine
    key = signing.generate_private_key()
    assert admin.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": SITE,
                                               "public_key": signing.public_key_b64(key)}).status_code == 201
    assert (device_row(api)["gallery_behind"], device_row(api)["site_gallery_version"]) == (True, 0)

    kiosk = KioskGallery()
    with KioskLink(broker.port, DEVICE) as link:
        first = kiosk.sync(link)  # a new kiosk: the (still empty) full gallery
        assert (first.full, first.to_version, first.upserts) == (True, 0, [])
        wait_confirmed(worker, 1)
        assert device_row(api)["gallery_behind"] is False

        obama = faces_dir / "dev" / "Barack_Obama"
        photos = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(obama.glob("*.jpg"))[:2]]
        enrolled = admin.post("/api/v1/employees/H001/photos", files=photos).json()
        assert enrolled["gallery_versions"] == {SITE: 1}
        row = device_row(api)
        assert (row["gallery_behind"], row["gallery_version"], row["site_gallery_version"]) == (True, 0, 1)

        delta = kiosk.sync(link)
        assert (delta.from_version, delta.to_version, delta.full) == (0, 1, True)  # version 0 = holds nothing
        name, templates = kiosk.people["H001"]
        assert name == "Person H001" and len(templates) == 2 and templates[0].shape == (128,)
        wait_confirmed(worker, 2)
        row = device_row(api)
        assert (row["gallery_behind"], row["gallery_version"]) == (False, 1)

        # the templates the kiosk now holds recognise another photo of the same man
        probe = FaceEncoder().encode_largest(load_image_rgb(sorted(obama.glob("*.jpg"))[2]))[1]
        assert min(np.linalg.norm(t - probe) for t in templates) < 0.6

        # a leaver: an incremental delta that removes them
        assert admin.patch("/api/v1/employees/H001", json={"active": False}).json()["gallery_versions"] == {SITE: 2}
        assert device_row(api)["gallery_behind"] is True
        delta = kiosk.sync(link)
        assert (delta.full, delta.from_version, delta.to_version, delta.removed) == (False, 1, 2, ["H001"])
        assert kiosk.people == {}
        wait_confirmed(worker, 3)
        assert (device_row(api)["gallery_behind"], device_row(api)["gallery_version"]) == (False, 2)
