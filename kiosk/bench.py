"""``kiosk bench``: the kiosk pipeline on sample frames, timed per stage, on the device itself.

An IT team runs it on a freshly built terminal to check it against the
budget (one decision in about a second). Frames are sample images placed on
a ``width`` x ``height`` canvas, each shown ``repeat`` times in a row like a
person standing at the kiosk; the decision machine's cooldown skips frames
exactly as the running kiosk does. ``benchmarks/pipeline.py`` uses the same
code beside the naive face_recognition loop.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from biometrics.encoder import FaceBox, FaceEncoder, dlib_build
from biometrics.matcher import Gallery, MatchThresholds
from hardware.camera import Frame
from hardware.replay import ReplayCamera
from kiosk.config import ENV_PREFIX, KioskConfig
from kiosk.decision import DecisionConfig, DecisionMachine, RepunchGuard
from kiosk.liveness import LivenessConfig
from kiosk.pipeline import STAGES, FrameAnalyzer, PipelineConfig
from kiosk.quality import QualityConfig


@dataclass
class BenchReport:
    frames: int
    seconds: float
    analysed: int
    stage_ms: dict[str, float]
    stage_runs: dict[str, int]
    decisions: list[tuple[str, str, str | None]] = field(default_factory=list)  # (frame source, state, employee)
    dlib: str = ""
    gallery_people: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        lines = [
            f"dlib: {self.dlib}",
            f"gallery: {self.gallery_people} people",
            f"frames: {self.frames} in {self.seconds:.2f} s = {self.fps:.1f} frames/s "
            f"({self.analysed} analysed, the rest skipped in cooldown)",
            "stage        mean ms   runs",
        ]
        lines += [f"{s:<12} {self.stage_ms.get(s, 0.0):7.1f} {self.stage_runs.get(s, 0):6d}" for s in STAGES]
        accepted = sum(1 for _s, state, _e in self.decisions if state == "accepted")
        refused = sum(1 for _s, state, _e in self.decisions if state == "refused")
        lines.append(f"decisions: {accepted} accepted, {refused} refused")
        return "\n".join(lines)


def on_canvas(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fill the canvas height (centred, black sides): a face at kiosk distance."""
    scale = min(height / rgb.shape[0], width / rgb.shape[1])
    resized = cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def load_frames(path: Path, width: int = 640, height: int = 480, repeat: int = 6, fps: float = 4.0) -> list[Frame]:
    """Every image (or video frame) of ``path`` on the canvas, ``repeat`` times, stamped at ``fps``.

    The default, 6 frames at 4 fps, is a person standing 1.5 s at the kiosk.
    """
    camera = ReplayCamera(path, fps=fps, repeat=repeat, pace=False)
    camera.open()
    frames = []
    try:
        while (frame := camera.read()) is not None:
            frames.append(Frame(frame.index, frame.ts_s, on_canvas(frame.rgb, width, height), frame.source))
    finally:
        camera.close()
    return frames


def random_gallery(people: int, seed: int = 7) -> Gallery:
    """Unit-scale random templates: timing only (nobody in it looks like anyone)."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(0, 0.09, (people, 128)).astype(np.float32)
    return Gallery({f"bench-{i:06d}": [templates[i]] for i in range(people)}, version=1)


def run_pipeline(frames: list[Frame], gallery: Gallery, *, thresholds: MatchThresholds,
                 encoder: FaceEncoder | None = None, quality: QualityConfig | None = None,
                 pipeline: PipelineConfig | None = None, decision: DecisionConfig | None = None,
                 liveness: LivenessConfig | None = None, upsample: int = 1) -> BenchReport:
    """The kiosk's per-frame loop (analysis + decisions, cooldown skipping), timed."""
    analyzer = FrameAnalyzer(encoder or FaceEncoder(upsample=upsample), thresholds, quality, pipeline, upsample)
    machine = DecisionMachine(decision or DecisionConfig(), liveness or LivenessConfig(mode="off"),
                              RepunchGuard(300.0))
    blank = np.zeros((48, 64, 3), np.uint8)  # load every model outside the timing
    analyzer.encoder.detect(blank)
    analyzer.encoder.landmarks68(blank, FaceBox(8, 8, 40, 40))
    analyzer.encoder.encode(blank, FaceBox(8, 8, 40, 40))
    decisions: list[tuple[str, str, str | None]] = []
    analysed = 0
    start = time.perf_counter()
    for frame in frames:
        if machine.resting(frame.ts_s):
            continue
        analysed += 1
        obs = analyzer.analyze(frame.ts_s, frame.rgb, gallery)
        outcome = machine.feed(obs, datetime.now(), time.monotonic())
        if outcome.state in ("accepted", "already", "refused"):
            decisions.append((frame.source, outcome.state, outcome.employee_id))
    seconds = time.perf_counter() - start
    times = analyzer.times
    return BenchReport(
        frames=len(frames), seconds=seconds, analysed=analysed,
        stage_ms={s: round(times.mean_ms(s) or 0.0, 2) for s in STAGES},
        stage_runs=dict(times.count), decisions=decisions, dlib=dlib_build(), gallery_people=len(gallery),
    )


def run_bench(frames_path: Path, config_path: Path | None, *, width: int = 640, height: int = 480,
              repeat: int = 6, gallery_people: int = 1000) -> BenchReport:
    """What ``kiosk bench`` prints: thresholds and stages from kiosk.yaml when given, a random gallery."""
    from protocol.settings import load_config

    if config_path is not None:
        config = load_config(config_path, KioskConfig, env_prefix=ENV_PREFIX)
        r = config.recognition
        thresholds = MatchThresholds(accept_distance=r.accept_distance, min_margin=r.min_margin)
        return run_pipeline(load_frames(frames_path, width, height, repeat), random_gallery(gallery_people),
                            thresholds=thresholds, quality=config.quality, pipeline=config.pipeline,
                            decision=config.decision, upsample=r.detect_upsample)
    return run_pipeline(load_frames(frames_path, width, height, repeat), random_gallery(gallery_people),
                        thresholds=MatchThresholds())
