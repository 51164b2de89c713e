"""The kiosk as a whole, in-process: offline operation from its cached gallery, commands, config.
(Its screen: tests/test_kiosk_screen.py and tests/test_kiosk_screen_app.py.)"""

from pathlib import Path

import numpy as np
import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from devtools.mosquitto import free_port
from hardware.replay import ReplayCamera
from kiosk.app import GALLERY_FILE, KioskApp, RunOptions
from kiosk.config import KioskConfig
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import CardGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore
from protocol import messages, signing
from protocol.settings import load_config

REPO = Path(__file__).resolve().parents[1]
PEOPLE = ["Barack_Obama", "Naomi_Watts", "Tom_Crean"]


def kiosk_config(tmp_path: Path, frames: Path, port: int) -> KioskConfig:
    key_file = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), key_file)
    return KioskConfig(
        device_id="kiosk-app", site_id="site-app", state_dir=tmp_path / "state", signing_key_file=key_file,
        mqtt={"host": "127.0.0.1", "port": port, "reconnect_max_s": 1},
        camera={"kind": "replay", "path": frames, "fps": 10, "repeat": 4},
        liveness={"mode": "off"},
        clock={"require_sync": False},   # a test machine's kernel may not call its clock synchronised
        gallery={"key_source": "card"},  # these kiosks run offline from their cache: the opt-in card key
    )


def seed_gallery(config: KioskConfig, faces_dir: Path) -> None:
    """What the hub would have sent earlier: all photos but the last of each person."""
    encoder = FaceEncoder()
    upserts = []
    for person in PEOPLE:
        photos = sorted((faces_dir / "dev" / person).glob("*.jpg"))[:-1]
        encodings = [encoder.encode_largest(load_image_rgb(p)) for p in photos]
        upserts.append(messages.GalleryPerson(
            employee_id=person, name=person.replace("_", " "),
            encodings=[messages.encode_template(e[1]) for e in encodings if e is not None]))
    cache = GalleryCache(config.site_id, EncryptedGalleryStore(config.state_dir / GALLERY_FILE,
                                                               CardGalleryKey(config.signing_key_file)))
    assert cache.apply(messages.GalleryDelta(site_id=config.site_id, from_version=0, to_version=3, full=True,
                                             upserts=upserts)) == 3


@pytest.mark.faces
def test_offline_kiosk_recognises_from_its_cache_and_keeps_the_punch(tmp_path, faces_dir):
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(sorted((faces_dir / "dev" / PEOPLE[1]).glob("*.jpg"))[-1])
    config = kiosk_config(tmp_path, frames, free_port())   # nobody listens there: offline
    config.state_dir.mkdir(parents=True)
    seed_gallery(config, faces_dir)

    app = KioskApp(config, ReplayCamera(frames, fps=10, repeat=4, pace=False))
    summary = app.run(RunOptions(exit_when_done=True))

    assert summary["gallery_version"] == 3 and summary["gallery_people"] == 3
    assert summary["punches_created"] == 1 and summary["punches_acked"] == 0
    assert summary["outbox_depth"] == 1                     # kept for when the link returns

    again = KioskApp(config, ReplayCamera(frames, fps=10, repeat=4, pace=False)).run(RunOptions(exit_when_done=True))
    assert again["punches_created"] == 0 and again["suppressed"] == 1   # a restart still knows who just punched
    assert again["outbox_depth"] == 1
    from kiosk.outbox import Outbox

    box = Outbox(config.state_dir / "outbox.sqlite")
    row = box.due(10, 30)[0]
    punch = messages.parse(messages.Punch, row.payload)
    assert punch.employee_id == PEOPLE[1] and punch.seq == 1 and punch.liveness is None
    signing.verify_fields(messages.decode_json(row.payload),
                          signing.load_private_key(config.signing_key_file).public_key())
    box.close()


def test_commands(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    config = kiosk_config(tmp_path, frames, free_port())
    app = KioskApp(config, ReplayCamera(frames), encoder=FaceEncoder())
    unsupported = app.handle_command(messages.Command(id="c1", name="config", args={"x": 1}))
    assert not unsupported.ok and "not supported" in unsupported.detail
    resync = app.handle_command(messages.Command(id="c2", name="resync"))
    assert resync.id == "c2" and not resync.ok and "not connected" in resync.detail
    app.outbox.close()


def test_example_config_is_valid():
    config = load_config(REPO / "kiosk" / "kiosk.example.yaml", KioskConfig)
    assert config.liveness.mode == "blink_and_head_turn" and config.indicators is not None



@pytest.mark.faces
def test_watchdog_is_petted_while_frames_flow(tmp_path, faces_dir, monkeypatch):
    """Under systemd (Type=notify, WatchdogSec) the kiosk says READY and pings from its frame loop."""
    import socket

    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(sorted((faces_dir / "dev" / PEOPLE[0]).glob("*.jpg"))[0])
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")   # ping at least every 0.1 s while frames flow
    config = kiosk_config(tmp_path, frames, free_port())
    app = KioskApp(config, ReplayCamera(frames, fps=10, repeat=15, pace=True))
    app.run(RunOptions(exit_when_done=True))
    received = []
    try:
        while True:
            received += listener.recv(4096).decode().splitlines()
    except socket.timeout:
        pass
    listener.close()
    assert "READY=1" in received and received[-1] == "STOPPING=1"
    pings = received.count("WATCHDOG=1")
    assert 3 <= pings <= 15, received             # about one per 0.1 s over 1.5 s of frames, never more than frames


@pytest.mark.faces
def test_a_still_photo_held_up_to_the_kiosk_never_punches(tmp_path, faces_dir):
    """Liveness (blink) on: an enrolled person's photo, replayed for several seconds, is refused."""
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").symlink_to(sorted((faces_dir / "dev" / PEOPLE[1]).glob("*.jpg"))[-1])
    config = kiosk_config(tmp_path, frames, free_port()).model_copy(update={
        "liveness": KioskConfig.model_fields["liveness"].annotation(mode="blink"),
        "decision": KioskConfig.model_fields["decision"].annotation(attempt_timeout_s=3.0),
    })
    config.state_dir.mkdir(parents=True)
    seed_gallery(config, faces_dir)
    summary = KioskApp(config, ReplayCamera(frames, fps=10, repeat=40, pace=False)).run(
        RunOptions(exit_when_done=True))
    assert summary["punches_created"] == 0 and summary["outbox_depth"] == 0
    assert summary["liveness_failed"] >= 1      # named on agreeing frames, then refused: no blink


def test_gallery_cache_ignores_a_delta_it_already_holds(tmp_path):
    """The hub may push a delta while the kiosk's own request is answered too: the second is a no-op."""
    key_file = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), key_file)
    cache = GalleryCache("S1", EncryptedGalleryStore(tmp_path / "gallery.bin", CardGalleryKey(key_file)))
    person = messages.GalleryPerson(employee_id="E1", encodings=[messages.encode_template(np.ones(128) / 12)])
    assert cache.apply(messages.GalleryDelta(site_id="S1", from_version=0, to_version=3, full=True,
                                             upserts=[person])) == 3
    stale = messages.GalleryDelta(site_id="S1", from_version=2, to_version=3, removed=["E1"])
    assert cache.apply(stale) == 3 and len(cache.gallery) == 1          # nothing removed twice, no re-request
    gap = messages.GalleryDelta(site_id="S1", from_version=5, to_version=6)
    assert cache.apply(gap) is None                                      # missed versions: ask for everything
