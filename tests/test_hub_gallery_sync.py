"""Enrol -> gallery version bump -> the real kiosk link asks, receives, applies, confirms -> not behind.

The hub side is the real API and ingest worker on a real Mosquitto; the
kiosk side is the kiosk's own ``MqttLink`` and encrypted ``GalleryCache``.
"""

import secrets
import threading
from datetime import datetime, timezone

import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.ingest.worker import IngestWorker
from kiosk.config import KioskConfig
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import CardGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore
from kiosk.link import MqttLink
from kiosk.outbox import Outbox
from protocol import messages, signing
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine

pytestmark = [pytest.mark.broker, pytest.mark.faces]

DEVICE, SITE = "kiosk-phc1", "S-PHC1"


class Kiosk:
    """The kiosk's gallery sync, nothing else: link + cache over a state dir."""

    def __init__(self, tmp_path, port: int, key) -> None:
        signing.write_private_key(key, tmp_path / "device.key")
        self.config = KioskConfig(device_id=DEVICE, site_id=SITE, state_dir=tmp_path / "kiosk",
                                  signing_key_file=tmp_path / "device.key", mqtt={"port": port})
        self.cache = GalleryCache(SITE, EncryptedGalleryStore(tmp_path / "gallery.bin", CardGalleryKey(tmp_path / "device.key")))
        self.outbox = Outbox(tmp_path / "outbox.sqlite")
        self.link = MqttLink(self.config, self.outbox, sw_version="test", gallery_version=lambda: self.cache.version,
                             on_gallery=self.cache.apply)

    def sync(self) -> None:
        """Ask for what changed since our version and wait until it is applied (and confirmed)."""
        self.link.gallery_applied.clear()
        assert self.link.request_gallery()
        assert self.link.gallery_applied.wait(30), "no gallery delta applied"

    def close(self) -> None:
        self.link.stop()
        self.outbox.close()


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


def test_enrolment_reaches_the_kiosk_and_the_hub_sees_who_is_behind(hub, faces_dir, broker, tmp_path):
    api, worker = hub
    admin = api.machine
    key = signing.generate_private_key()
    assert admin.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": SITE,
                                               "public_key": signing.public_key_b64(key)}).status_code == 201
    assert (device_row(api)["gallery_behind"], device_row(api)["site_gallery_version"]) == (True, 0)

    kiosk = Kiosk(tmp_path, broker.port, key)
    kiosk.link.start()
    try:
        assert kiosk.link.gallery_applied.wait(30), "a new kiosk asks for its gallery on connect"
        assert kiosk.cache.version == 0 and len(kiosk.cache.gallery) == 0   # the (still empty) full gallery
        wait_confirmed(worker, 1)
        assert device_row(api)["gallery_behind"] is False

        obama = faces_dir / "dev" / "Barack_Obama"
        photos = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(obama.glob("*.jpg"))[:2]]
        assert admin.post("/api/v1/employees/H001/consent", json={"language": "en"}).status_code == 201
        enrolled = admin.post("/api/v1/employees/H001/photos", files=photos).json()
        assert enrolled["gallery_versions"] == {SITE: 1}
        row = device_row(api)
        assert (row["gallery_behind"], row["gallery_version"], row["site_gallery_version"]) == (True, 0, 1)

        kiosk.sync()
        assert kiosk.cache.version == 1 and kiosk.cache.name_of("H001") == "Person H001"
        assert kiosk.cache.gallery.template_count == 2
        wait_confirmed(worker, 2)
        row = device_row(api)
        assert (row["gallery_behind"], row["gallery_version"]) == (False, 1)

        # the templates the kiosk now holds recognise another photo of the same man
        probe = FaceEncoder().encode_largest(load_image_rgb(sorted(obama.glob("*.jpg"))[2]))[1]
        assert float(kiosk.cache.gallery.person_distances(probe).min()) < 0.6

        # a leaver: an incremental delta that removes them, pushed by the hub when the
        # kiosk's next health message says it still holds version 1
        assert admin.patch("/api/v1/employees/H001", json={"active": False}).json()["gallery_versions"] == {SITE: 2}
        assert device_row(api)["gallery_behind"] is True
        kiosk.link.gallery_applied.clear()
        assert kiosk.link.publish_health(messages.Health(
            ts=datetime.now(timezone.utc), uptime_s=1.0, outbox_depth=0, gallery_version=kiosk.cache.version,
            sw_version="test"))
        assert kiosk.link.gallery_applied.wait(30), "the hub did not push the delta"
        assert kiosk.cache.version == 2 and len(kiosk.cache.gallery) == 0
        assert worker.stats["gallery_pushes"] == 1
        wait_confirmed(worker, 3)
        assert (device_row(api)["gallery_behind"], device_row(api)["gallery_version"]) == (False, 2)

        # what the kiosk holds survives its restart, encrypted on disk
        again = GalleryCache(SITE, EncryptedGalleryStore(tmp_path / "gallery.bin", CardGalleryKey(tmp_path / "device.key")))
        assert again.load() == 2
    finally:
        kiosk.close()
