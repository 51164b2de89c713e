"""ReplayCamera: image folders and video files replayed as a camera would deliver them.

Images are small generated PNG/JPEG files whose colour encodes which file
they are, so the order of frames can be read back from the pixels; the video
case writes a short clip of a real photo with cv2.VideoWriter.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from hardware.camera import CameraError, FrameSource
from hardware.replay import ReplayCamera


def write_image(path: Path, value: int, size: tuple[int, int] = (32, 24)) -> Path:
    """A flat image of grey level ``value`` (PNG keeps it exact)."""
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


def drain(cam: ReplayCamera, limit: int = 1000) -> list:
    frames = []
    while len(frames) < limit:
        frame = cam.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


def camera(path: Path, **kw) -> ReplayCamera:
    cam = ReplayCamera(path, pace=False, **kw)
    cam.open()
    return cam


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for name, value in (("b.png", 20), ("a.png", 10), ("c.PNG", 30)):
        write_image(d / name, value)
    (d / "notes.txt").write_text("not an image")
    return d


def test_is_a_frame_source(folder):
    assert isinstance(ReplayCamera(folder), FrameSource)


def test_images_in_name_order_with_index_and_ts(folder):
    cam = camera(folder, fps=4.0)
    frames = drain(cam)
    assert [f.source for f in frames] == ["a.png", "b.png", "c.PNG"]   # the .txt is not a frame
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.ts_s for f in frames] == [0.0, 0.25, 0.5]                # index / fps, not wall time
    assert frames[0].rgb.shape == (24, 32, 3) and frames[0].rgb.dtype == np.uint8
    assert cam.read() is None and cam.read() is None                   # ended stays ended
    cam.close()
    cam.close()                                                        # safe twice


def test_repeat_shows_each_image_that_many_times(folder):
    frames = drain(camera(folder, fps=10.0, repeat=3))
    assert [f.source for f in frames] == ["a.png"] * 3 + ["b.png"] * 3 + ["c.PNG"] * 3
    assert [f.index for f in frames] == list(range(9))
    assert frames[-1].ts_s == pytest.approx(0.8)


def test_loop_starts_again_at_the_end(folder):
    frames = drain(camera(folder, repeat=2, loop=True), limit=15)
    assert len(frames) == 15                                            # a loop never ends by itself
    assert [f.source[0] for f in frames] == list("aabbccaabbccaab")
    assert [f.index for f in frames] == list(range(15))                 # time keeps going forward


def test_grayscale_and_rgba_images_come_out_rgb(tmp_path):
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(tmp_path / "1.png")
    Image.fromarray(np.full((10, 12, 4), 99, np.uint8), "RGBA").save(tmp_path / "2.png")
    frames = drain(camera(tmp_path))
    assert [f.rgb.shape for f in frames] == [(10, 12, 3), (10, 12, 3)]
    assert int(frames[0].rgb[0, 0, 1]) == 77


@pytest.mark.parametrize("corrupt", [b"", b"this is not a jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 40])
def test_a_corrupt_file_is_skipped(folder, corrupt, caplog):
    (folder / "ab.jpg").write_bytes(corrupt)                            # sorts between a and b
    frames = drain(camera(folder, repeat=2))
    assert [f.source for f in frames] == ["a.png", "a.png", "b.png", "b.png", "c.PNG", "c.PNG"]
    assert [f.index for f in frames] == list(range(6))                  # no hole in the timeline
    assert "ab.jpg" in caplog.text


def test_a_truncated_photo_is_skipped(folder, faces_dir):
    photo = sorted((faces_dir / "dev" / "Barack_Obama").glob("*.jpg"))[0].read_bytes()
    (folder / "ab.jpg").write_bytes(photo[: len(photo) // 2])
    assert [f.source for f in drain(camera(folder))] == ["a.png", "b.png", "c.PNG"]


def test_a_corrupt_file_is_skipped_on_every_loop_and_reported_once(folder, caplog):
    (folder / "0.jpg").write_bytes(b"junk")
    frames = drain(camera(folder, loop=True, repeat=2), limit=13)
    assert [f.source[0] for f in frames] == list("aabbcc" * 2 + "a")
    assert sum("0.jpg" in r.getMessage() for r in caplog.records) == 1  # no warning per pass of a demo loop


@pytest.mark.parametrize("loop", [False, True])
def test_a_folder_of_only_corrupt_files_raises(tmp_path, loop):
    for name in ("1.jpg", "2.png"):
        (tmp_path / name).write_bytes(b"garbage")
    cam = camera(tmp_path, loop=loop, repeat=3)
    with pytest.raises(CameraError, match="can be decoded"):
        cam.read()


def test_a_missing_path_raises(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        ReplayCamera(tmp_path / "nope").open()


def test_an_empty_folder_raises(tmp_path):
    (tmp_path / "readme.md").write_text("no frames here")
    with pytest.raises(CameraError, match="no images"):
        ReplayCamera(tmp_path).open()


def test_a_file_that_is_not_a_video_raises(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(CameraError, match="cannot open video"):
        ReplayCamera(bad).open()


@pytest.mark.parametrize("fps,repeat", [(0, 1), (-1, 1), (10, 0)])
def test_bad_settings_are_refused(tmp_path, fps, repeat):
    with pytest.raises(ValueError):
        ReplayCamera(tmp_path, fps=fps, repeat=repeat)


def test_read_before_open_or_after_close_gives_no_frame(folder):
    cam = ReplayCamera(folder, pace=False, loop=True)
    assert cam.read() is None                                           # nothing opened: no frames
    cam.open()
    assert cam.read() is not None
    cam.close()
    assert cam.read() is None                                           # FrameSource: closed -> None
    cam.open()                                                          # and it can be opened again
    assert cam.read().source == "a.png"


@pytest.fixture
def video(tmp_path, faces_dir) -> tuple[Path, np.ndarray]:
    """A 6-frame MJPG clip of a real photo (even size, as codecs like)."""
    bgr = cv2.imread(str(sorted((faces_dir / "dev" / "Barack_Obama").glob("*.jpg"))[0]))
    bgr = cv2.resize(bgr, (320, 400))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 400))
    assert writer.isOpened()
    for _ in range(6):
        writer.write(bgr)
    writer.release()
    return path, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_a_video_file_is_read_frame_by_frame(video):
    path, rgb = video
    cam = camera(path, fps=5.0)
    frames = drain(cam)
    cam.close()
    assert len(frames) == 6
    assert [f.index for f in frames] == list(range(6))
    assert [f.ts_s for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert frames[0].source == "clip.avi#0" and frames[5].source == "clip.avi#5"
    assert frames[0].rgb.shape == (400, 320, 3)
    # RGB, not OpenCV's BGR: close to the photo (MJPG is lossy) and far from its channel swap
    error = np.abs(frames[0].rgb.astype(int) - rgb.astype(int)).mean()
    swapped = np.abs(frames[0].rgb.astype(int) - rgb[..., ::-1].astype(int)).mean()
    assert error < 6 < swapped


def test_a_video_loops_and_stops_when_closed(video):
    path, _ = video
    cam = camera(path, loop=True)
    frames = drain(cam, limit=14)
    assert len(frames) == 14
    assert [f.index for f in frames] == list(range(14))
    cam.close()
    assert cam.read() is None


def test_pace_holds_the_reader_to_the_frame_rate(folder, monkeypatch):
    """With pace, frame n is not handed out before start + n / fps (sleep is recorded, not timed)."""
    import hardware.replay as replay

    now = [100.0]
    slept: list[float] = []
    monkeypatch.setattr(replay.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(replay.time, "sleep", lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    cam = ReplayCamera(folder, fps=2.0, pace=True)
    cam.open()
    drain(cam)
    assert slept == [pytest.approx(0.5), pytest.approx(0.5)]
