"""The forgery suite: every attack family through the kiosk's frame path and every liveness mode.

Honest by construction: the liveness settings were tuned on sequences built
from the ``dev`` photos (``benchmarks.liveness --forgeries --tune``); the
table reported is on sequences built from ``calib/people`` photos, people
neither the tuning nor the engine's enrolment ever saw.

Per sequence and frame the cache (``~/.cache/face-attendance/liveness``)
holds the dlib landmarks from ``kiosk.pipeline.FrameAnalyzer``'s detect-and-
track path and the pixel cues (``kiosk.liveness.pixels``); the pixels
themselves are rebuilt by ``benchmarks.forgeries.frames_of`` when needed.
"""

import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from benchmarks.common import cached_arrays, markdown_table
from benchmarks.forgeries import FAMILIES, Photo, Spec, frames_of, load_photo
from benchmarks.liveness_frames import CACHE, FPS, FRAME_SIZE, kiosk_track
from biometrics.encoder import FaceEncoder
from kiosk.liveness import LivenessChecker, LivenessConfig
from kiosk.liveness.pixels import FrameCues, PixelCues

log = logging.getLogger(__name__)

CUES_VERSION = 1
MODES = ("blink", "head_turn", "blink_or_head_turn", "blink_and_head_turn")
# Blink as it was before issue 19 (landmark rules only; the pose-jump restart is not reproduced), for comparison.
BEFORE = "blink, before"
BEFORE_UPDATE = {"mode": "blink", "blink_require_rising": False, "blink_min_lash_ratio": 0.0, "min_pixel_change": 0.0}
COLUMNS = (BEFORE,) + MODES


@dataclass
class Sequence:
    """What the kiosk path and the pixel cues made of one sequence's frames."""

    landmarks: np.ndarray     # (n, 68, 2), NaN where no face
    found: np.ndarray         # (n,) bool
    still_change: np.ndarray  # (n,) float, NaN where not measured
    lash_contrast: np.ndarray


def cues_of(frames: list[np.ndarray], landmarks: np.ndarray, found: np.ndarray) -> dict[str, np.ndarray]:
    cues = PixelCues()
    change = np.full(len(frames), np.nan)
    lash = np.full(len(frames), np.nan)
    for i, (rgb, lm, ok) in enumerate(zip(frames, landmarks, found)):
        if not ok:
            cues.reset()
            continue
        c = cues.feed(rgb, lm)
        change[i], lash[i] = c.still_change, c.lash_contrast
    return {"still_change": change, "lash_contrast": lash}


def sequence_of(spec: Spec, encoder: FaceEncoder, cache: Path = CACHE) -> Sequence:
    """Landmarks (cached on their own: the slow part) and pixel cues (cached per cue version)."""
    frames: list[np.ndarray] | None = None

    def built() -> list[np.ndarray]:
        nonlocal frames
        if frames is None:
            frames = frames_of(spec)
        return frames

    track = cached_arrays(cache, spec.key, lambda: vars(kiosk_track(encoder, built())))
    cues = cached_arrays(cache, f"{spec.key}-cues{CUES_VERSION}",
                         lambda: cues_of(built(), track["landmarks"], track["found"]))
    return Sequence(track["landmarks"], track["found"], cues["still_change"], cues["lash_contrast"])


PHOTO_SETS = ("tune", "report", "others")


def set_folders(faces: Path, which: str) -> list[Path]:
    """The people of a photo set, in the order they are taken.

    ``tune``: the dev people the settings were tuned on. ``report``: every
    20th calib person (the first table). ``others``: the remaining calib
    people in a fixed shuffled order (seed 19), so any prefix is spread over
    the alphabet and never meets ``report`` or ``tune``.
    """
    if which == "tune":
        return sorted(p for p in (faces / "dev").iterdir() if p.is_dir())
    people = sorted(p for p in (faces / "calib" / "people").iterdir() if p.is_dir())
    if which == "report":
        return people[::20]
    if which == "others":
        rest = [p for i, p in enumerate(people) if i % 20]
        random.Random(19).shuffle(rest)
        return rest
    raise ValueError(f"unknown photo set {which!r}; expected one of {PHOTO_SETS}")


def iter_photos(faces: Path, which: str, encoder: FaceEncoder) -> Iterator[Photo]:
    """One photo (``1.jpg``) each of the people of ``which`` in whom dlib finds a face, loaded as needed."""
    for folder in set_folders(faces, which):
        photo = load_photo(folder / "1.jpg", f"{folder.name}/1.jpg", encoder)
        if photo is not None:
            yield photo


def photos(faces: Path, which: str, count: int, encoder: FaceEncoder) -> list[Photo]:
    """The first ``count`` of ``iter_photos``."""
    return list(islice(iter_photos(faces, which, encoder), count))


def passes(seq: Sequence, config: LivenessConfig, seed: int) -> tuple[bool, str | None]:
    """Whether the checker passed at any frame; else the last reason it gave."""
    checker = LivenessChecker(config, rng=random.Random(seed))
    reason = None
    for i in range(len(seq.found)):
        if not seq.found[i]:
            continue
        cues = FrameCues(float(seq.still_change[i]), float(seq.lash_contrast[i]))
        state = checker.feed(i / FPS, seq.landmarks[i], FRAME_SIZE, cues=cues)
        if state.passed:
            return True, None
        reason = state.reason
    return False, reason


def upper95(passed: int, n: int) -> float:
    """One-sided 95% upper bound of a pass rate (Clopper-Pearson; 3/n at 0 passes)."""
    if n == 0:
        return float("nan")
    if passed == n:
        return 1.0
    from math import comb
    lo, hi = passed / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        tail = sum(comb(n, k) * mid ** k * (1 - mid) ** (n - k) for k in range(passed + 1))
        lo, hi = (mid, hi) if tail > 0.05 else (lo, mid)
    return hi


def family_table(counts: dict[str, dict[str, list[int]]], default_mode: str) -> str:
    """Per family and mode: passed/sequences and the 95% upper bound; ``counts`` as ``forgery_runs.counts``."""
    rows = []
    for family in FAMILIES:
        if family not in counts:
            continue
        row = [family]
        for mode in COLUMNS:
            k, n = counts[family][mode]
            mark = "**" if mode == default_mode else ""
            row.append(f"{mark}{k}/{n}{mark} (≤ {100 * upper95(k, n):.1f}%)")
        rows.append(row)
    headers = ["family"] + [f"{m}{' (default)' if m == default_mode else ''}: passed/sequences (95% upper)"
                            for m in COLUMNS]
    return markdown_table(headers, rows)


def run_families(photo_list: Iterable[Photo], encoder: FaceEncoder, seed: int, families=FAMILIES,
                 base: LivenessConfig | None = None, budget_s: float | None = None) -> tuple[dict, dict, list[str]]:
    """Pass/fail per family and mode, the reasons the default mode gave, and the photos run (names).

    Person by person through every family, so a ``budget_s`` that runs out
    (checked before each new person) leaves every family with the same people.
    """
    base = base or LivenessConfig()
    results: dict[str, dict[str, list[bool]]] = {f: {m: [] for m in COLUMNS} for f in families}
    reasons: dict[str, dict[str, int]] = {f: {} for f in families}
    started = time.perf_counter()
    done: list[str] = []
    for j, photo in enumerate(photo_list):
        if budget_s is not None and time.perf_counter() - started > budget_s:
            log.warning("forgery suite: time budget of %.0f s spent after %d people", budget_s, len(done))
            break
        for family in families:
            seq = sequence_of(Spec(family, photo, seed), encoder)
            for mode in COLUMNS:
                update = BEFORE_UPDATE if mode == BEFORE else {"mode": mode}
                ok, why = passes(seq, base.model_copy(update=update), seed * 1000 + j)
                results[family][mode].append(ok)
                if mode == base.mode and not ok:
                    why = why or "no_face"  # the kiosk path found no face on any frame: nothing was checked
                    reasons[family][why] = reasons[family].get(why, 0) + 1
        done.append(photo.name)
        log.info("forgery suite: %d people done (%.0f s)", len(done), time.perf_counter() - started)
    return results, reasons, done


def reasons_line(reasons: dict) -> str:
    parts = []
    for family in FAMILIES:
        counts = reasons.get(family)
        if counts:
            top = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:3])
            parts.append(f"{family}: {top}")
    return "Why the default mode refused (last reason): " + "; ".join(parts) + "."


def summary_rate(counts: dict[str, dict[str, list[int]]], mode: str) -> tuple[int, int]:
    return sum(c[mode][0] for c in counts.values()), sum(c[mode][1] for c in counts.values())
