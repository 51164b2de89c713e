"""``kiosk bench VIDEO --liveness`` on the real blink video: the kiosk decides, and the time is reported.

Timing figures belong in BENCHMARKS-decision.md (benchmarks/decision_time.py);
here only what must hold whatever the machine's speed: the enrolled person is
named in a window of open eyes, the decision comes after the first face and
inside the window, and windows overlapping the enrolment frames are refused.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import span
from kiosk.decision_bench import run_decision_bench

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def video(faces_dir) -> Path:
    path = faces_dir / "video" / "blink-1.mp4"
    if not path.is_file():
        pytest.skip(f"the blink video is not at {path}")
    return path


def test_kiosk_bench_liveness_prints_a_decision_per_mode(video):
    proc = subprocess.run([str(Path(sys.executable).with_name("kiosk")), "bench", str(video), "--liveness",
                           "--modes", "off", "--enrol", "5.0-5.75", "--window", "0-4.95", "--cpu-time"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("off "))
    windows, passed, p50 = int(row[1]), int(row[2]), float(row[3])
    assert (windows, passed) == (1, 1)                  # named on agreeing frames of open eyes
    assert 0 < p50 < 4.95                               # after the first face, inside the window
    assert "dlib" in proc.stdout and "stage ms" in proc.stdout


def test_windows_may_not_overlap_the_enrolment_frames(video):
    with pytest.raises(ValueError, match="overlap"):
        run_decision_bench(video, modes=("off",), enrol_spans=((1.0, 2.0),), windows=((0.0, 1.5),))


@pytest.mark.parametrize("text, pair", [("5.0-5.75", (5.0, 5.75)), ("0-1.5", (0.0, 1.5))])
def test_span(text, pair):
    assert span(text) == pair


@pytest.mark.parametrize("text", ["5", "2-1", "a-b", "-1"])
def test_bad_span(text):
    with pytest.raises(Exception, match="START-END"):
        span(text)
