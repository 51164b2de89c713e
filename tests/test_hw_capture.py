"""Camera backends and the newest-frame grabber, on real photos (no camera needed)."""

import importlib.util
import sys
import threading
import types
from collections import deque

import cv2
import numpy as np
import pytest

from hardware.camera import CameraError, Frame, FrameSource
from hardware.latest_frame import LatestFrameGrabber, rate_per_s
from hardware.opencv_camera import OpenCvCamera
from hardware.picamera2_camera import NOT_INSTALLED, Picamera2Camera

W, H = 640, 480


def real_frames(faces_dir, n: int) -> list[np.ndarray]:
    """``n`` real photos of different people, RGB, resized to 640x480."""
    people = sorted(p for p in (faces_dir / "dev").iterdir() if p.is_dir())[:n]
    frames = []
    for person in people:
        bgr = cv2.imread(str(sorted(person.glob("*.jpg"))[0]))
        frames.append(cv2.cvtColor(cv2.resize(bgr, (W, H)), cv2.COLOR_BGR2RGB))
    return frames


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


# --- OpenCvCamera ----------------------------------------------------------

@pytest.mark.parametrize("device", ["/dev/video99", 99])
def test_a_missing_camera_fails_with_the_device_and_the_reason(device):
    camera = OpenCvCamera(device)
    with pytest.raises(CameraError, match=r"/dev/video99 cannot be opened: no such device"):
        camera.open()
    assert camera.read() is None  # never opened: nothing comes, nothing hangs
    camera.close()


def test_a_missing_video_file_fails_clearly(tmp_path):
    with pytest.raises(CameraError, match="no such file"):
        OpenCvCamera(str(tmp_path / "absent.avi")).open()


def test_a_file_that_is_no_video_fails_clearly(tmp_path):
    bogus = tmp_path / "notes.avi"
    bogus.write_text("not a video")
    with pytest.raises(CameraError, match="cannot be opened"):
        OpenCvCamera(str(bogus)).open()


@pytest.mark.faces
def test_video_capture_reads_real_photos_in_order_as_rgb(faces_dir, tmp_path):
    originals = real_frames(faces_dir, 8)
    video = tmp_path / "walk-up.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert writer.isOpened()
    for rgb in originals:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()

    camera = OpenCvCamera(str(video), W, H)
    assert isinstance(camera, FrameSource)
    camera.open()
    frames = []
    while (frame := camera.read()) is not None:
        frames.append(frame)
    camera.close()

    assert [f.index for f in frames] == list(range(len(originals)))
    assert all(f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert all(b.ts_s >= a.ts_s for a, b in zip(frames, frames[1:]))
    for i, frame in enumerate(frames):
        diffs = [mean_abs_diff(frame.rgb, o) for o in originals]
        assert int(np.argmin(diffs)) == i, "frames come back in the order written"
        # RGB, not BGR: the frame is far closer to the RGB original than to its channel swap
        assert diffs[i] * 3 < mean_abs_diff(frame.rgb, originals[i][..., ::-1])
    assert camera.read() is None  # closed


# --- Picamera2Camera (off a Pi) --------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_picamera2_off_a_pi_says_what_to_install():
    camera = Picamera2Camera(W, H, 10)
    with pytest.raises(CameraError) as err:
        camera.open()
    assert str(err.value) == NOT_INSTALLED == "picamera2 is not installed: install the 'pi' extra on a Raspberry Pi"
    assert camera.read() is None
    camera.close()


class FakePicamera2:
    """Behaves like picamera2 for one camera: RGB888 buffers hold B, G, R bytes; index 1 is absent."""

    photo_rgb: np.ndarray

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num != 0:
            raise IndexError("list index out of range")  # what picamera2 raises with no such camera
        self.config = None
        self.running = False

    def create_video_configuration(self, main, controls):
        return {"main": dict(main), "controls": dict(controls)}

    def configure(self, config):
        self.config = config

    def camera_configuration(self):
        return self.config

    def start(self):
        self.running = True

    def capture_array(self, name="main", wait=None):
        main = self.config["main"]
        assert self.running and name == "main" and main["format"] == "RGB888"
        w, h = main["size"]
        return np.ascontiguousarray(cv2.resize(self.photo_rgb, (w, h))[..., ::-1])

    def stop(self):
        self.running = False

    def close(self):
        pass


@pytest.mark.faces
def test_picamera2_backend_delivers_rgb_at_the_asked_size_and_names_a_missing_camera(faces_dir, monkeypatch):
    fake = types.ModuleType("picamera2")
    fake.Picamera2 = FakePicamera2
    FakePicamera2.photo_rgb = real_frames(faces_dir, 1)[0]
    monkeypatch.setitem(sys.modules, "picamera2", fake)

    camera = Picamera2Camera(320, 240, 10)
    camera.open()
    frames = [camera.read(), camera.read()]
    camera.close()
    assert [f.index for f in frames] == [0, 1]
    assert frames[0].rgb.shape == (240, 320, 3) and frames[0].rgb.flags.c_contiguous
    assert np.array_equal(frames[0].rgb, cv2.resize(FakePicamera2.photo_rgb, (320, 240)))
    assert camera.read() is None

    with pytest.raises(CameraError, match="Pi camera 1 cannot be opened: IndexError"):
        Picamera2Camera(camera_num=1).open()


# --- LatestFrameGrabber ----------------------------------------------------

class PhotoSource:
    """An unpaced source over real photos: frame k is photo k % len(photos)."""

    def __init__(self, photos: list[np.ndarray], count: int) -> None:
        self.photos = photos
        self.count = count
        self.produced = -1  # index of the last frame returned by read()
        self.cond = threading.Condition()
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def read(self) -> Frame | None:
        with self.cond:
            k = self.produced + 1
            if k >= self.count:
                return None
            self.produced = k
            self.cond.notify_all()
        return Frame(k, float(k), self.photos[k % len(self.photos)], source="photos")

    def close(self) -> None:
        self.closed = True


@pytest.mark.faces
def test_a_slow_reader_always_gets_the_newest_frame_and_drops_are_counted(faces_dir):
    source = PhotoSource(real_frames(faces_dir, 4), count=400)
    grabber = LatestFrameGrabber(source)
    assert isinstance(grabber, FrameSource)
    assert grabber.read() is None  # not started: nothing to wait for
    grabber.start()
    seen = []
    try:
        while True:
            with source.cond:
                produced_before = source.produced
            frame = grabber.read(timeout_s=30)
            if frame is None:
                break
            # at most the one frame between the source's return and the slot is newer
            assert frame.index >= produced_before - 1
            assert not seen or frame.index > seen[-1]
            seen.append(frame.index)
            # a slow pipeline: hold this frame until the camera has moved on by 5 more
            with source.cond:
                source.cond.wait_for(lambda: source.produced >= min(frame.index + 5, source.count - 1), 30)
    finally:
        grabber.stop()
    stats = grabber.stats
    assert source.opened and source.closed
    assert stats.captured == 400
    assert stats.delivered == len(seen)
    assert stats.dropped > 0 and stats.delivered + stats.dropped == stats.captured
    assert seen[-1] == 399  # the last frame is handed out before the end is reported


class GatedSource(PhotoSource):
    """A camera that delivers only when the test lets a frame through."""

    def __init__(self, photos):
        super().__init__(photos, count=10**9)
        self.gate = threading.Semaphore(0)
        self.stopping = threading.Event()

    def read(self) -> Frame | None:
        while not self.gate.acquire(timeout=0.05):
            if self.stopping.is_set():
                return None
        return super().read()


@pytest.mark.faces
def test_stop_wakes_a_blocked_reader_and_nothing_blocks_afterwards(faces_dir):
    source = GatedSource(real_frames(faces_dir, 1))
    grabber = LatestFrameGrabber(source)
    grabber.start()
    source.gate.release()
    assert grabber.read(timeout_s=30).index == 0

    results = []
    reader = threading.Thread(target=lambda: results.append(grabber.read()))
    reader.start()  # blocks: the camera delivers nothing now
    source.stopping.set()
    grabber.stop()
    reader.join(30)
    assert not reader.is_alive() and results == [None]
    assert grabber.read() is None and grabber.read(timeout_s=None) is None
    assert source.closed


class FailingSource(PhotoSource):
    def read(self) -> Frame | None:
        if self.produced >= 2:
            raise CameraError("camera 0 stopped delivering frames: 30 reads failed in a row")
        return super().read()


@pytest.mark.faces
def test_a_camera_error_reaches_the_reader_after_the_last_good_frame(faces_dir):
    grabber = LatestFrameGrabber(FailingSource(real_frames(faces_dir, 1), count=100))
    grabber.start()
    last = None
    with pytest.raises(CameraError, match="stopped delivering"):
        while True:
            frame = grabber.read(timeout_s=30)
            assert frame is not None
            last = frame
    assert last is not None and last.index == 2
    grabber.stop()


@pytest.mark.parametrize(
    "times, now, window, expected",
    [
        ([], 10.0, 3.0, 0.0),
        ([9.0], 10.0, 3.0, 0.0),
        ([8.0, 8.5, 9.0, 9.5, 10.0], 10.0, 3.0, 2.0),
        ([1.0, 2.0, 8.0, 9.0, 10.0], 10.0, 3.0, 1.0),   # the old frames fall out of the window
        ([1.0, 2.0], 10.0, 3.0, 0.0),                    # a stalled camera reads 0, not its old rate
    ],
)
def test_camera_fps_over_a_sliding_window(times, now, window, expected):
    q = deque(times)
    assert rate_per_s(q, now, window) == pytest.approx(expected)
    assert all(t >= now - window for t in q)
