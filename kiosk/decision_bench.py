"""``kiosk bench --liveness``: time from the first frame with a face to the green light, liveness on, on video.

Per-stage times (``kiosk bench``) say what one frame costs; a person waits
for *several* frames (agreeing names, then a blink), and a kiosk that is busy
with one frame misses the ones captured meanwhile. So each window of a real
video is played in simulated real time: the kiosk takes the newest frame
captured by now (as ``LatestFrameGrabber`` does), runs the kiosk's own
``FrameAnalyzer`` and ``DecisionMachine`` on it, and its clock advances by
the time that took (times ``slowdown``, to estimate a slower CPU from this
one's stage times). The decision time is that clock when the accepting
frame is done, minus the capture time of the window's first frame with a
face. The outbox commit before the green light (a few ms) is not included.

The person is enrolled from frames of the same video outside the measured
windows (a 1:N gallery of them plus random templates standing in for other
staff). Nothing here is faked: the frames, the face models and the decision
code are the kiosk's; only the camera's clock is simulated.
"""

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from biometrics.encoder import FaceBox, FaceEncoder, dlib_build
from biometrics.matcher import Gallery, MatchThresholds
from hardware.camera import Frame
from hardware.replay import ReplayCamera
from kiosk.decision import DecisionConfig, DecisionMachine, RepunchGuard
from kiosk.liveness import LivenessConfig
from kiosk.pipeline import STAGES, FrameAnalyzer, PipelineConfig, StageTimes
from kiosk.quality import QualityConfig

log = logging.getLogger(__name__)

Span = tuple[float, float]
PERSON = "live-person"
# ../shared/faces/video/blink-1.mp4 (its README): eyes open 0-5.8 s and 8.1-11 s, blinks near
# 0.4, 1.7, 3.4, 4.7, 9.3, 10.0 s. Enrolled from the open-eyed ends of those stretches; every
# window starts at least a second before a blink it can pass on.
BLINK1_ENROL: tuple[Span, ...] = ((5.0, 5.75), (10.4, 10.95))
BLINK1_WINDOWS: tuple[Span, ...] = tuple((round(s, 2), 4.95) for s in np.arange(0.0, 2.51, 0.25)) + \
    ((8.1, 10.35), (8.35, 10.35), (8.6, 10.35))


@dataclass(frozen=True)
class Setup:
    """The kiosk settings a run uses (from kiosk.yaml, or the defaults)."""

    thresholds: MatchThresholds = MatchThresholds()
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    upsample: int = 1


@dataclass(frozen=True)
class WindowResult:
    start_s: float
    end_s: float
    mode: str                     # liveness mode; "+encode-all": every frame encoded, as before the kiosk skipped them
    state: str                    # accepted, refused, or none (no decision within the window)
    seconds: float | None         # first face -> decision, simulated real time
    analysed: int                 # frames the kiosk had time to look at
    compute_s: float              # time spent in the pipeline and decision code (not slowed down)

    @property
    def passed(self) -> bool:
        return self.state == "accepted"


def load_video(path: Path) -> list[Frame]:
    """Every frame of the video, stamped at its own frame rate."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 24.0
    capture.release()
    camera = ReplayCamera(path, fps=fps, pace=False)
    camera.open()
    frames = []
    try:
        while (frame := camera.read()) is not None:
            frames.append(frame)
    finally:
        camera.close()
    return frames


def enrol(encoder: FaceEncoder, frames: list[Frame], spans: tuple[Span, ...], per_span: int = 3,
          others: int = 999, seed: int = 7) -> Gallery:
    """The person's templates from ``per_span`` frames of each span, beside ``others`` random templates."""
    templates = []
    for start, end in spans:
        inside = [f for f in frames if start <= f.ts_s < end]
        for frame in inside[::max(1, len(inside) // per_span)][:per_span]:
            found = encoder.encode_largest(frame.rgb)
            if found is not None:
                templates.append(found[1])
    if not templates:
        raise ValueError(f"no face in the enrolment spans {spans}")
    rng = np.random.default_rng(seed)
    people = {f"bench-{i:06d}": [t] for i, t in enumerate(rng.normal(0, 0.09, (others, 128)).astype(np.float32))}
    people[PERSON] = templates
    return Gallery(people, version=1)


def run_window(frames: list[Frame], window: Span, gallery: Gallery, setup: Setup, encoder: FaceEncoder,
               mode: str, slowdown: float = 1.0, stage_times: StageTimes | None = None,
               timer: Callable[[], float] = time.perf_counter, encode_every_frame: bool = False
               ) -> WindowResult:
    """One person stepping up at ``window[0]``; see the module docstring.

    As the kiosk does (kiosk/app.py), frames after the consensus has named the person are not
    encoded (``FrameAnalyzer.analyze(identity_settled=...)``); ``encode_every_frame`` measures the
    kiosk before that change, for comparison (the same decisions, fewer frames during the blink wait).
    """
    start, end = window
    machine = DecisionMachine(setup.decision, setup.liveness.model_copy(update={"mode": mode}), RepunchGuard(300.0))
    analyzer = FrameAnalyzer(encoder, setup.thresholds, setup.quality, setup.pipeline, setup.upsample)
    zone = ZoneInfo("Asia/Kolkata")
    i = next((k for k, f in enumerate(frames) if f.ts_s >= start), len(frames))
    clock, first_face, analysed, compute = start, None, 0, 0.0
    result_state, seconds = "none", None
    while i < len(frames) and frames[i].ts_s < end:
        clock = max(clock, frames[i].ts_s)
        while i + 1 < len(frames) and frames[i + 1].ts_s <= clock:   # the newest frame captured by now
            i += 1
        frame = frames[i]
        began = timer()
        obs = analyzer.analyze(frame.ts_s, frame.rgb, gallery,
                               identity_settled=machine.consensus.decided and not encode_every_frame)
        outcome = machine.feed(obs, datetime.now(zone), frame.ts_s)
        took = timer() - began
        clock += took * slowdown
        compute += took
        analysed += 1
        if first_face is None and obs.face is not None:
            first_face = frame.ts_s
        if outcome.state in ("accepted", "refused"):
            result_state = outcome.state
            seconds = clock - (first_face if first_face is not None else start)
            break
        i += 1
    if stage_times is not None:
        for stage in STAGES:
            stage_times.total_s[stage] += analyzer.times.total_s[stage]
            stage_times.count[stage] += analyzer.times.count[stage]
    return WindowResult(start, end, mode, result_state, seconds, analysed, compute)


def warm_up(encoder: FaceEncoder) -> None:
    """Load every model outside the timing."""
    blank = np.zeros((48, 64, 3), np.uint8)
    encoder.detect(blank)
    encoder.landmarks68(blank, FaceBox(8, 8, 40, 40))
    encoder.encode(blank, FaceBox(8, 8, 40, 40))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with a dozen windows, say which window it is)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q / 100 * len(ordered))) - 1))]


@dataclass
class DecisionBench:
    """Results of every mode over every window, with the stage times they were made of."""

    results: list[WindowResult]
    stage_ms: dict[str, float]
    dlib: str
    slowdown: float = 1.0
    timer: str = "wall"

    def of(self, mode: str) -> list[WindowResult]:
        return [r for r in self.results if r.mode == mode]

    def summary(self, mode: str) -> dict[str, float | int | None]:
        rows = self.of(mode)
        times = [r.seconds for r in rows if r.passed and r.seconds is not None]
        return {"windows": len(rows), "passed": sum(r.passed for r in rows),
                "p50_s": percentile(times, 50), "p95_s": percentile(times, 95),
                "mean_analysed": statistics.mean(r.analysed for r in rows) if rows else None}

    def ms_per_frame(self, mode: str | None = None) -> float | None:
        """Mean compute per analysed frame (the run's clock: wall or thread CPU), over ``mode`` or all."""
        rows = [r for r in self.results if mode is None or r.mode == mode]
        frames = sum(r.analysed for r in rows)
        return 1000 * sum(r.compute_s for r in rows) / frames if frames else None

    def liveness_share(self, mode: str, baseline: str = "off") -> list[float]:
        """Per window passed in both: the decision time ``mode`` adds over naming alone."""
        base = {r.start_s: r.seconds for r in self.of(baseline) if r.passed}
        return [r.seconds - base[r.start_s] for r in self.of(mode)
                if r.passed and r.start_s in base and r.seconds is not None]

    def text(self) -> str:
        lines = [f"dlib: {self.dlib}; clock: {self.timer} time x{self.slowdown:g}",
                 "mode          windows passed  p50 s  p95 s  frames/attempt"]
        for mode in dict.fromkeys(r.mode for r in self.results):
            s = self.summary(mode)
            lines.append(f"{mode:<13} {s['windows']:7d} {s['passed']:6d} {fmt(s['p50_s']):>6} {fmt(s['p95_s']):>6} "
                         f"{fmt(s['mean_analysed'], 1):>8}")
        for mode in dict.fromkeys(r.mode for r in self.results if r.mode != "off"):
            share = self.liveness_share(mode)
            if share:
                lines.append(f"liveness share ({mode} - off): p50 {fmt(percentile(share, 50))} s, "
                             f"p95 {fmt(percentile(share, 95))} s over {len(share)} windows")
        lines.append(f"{self.timer} ms per analysed frame: {fmt(self.ms_per_frame(), 1)}")
        lines.append("stage ms (wall): " + ", ".join(f"{s} {v:.1f}" for s, v in self.stage_ms.items()))
        return "\n".join(lines)


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def run_decision_bench(video: Path, setup: Setup | None = None, *, modes: tuple[str, ...] = ("off", "blink"),
                       enrol_spans: tuple[Span, ...] = BLINK1_ENROL, windows: tuple[Span, ...] = BLINK1_WINDOWS,
                       slowdown: float = 1.0, encoder: FaceEncoder | None = None,
                       timer: Callable[[], float] = time.perf_counter,
                       encode_every_frame: tuple[str, ...] = ()) -> DecisionBench:
    """Every window of ``video`` under every liveness mode (and the modes in ``encode_every_frame``
    again encoding every frame, as the kiosk did before, reported as ``<mode>+encode-all``).

    ``timer``: wall time (the default: on the kiosk, its own load is part of the answer), or
    ``time.thread_time`` on a shared machine, where waiting for a core is someone else's load.
    """
    overlap = [w for w in windows for s in enrol_spans if w[0] < s[1] and s[0] < w[1]]
    if overlap:
        raise ValueError(f"windows {overlap} overlap the enrolment spans {enrol_spans}")
    setup = setup or Setup()
    encoder = encoder or FaceEncoder(upsample=setup.upsample)
    warm_up(encoder)
    frames = load_video(video)
    gallery = enrol(encoder, frames, enrol_spans)
    stages = StageTimes()
    results = []
    runs = [(m, False) for m in modes] + [(m, True) for m in encode_every_frame]
    for mode, every in runs:
        for window in windows:
            result = run_window(frames, window, gallery, setup, encoder, mode, slowdown, None if every else stages,
                                timer, every)
            if every:
                result = replace(result, mode=f"{mode}+encode-all")
            log.info("%s window %.2f-%.2f: %s in %s s (%d frames)", mode, *window, result.state,
                     fmt(result.seconds), result.analysed)
            results.append(result)
    stage_ms = {s: round(stages.mean_ms(s), 2) for s in STAGES if stages.mean_ms(s) is not None}
    return DecisionBench(results, stage_ms, dlib_build(), slowdown,
                         "thread CPU" if timer is time.thread_time else "wall")
