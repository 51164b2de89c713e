"""The kiosk's side of remote commands: signed results, no second run, no late run, the log tail,
and enrolment capture (consent first, then quality-gated frames of a real photo, one template each)."""

import logging
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from biometrics.encoder import FaceEncoder, load_image_rgb
from hardware.camera import Frame
from kiosk.commands import CommandRunner, RecentLog
from kiosk.enrol_capture import EnrolCapture
from kiosk.quality import QualityConfig
from protocol import messages, signing

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
KEY = signing.generate_private_key()


class Clock:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


class Recorder:
    """What the capture handed on when it ended."""

    def __init__(self) -> None:
        self.done: list[tuple[str, bool, str, list[str]]] = []

    def __call__(self, *done) -> None:
        self.done.append(done)


def runner(recent: RecentLog | None = None, published: list | None = None,
           enrolment: EnrolCapture | None = None) -> CommandRunner:
    return CommandRunner(
        device_id="kiosk-1", key=KEY, request_full_gallery=lambda: True,
        enrolment=enrolment or EnrolCapture(None, QualityConfig(), Recorder()),  # type: ignore[arg-type]
        publish=lambda r: published.append(r) or True if published is not None else True,
        recent_log=recent or RecentLog(), reboot=lambda: (True, "rebooting"), clock=lambda: NOW)


def verified(result: messages.CommandResult) -> dict:
    data = messages.decode_json(result.to_json())
    signing.verify_fields(data, signing.public_key_bytes(signing.public_key_b64(KEY)))
    return data


def test_results_are_signed_and_a_command_runs_once_and_never_late():
    run = runner()
    first = run.handle(messages.Command(id="c1", name="resync"))
    assert first.ok and first.device_id == "kiosk-1" and verified(first)["detail"] == "asked the hub for the full gallery"
    assert run.handle(messages.Command(id="c1", name="resync")) is None      # the broker delivered it again
    late = run.handle(messages.Command(id="c2", name="reboot", expires_at=NOW - timedelta(seconds=1)))
    assert not late.ok and "expired" in late.detail
    assert run.handle(messages.Command(id="c3", name="reboot", expires_at=NOW + timedelta(hours=1))).ok
    unsupported = run.handle(messages.Command(id="c4", name="config", args={"fps": 5}))
    assert not unsupported.ok and "not supported" in verified(unsupported)["detail"]
    bad = run.handle(messages.Command(id="c5", name="enrol", args={"employee_id": "E1", "frames": 99}))
    assert not bad.ok and "frames" in bad.detail


def test_the_logs_command_sends_the_newest_lines_that_fit():
    recent = RecentLog(lines=50)
    logger = logging.getLogger("test.kiosk.logs")
    logger.addHandler(recent)
    logger.setLevel(logging.INFO)
    try:
        for i in range(80):
            logger.info("line %03d", i)
    finally:
        logger.removeHandler(recent)
    result = runner(recent).handle(messages.Command(id="c1", name="logs"))
    lines = result.logs.splitlines()
    assert len(lines) == 50 and lines[0].endswith("line 030") and lines[-1].endswith("line 079")
    assert recent.text(max_chars=60).count("\n") == 0   # only the newest line fits
    assert verified(result)["logs"] == result.logs


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


def frame(rgb: np.ndarray, index: int) -> Frame:
    return Frame(index=index, ts_s=index / 4, rgb=rgb, source=f"f{index}")


def test_enrolment_shows_consent_then_takes_distinct_good_frames(encoder, faces_dir):
    photos = [load_image_rgb(p) for p in sorted((faces_dir / "dev" / "Naomi_Watts").glob("*.jpg"))[:3]]
    clock, recorder = Clock(), Recorder()
    capture = EnrolCapture(encoder, QualityConfig(), recorder, clock=clock)
    args = messages.EnrolArgs(employee_id="E7", name="Naomi Watts", frames=3, consent_s=5, timeout_s=60)
    assert capture.begin("cmd-1", args) is None
    assert "another enrolment" in capture.begin("cmd-2", args)

    shown = capture.feed(frame(photos[0], 0))
    assert shown.state == "consent" and "Naomi Watts" in shown.prompt[0] and "Naomi Watts" in shown.prompt[1]
    clock.s += 5
    states = [capture.feed(frame(photos[0], 1)).state, capture.feed(frame(photos[0], 2)).state]
    assert states == ["enrolling", "enrolling"] and not recorder.done  # one photo twice is one template
    assert capture.feed(frame(photos[1], 3)).prompt[0].endswith("(2 of 3)")
    capture.feed(frame(photos[2], 4))

    [(command_id, ok, detail, templates)] = recorder.done
    assert (command_id, ok, len(templates)) == ("cmd-1", True, 3) and not capture.active
    vectors = [messages.decode_template(t) for t in templates]
    assert max(np.linalg.norm(a - b) for a in vectors for b in vectors) < 0.6   # one person's face


def test_enrolment_without_a_good_face_ends_failed_saying_why(encoder):
    clock, recorder = Clock(), Recorder()
    capture = EnrolCapture(encoder, QualityConfig(), recorder, clock=clock)
    capture.begin("cmd-1", messages.EnrolArgs(employee_id="E7", frames=2, consent_s=0, timeout_s=10))
    empty = np.full((240, 320, 3), 120, dtype=np.uint8)   # an empty scene: nobody in front of the kiosk
    assert capture.feed(frame(empty, 0)).state == "enrolling"
    clock.s += 11
    capture.feed(frame(empty, 1))
    [(_id, ok, detail, templates)] = recorder.done
    assert not ok and templates == [] and "0 of 2 good frames" in detail and "no face seen" in detail


def test_an_enrolment_result_goes_out_signed_with_its_templates():
    published: list[messages.CommandResult] = []
    run = runner(published=published)
    template = messages.encode_template(np.arange(128, dtype=np.float32) / 128)
    run.enrolment_done("cmd-1", True, "1 templates of E7", [template])
    [result] = published
    assert result.templates == [template] and verified(result)["templates"] == [template]
