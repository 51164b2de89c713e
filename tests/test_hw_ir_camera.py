"""The IR camera beside the colour one (hardware/ir_camera.py), its config, and the whole kiosk with it.

The IR side runs on its shipped fake, a ``ReplayCamera`` over a folder of IR
images. Those images are synthetic and not faces (grey levels, or the
non-face pattern of tests/test_liveness_ir.py placed where the colour
frame's landmarks are); no IR picture of a face exists here. The colour
side of the last tests is the real blink video from ../shared/faces,
written frame by frame to the test's own temporary folder.
"""

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics.encoder import FaceEncoder
from devtools.mosquitto import free_port
from hardware.camera import CameraError
from hardware.ir_camera import IrPairedCamera, to_ir_gray
from hardware.replay import ReplayCamera
from kiosk.app import GALLERY_FILE, KioskApp, RunOptions
from kiosk.cli import ir_line, make_camera
from kiosk.config import KioskConfig
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import CardGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore
from kiosk.liveness import PROMPTS
from protocol import messages, signing
from tests.test_kiosk_cli import check_config, good_config  # noqa: F401  (fixture)
from tests.test_liveness_ir import ir_frame


def write_frames(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        assert cv2.imwrite(str(folder / f"{i:04d}.png"), bgr)
    return folder


def colour(i: int) -> np.ndarray:
    return np.full((48, 64, 3), (10 * i, 100, 200), np.uint8)


def grey(i: int) -> np.ndarray:
    return np.full((48, 64), 40 + i, np.uint8)


def test_each_colour_frame_carries_the_ir_frame_of_its_moment(tmp_path):
    pair = IrPairedCamera(ReplayCamera(write_frames(tmp_path / "rgb", [colour(i) for i in range(3)]), pace=False),
                          ReplayCamera(write_frames(tmp_path / "ir", [grey(i) for i in range(3)]), pace=False))
    pair.open()
    frames = [pair.read() for _ in range(3)]
    assert pair.read() is None
    pair.close()
    assert [f.rgb[0, 0, 0] for f in frames] == [0, 10, 20]
    assert [f.ir.shape for f in frames] == [(48, 64)] * 3          # grey, one channel
    assert [int(f.ir[0, 0]) for f in frames] == [40, 41, 42]
    assert (pair.ir_frames, pair.ir_missing) == (3, 0)


def test_an_ir_camera_giving_rgb_is_made_grey():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 90
    assert to_ir_gray(rgb).shape == (4, 4) and int(to_ir_gray(rgb)[0, 0]) == round(0.299 * 90)
    with pytest.raises(ValueError, match="HxW"):
        to_ir_gray(np.zeros((4, 4, 2), np.uint8))


def test_ir_too_far_apart_in_time_is_not_attached(tmp_path):
    # IR at 2 fps against colour at 10 fps: only the first pair is within 0.1 s
    pair = IrPairedCamera(ReplayCamera(write_frames(tmp_path / "rgb", [colour(i) for i in range(3)]), pace=False),
                          ReplayCamera(write_frames(tmp_path / "ir", [grey(i) for i in range(3)]), fps=2,
                                       pace=False), max_skew_s=0.1)
    pair.open()
    frames = [pair.read() for _ in range(3)]
    assert [f.ir is not None for f in frames] == [True, False, False]
    assert (pair.ir_frames, pair.ir_missing) == (1, 2)
    with pytest.raises(ValueError):
        IrPairedCamera(pair.colour, pair.ir, max_skew_s=0)


def test_an_ir_camera_that_fails_or_ends_never_stops_the_colour_frames(tmp_path, caplog):
    rgb = write_frames(tmp_path / "rgb", [colour(i) for i in range(4)])
    caplog.set_level(logging.ERROR, logger="hardware.ir_camera")
    missing = IrPairedCamera(ReplayCamera(rgb, pace=False), ReplayCamera(tmp_path / "no-ir", pace=False))
    missing.open()
    assert [missing.read().ir for _ in range(4)] == [None] * 4
    assert "IR camera cannot be opened" in caplog.text
    caplog.clear()
    short = IrPairedCamera(ReplayCamera(rgb, pace=False),
                           ReplayCamera(write_frames(tmp_path / "ir", [grey(0)]), pace=False))
    short.open()
    got = [short.read() for _ in range(4)]
    assert [f.ir is not None for f in got] == [True, False, False, False]
    assert caplog.text.count("IR camera has no more frames") == 1   # once per outage, not per frame
    with pytest.raises(CameraError):   # the colour camera's own failure is still fatal
        IrPairedCamera(ReplayCamera(tmp_path / "no-rgb"), ReplayCamera(rgb)).open()


def base_config(tmp_path: Path, **changes) -> dict:
    key = tmp_path / "device.key"
    if not key.exists():
        signing.write_private_key(signing.generate_private_key(), key)
    data = {"device_id": "kiosk-ir", "site_id": "site-ir", "state_dir": str(tmp_path / "state"),
            "signing_key_file": str(key), "mqtt": {"host": "127.0.0.1", "port": free_port(), "reconnect_max_s": 1},
            "clock": {"require_sync": False}, "gallery": {"key_source": "card"}}
    data.update(changes)
    return data


def test_the_ir_check_needs_an_ir_camera_and_an_ir_replay_a_path(tmp_path):
    with pytest.raises(ValueError, match="liveness.ir.enabled needs an IR camera"):
        KioskConfig(**base_config(tmp_path, liveness={"mode": "blink", "ir": {"enabled": True}}))
    with pytest.raises(ValueError, match="camera.ir.path"):
        KioskConfig(**base_config(tmp_path, camera={"kind": "replay", "path": str(tmp_path), "ir": {"kind": "replay"}}))
    with pytest.raises(ValueError, match="mode other than off"):
        KioskConfig(**base_config(tmp_path, liveness={"mode": "off", "ir": {"enabled": True}},
                                  camera={"ir": {"kind": "picamera2"}}))


def test_make_camera_pairs_the_configured_ir_replay(tmp_path):
    rgb = write_frames(tmp_path / "rgb", [colour(i) for i in range(2)])
    ir = write_frames(tmp_path / "ir", [grey(i) for i in range(2)])
    config = KioskConfig(**base_config(tmp_path, camera={"kind": "replay", "path": str(rgb),
                                                         "ir": {"kind": "replay", "path": str(ir)}},
                                       liveness={"mode": "blink", "ir": {"enabled": True}}))
    camera = make_camera(config.camera, pace=False)
    assert isinstance(camera, IrPairedCamera)
    camera.open()
    assert int(camera.read().ir[0, 0]) == 40
    camera.close()
    assert ir_line(config).startswith("liveness.ir: on, replay ")
    off = KioskConfig(**base_config(tmp_path, camera={"kind": "replay", "path": str(rgb)}))
    assert isinstance(make_camera(off.camera, pace=False), ReplayCamera) and ir_line(off) == "liveness.ir: off"


def test_check_config_reports_the_ir_check_and_a_missing_ir_folder(tmp_path, good_config):  # noqa: F811
    ir = write_frames(tmp_path / "ir", [grey(0)])
    data = {**good_config, "camera": {**good_config["camera"], "ir": {"kind": "replay", "path": str(ir)}},
            "liveness": {"mode": "blink", "ir": {"enabled": True}}}
    proc = check_config(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    assert "liveness.ir: on, replay" in proc.stdout and "unvalidated" in proc.stdout
    data["camera"]["ir"]["path"] = str(tmp_path / "gone")
    proc = check_config(tmp_path, data)
    assert proc.returncode != 0 and "camera.ir.path" in proc.stderr and "Traceback" not in proc.stderr
    plain = check_config(tmp_path, good_config)
    assert "liveness.ir: off" in plain.stdout


# -- the whole kiosk, real video, synthetic IR --------------------------------------------------------

@pytest.fixture(scope="module")
def blink_scene(faces_dir, tmp_path_factory):
    """The real video from 2.0 to 4.4 s (open eyes, a blink at ~3.4 s) as colour frames, the person's
    templates from other stretches of it, and the kiosk path's landmarks on each frame."""
    from benchmarks.liveness_frames import kiosk_track, video_frames
    from kiosk.decision_bench import BLINK1_ENROL

    path = faces_dir / "video" / "blink-1.mp4"
    if not path.is_file():
        pytest.skip(f"real blink video not found at {path}")
    _, frames = video_frames(path)
    encoder = FaceEncoder()
    templates = [encoder.encode_largest(frames[int(10 * (a + b) / 2)])[1] for a, b in BLINK1_ENROL]
    window = frames[20:44]
    folder = write_frames(tmp_path_factory.mktemp("scene") / "rgb", window)
    return folder, templates, kiosk_track(encoder, window), encoder


class Screen:
    """Records what the kiosk would show on each frame (the display seam of ``KioskApp``)."""

    def __init__(self) -> None:
        self.shown: list[tuple[bool, object]] = []   # (frame had IR, outcome)

    def show(self, frame, obs, outcome) -> None:
        self.shown.append((frame.ir is not None, outcome))


def run_kiosk(tmp_path: Path, scene, ir_folder: Path | None, enabled: bool) -> tuple[dict, Screen]:
    folder, templates, _, encoder = scene
    camera = {"kind": "replay", "path": str(folder), "fps": 10}
    if ir_folder is not None:
        camera["ir"] = {"kind": "replay", "path": str(ir_folder)}
    config = KioskConfig(**base_config(tmp_path, camera=camera, display=False,
                                       liveness={"mode": "blink", "ir": {"enabled": enabled}}))
    config.state_dir.mkdir(parents=True)
    cache = GalleryCache(config.site_id, EncryptedGalleryStore(config.state_dir / GALLERY_FILE,
                                                               CardGalleryKey(config.signing_key_file)))
    person = messages.GalleryPerson(employee_id="live-person", name="Live Person",
                                    encodings=[messages.encode_template(t) for t in templates])
    cache.apply(messages.GalleryDelta(site_id=config.site_id, from_version=0, to_version=1, full=True,
                                      upserts=[person]))
    screen = Screen()
    app = KioskApp(config, make_camera(config.camera, pace=False), encoder=encoder, display=screen)
    return app.run(RunOptions(exit_when_done=True)), screen


@pytest.mark.faces
def test_a_real_blink_punches_with_live_looking_ir_and_not_with_a_screen_dark_in_ir(tmp_path, blink_scene):
    _, _, track, _ = blink_scene
    assert track.found.all()
    summary, screen = run_kiosk(tmp_path / "off", blink_scene, None, enabled=False)
    assert summary["punches_created"] == 1                      # the blink alone passes
    live = [ir_frame(lm, seed=i) for i, lm in enumerate(track.landmarks)]  # synthetic, placed on the landmarks
    summary, screen = run_kiosk(tmp_path / "live", blink_scene, write_frames(tmp_path / "ir-live", live), True)
    assert summary["punches_created"] == 1 and all(had_ir for had_ir, _ in screen.shown)

    dark = [np.full((480, 640), 12, np.uint8)] * len(live)      # what a screen gives in IR
    summary, screen = run_kiosk(tmp_path / "dark", blink_scene, write_frames(tmp_path / "ir-dark", dark), True)
    assert summary["punches_created"] == 0
    screen_prompt = PROMPTS["still_image"]                      # "Photo or screen not allowed"
    assert [o.prompt for _, o in screen.shown].count(screen_prompt) >= 10  # told on the named frames

    summary, screen = run_kiosk(tmp_path / "none", blink_scene, tmp_path / "no-ir-camera", True)
    assert summary["punches_created"] == 0                      # IR camera down: nobody passes
    assert screen_prompt not in [o.prompt for _, o in screen.shown]   # ...and nobody is called a photo
