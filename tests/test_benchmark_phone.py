"""The phone benchmark's helpers: what it sends is what the hub parses, and its arithmetic."""

from types import SimpleNamespace

import numpy as np

from benchmarks.liveness_frames import VIDEO_BLINKS_S, VIDEO_EYES_DOWN_S
from benchmarks.phone import burst_payload, burst_windows, processes_for_rush, selfie_payload, stopwatch
from benchmarks.phone_burst import ENROL, FRAMES, holds_blink
from hub.phone import burst
from hub.phone.config import PhoneConfig


def limits(cfg: PhoneConfig) -> burst.BurstLimits:
    return burst.BurstLimits(cfg.burst_min_frames, cfg.burst_max_frames, cfg.max_burst_frame_bytes,
                             cfg.max_burst_bytes, cfg.burst_max_span_s, cfg.max_selfie_pixels, cfg.burst_max_side,
                             cfg.burst_max_missing_fraction)


def frames(n: int) -> list[np.ndarray]:
    """Smooth 640x480 pictures (a gradient with a moving square), like camera frames in size."""
    y, x = np.mgrid[0:480, 0:640]
    out = []
    for i in range(n):
        img = np.stack([(x // 3) % 256, (y // 2) % 256, np.full_like(x, 90)], axis=-1).astype(np.uint8)
        img[200:280, 250 + i:330 + i] = 220
        out.append(img)
    return out


def test_a_burst_payload_is_what_the_page_sends_and_the_hub_accepts():
    cfg = PhoneConfig()
    video = frames(FRAMES)
    files, form = burst_payload(video, np.random.default_rng(1))
    assert FRAMES == cfg.burst_max_frames  # the frame count the nonce asks for
    assert [name for name, _ in files] == ["frame"] * FRAMES
    assert all(part[0] == f"frame-{i}.jpg" and part[2] == "image/jpeg" for i, (_, part) in enumerate(files))
    data = [part[1] for _, part in files]
    assert burst.check_sizes(data, limits(cfg))  # count, bytes, no frame twice
    assert burst.parse_times(form["frame_ms"], len(data), limits(cfg)) == [i / 10 for i in range(FRAMES)]


def test_two_punches_of_the_same_frames_share_no_bytes():
    """The hub refuses a frame an earlier punch used (frame_reused): each payload is a fresh capture."""
    video = frames(FRAMES)
    rng = np.random.default_rng(2)
    first = {part[1] for _, part in burst_payload(video, rng)[0]}
    second = {part[1] for _, part in burst_payload(video, rng)[0]}
    assert not first & second
    one = selfie_payload(video[0], rng)[0][0][1][1]
    two = selfie_payload(video[0], rng)[0][0][1][1]
    assert one != two


def test_burst_windows_hold_a_blink_and_no_enrolment_frame():
    windows = burst_windows(137, VIDEO_BLINKS_S, VIDEO_EYES_DOWN_S)
    assert windows
    for start in windows:
        assert holds_blink(start / 10, VIDEO_BLINKS_S, VIDEO_EYES_DOWN_S)
        assert not any(start <= i < start + FRAMES for i in ENROL)
    assert 0 not in windows  # holds a blink, but frame 0 is an enrolment frame


def test_processes_for_a_morning_rush():
    # 5% of 100,000 in 30 minutes: 2.78 punches/s
    assert processes_for_rush(0.83) == 4
    assert processes_for_rush(2.78) == 1
    assert processes_for_rush(0.5) == 6


def test_stopwatch_times_the_wrapped_calls_and_puts_them_back():
    class Thing:
        def work(self, x):
            return x * 2

    def half(x):
        return x / 2

    thing, module = Thing(), SimpleNamespace(half=half)
    with stopwatch([(thing, "work", "w"), (module, "half", "h")]) as (spent, calls):
        assert thing.work(3) == 6 and thing.work(4) == 8
        assert module.half(4) == 2
    assert calls == {"w": 2, "h": 1} and spent["w"] >= 0
    assert "work" not in vars(thing) and module.half is half
