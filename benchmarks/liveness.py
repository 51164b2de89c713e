"""Liveness benchmark: replayed stills, prints moved in front of the camera, one passive cue.

``python -m benchmarks.liveness --forgeries`` runs the forgery suite and the
genuine video instead (``benchmarks.liveness_report``, BENCHMARKS-liveness.md).

Run ``python -m benchmarks.liveness`` (about 10 minutes on two shared cores
the first time; the landmarks of every simulated frame are cached under
``benchmarks/.cache``, so a rerun takes well under a minute).

(a) Every dev and antispoof photo (antispoof: live and printed/screen)
    replayed as a still for 70 frames at 10 fps, longer than the blink window
    and the head-turn timeout: identical frames, and frames with fresh
    camera-like noise (a print held in front of a real sensor). Each goes
    through ``LivenessChecker`` in every mode (blink, head turn to either
    side, blink or head turn) with the shipped defaults. Attack acceptance
    must be 0/N; a still of a *live* person is also a still, so the
    real-user rejection of the temporal checks cannot be measured on photos.
(b) A print moved in front of the camera, simulated by perspective warps of
    the real photos: tilted about its horizontal axis and back (fakes a
    blink), turned about its vertical axis and back (fakes a head turn for
    solvePnP), folded along the eye line (fakes a blink on the upper lids
    only). Run with and without the guards, and for the head turn with the
    earlier eye-line nose measure too.
(c) The head-turn parallax guard: attack acceptance over its threshold,
    against a proxy of its cost to real people (pairs of one person's dev
    photos whose pose differs by >= 20 degrees).
(d) Single-frame passive cue on antispoof (real vs printed/screen): colour,
    sharpness and frequency features of the face crop, logistic regression,
    leave-one-subject-out cross-validation, plus a confound check.
"""

import argparse
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from benchmarks.common import (
    FaceRecord,
    cached_arrays,
    environment_lines,
    faces_dir_arg,
    load_set,
    markdown_table,
    pct,
    require_dir,
)
from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb
from biometrics.pose import head_pose
from kiosk.liveness import LivenessChecker, LivenessConfig
from kiosk.liveness.blink import BlinkDetector
from kiosk.liveness.geometry import brow_gap, face_aspect, nose_offset
from kiosk.liveness.turn import HeadTurnChallenge
from kiosk.quality import face_crop_gray, sharpness

FPS = 10.0
FACE_PX = 140  # ~55 cm from a Camera Module 3 at 640x480; eyes ~20 px wide, the blink minimum
REPLAY_FRAMES = 70  # 7 s: past the 5-s blink window and the 6-s head-turn timeout
DEFAULTS = LivenessConfig()
PARALLAX_GRID = [0.0, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.0045]


@dataclass
class Shot:
    """A photo cut down to its face and some surroundings: what a camera would see of a print."""

    record: FaceRecord
    rgb: np.ndarray
    box: FaceBox

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def shot_of(record: FaceRecord, face_px: int) -> Shot:
    """The photo cropped around its face and scaled so the face box is ``face_px`` high.

    The dev photos' faces are ~100 px with eyes ~16 px wide, too small for
    blink detection (``blink_min_eye_px``); a print held up to a kiosk fills
    more of the frame, so it is shown at a kiosk-like size.
    """
    rgb = load_image_rgb(record.path)
    b = record.box
    h, w = rgb.shape[:2]
    m = max(b.width, b.height)
    left, top = max(0, b.left - m), max(0, b.top - m)
    right, bottom = min(w, b.right + m), min(h, b.bottom + m)
    crop = rgb[top:bottom, left:right]
    f = face_px / b.height
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    crop = cv2.resize(crop, (round(crop.shape[1] * f), round(crop.shape[0] * f)), interpolation=interp)
    box = FaceBox(b.left - left, b.top - top, b.right - left, b.bottom - top).scaled(f)
    return Shot(record, np.ascontiguousarray(crop), box)


def rng_for(seed: int, record: FaceRecord, variant: str) -> np.random.Generator:
    """One generator per photo and attack, so cached and fresh runs draw the same noise."""
    digest = hashlib.sha256(f"{seed}:{record.sha256}:{variant}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def noisy(rgb: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """The frame a camera sensor would deliver: fresh Gaussian noise on every pixel."""
    noise = rng.standard_normal(rgb.shape, dtype=np.float32) * sigma
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def jittered(box: FaceBox, rng: np.random.Generator) -> FaceBox:
    """The box a detector run on each noisy frame returns: each side off by up to a pixel."""
    d = rng.integers(-1, 2, 4)
    return FaceBox(box.left + d[0], box.top + d[1], box.right + d[2], box.bottom + d[3])


def plane_homography(size: tuple[int, int], axis: str, deg: float) -> np.ndarray:
    """Image of a flat print turned by ``deg`` about its centre line, pinhole camera f = 2 x width."""
    w, h = size
    f = 2.0 * w
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    rvec = np.array([math.radians(deg), 0, 0]) if axis == "x" else np.array([0, math.radians(deg), 0])
    rot, _ = cv2.Rodrigues(rvec)
    to_centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1.0]])
    hom = k @ np.c_[rot[:, 0], rot[:, 1], [0, 0, f]] @ to_centre
    return hom / hom[2, 2]


def turned(shot: Shot, axis: str, deg: float) -> tuple[np.ndarray, FaceBox]:
    hom = plane_homography(shot.size, axis, deg)
    img = cv2.warpPerspective(shot.rgb, hom, shot.size, borderMode=cv2.BORDER_REPLICATE)
    b = shot.box
    corners = np.array([[[b.left, b.top], [b.right, b.top], [b.right, b.bottom], [b.left, b.bottom]]], np.float64)
    p = cv2.perspectiveTransform(corners, hom)[0]
    return img, FaceBox(int(p[:, 0].min()), int(p[:, 1].min()), int(p[:, 0].max()), int(p[:, 1].max()))


def folded(shot: Shot, fold_y: float, deg: float) -> tuple[np.ndarray, FaceBox]:
    """The print with the part above ``fold_y`` bent ``deg`` away from the camera (seen from the front)."""
    h, w = shot.rgb.shape[:2]
    c = math.cos(math.radians(deg))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    src_y = np.where(ys < fold_y, fold_y - (fold_y - ys) / c, ys).astype(np.float32)
    img = cv2.remap(shot.rgb, xs, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    b = shot.box
    top = int(fold_y - (fold_y - b.top) * c) if b.top < fold_y else b.top
    return img, FaceBox(b.left, top, b.right, b.bottom)


def sweep(peak: float, start: int = 10, ramp: int = 3, hold: int = 1, end: int = 6) -> list[float]:
    """Angles of a quick flick: still, to ``peak`` and back, still (10 fps frames)."""
    up = [peak * (i + 1) / ramp for i in range(ramp)]
    return [0.0] * start + up + [peak] * hold + up[::-1][1:] + [0.0] * end


def frames_landmarks(encoder: FaceEncoder, shot: Shot, make: Callable[[int], tuple[np.ndarray, FaceBox]],
                     n: int) -> np.ndarray:
    return np.stack([encoder.landmarks68(*make(i)) for i in range(n)])


def attack_landmarks(encoder: FaceEncoder, shot: Shot, attack: str, seed: int, cache: Path) -> np.ndarray:
    """(frames, 68, 2) landmarks dlib finds on each frame of ``attack`` against ``shot`` (cached)."""

    def compute() -> dict[str, np.ndarray]:
        rng = rng_for(seed, shot.record, attack)
        kind, _, arg = attack.partition(":")
        if kind == "identical":
            return {"lm": frames_landmarks(encoder, shot, lambda i: (shot.rgb, shot.box), REPLAY_FRAMES)}
        if kind == "noise":
            sigma = float(arg)
            return {"lm": frames_landmarks(encoder, shot, lambda i: (noisy(shot.rgb, rng, sigma),
                                                                      jittered(shot.box, rng)), REPLAY_FRAMES)}
        if kind in ("tilt", "turn"):
            axis, angles = ("x" if kind == "tilt" else "y"), sweep(float(arg)) + sweep(-float(arg))

            def make(i: int) -> tuple[np.ndarray, FaceBox]:
                img, box = turned(shot, axis, angles[i])
                return noisy(img, rng, 2.0), box

            return {"lm": frames_landmarks(encoder, shot, make, len(angles))}
        if kind == "fold":
            fold_y = float(np.mean(encoder.landmarks68(shot.rgb, shot.box)[36:48, 1]))
            angles = sweep(float(arg)) * 2

            def make(i: int) -> tuple[np.ndarray, FaceBox]:
                img, box = folded(shot, fold_y, angles[i])
                return noisy(img, rng, 2.0), box

            return {"lm": frames_landmarks(encoder, shot, make, len(angles))}
        raise ValueError(f"unknown attack {attack!r}")

    key = f"attack-{shot.record.sha256[:32]}-{attack.replace(':', '_')}-f{FACE_PX}-s{seed}"
    return cached_arrays(cache, key, compute)["lm"]


MODES = [("blink", "left"), ("head_turn", "left"), ("head_turn", "right"),
         ("blink_or_head_turn", "left"), ("blink_or_head_turn", "right")]


def checker_outcome(landmarks: np.ndarray, size: tuple[int, int]) -> dict:
    """Feed one replay to ``LivenessChecker`` in every mode: did any pass, what did blink say last."""
    checkers = [LivenessChecker(LivenessConfig(mode=m, head_turn_direction=d)) for m, d in MODES]
    passed = False
    last = None
    for i, lm in enumerate(landmarks):
        states = [c.feed(i / FPS, lm, size) for c in checkers]
        passed |= any(s.passed for s in states)
        last = states[0]
    return {"passed": passed, "reason": last.reason}


def blink_detector(**overrides) -> BlinkDetector:
    c = DEFAULTS
    kwargs = dict(window_s=c.blink_window_s, closed_ratio=c.blink_closed_ratio,
                  min_closed_frames=c.blink_min_closed_frames, max_closed_s=c.blink_max_closed_s,
                  reopen_ratio=c.blink_reopen_ratio, max_face_aspect_change=c.max_face_aspect_change,
                  min_motion=c.min_motion, noise_k=c.blink_noise_k, min_eye_px=c.blink_min_eye_px,
                  max_brow_drop=c.max_brow_drop)
    kwargs.update(overrides)
    return BlinkDetector(**kwargs)


def eye_line_nose_offset(landmarks: np.ndarray) -> float:
    """The earlier nose measure, for comparison: nose tip along the eye line from the eyes' midpoint."""
    pts = np.asarray(landmarks, np.float64)
    left, right = (pts[36] + pts[39]) / 2.0, (pts[42] + pts[45]) / 2.0
    across = right - left
    return float((pts[30] - (left + right) / 2.0) @ across) / float(across @ across)


def blink_passes(landmarks: np.ndarray, **overrides) -> bool:
    det = blink_detector(**overrides)
    return any(det.feed(i / FPS, lm).passed for i, lm in enumerate(landmarks))


def turn_passes(poses: list[tuple[float, float]], min_parallax: float) -> bool:
    """Either direction's challenge passes on (yaw, nose) per frame."""
    c = DEFAULTS
    for direction in ("left", "right"):
        ch = HeadTurnChallenge(direction, c.head_turn_min_yaw_deg, c.head_turn_timeout_s,
                               c.head_turn_max_step_deg, min_parallax)
        if any(ch.feed_pose(i / FPS, yaw, nose).passed for i, (yaw, nose) in enumerate(poses)):
            return True
    return False


def parallax_proxy(records: list[FaceRecord], measure: Callable[[np.ndarray], float],
                   min_delta_deg: float = 20.0) -> np.ndarray:
    """Nose shift per degree of yaw over pairs of one person's photos whose yaw differs >= min_delta."""
    by_id: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r.has_face:
            by_id.setdefault(r.identity, []).append((head_pose(r.landmarks, r.image_size).yaw, measure(r.landmarks)))
    slopes = []
    for poses in by_id.values():
        for i in range(len(poses)):
            for j in range(i + 1, len(poses)):
                dyaw, dnose = poses[j][0] - poses[i][0], poses[j][1] - poses[i][1]
                if abs(dyaw) >= min_delta_deg:
                    slopes.append(dnose * math.copysign(1.0, dyaw) / abs(dyaw))
    return np.array(slopes)


def replay_section(encoder: FaceEncoder, shots: list[Shot], seed: int, cache: Path) -> list[str]:
    groups = {"dev": [s for s in shots if s.record.path.parent.parent.name == "dev"],
              "antispoof live": [s for s in shots if s.record.identity == "real"],
              "antispoof print/screen": [s for s in shots if s.record.identity == "spoof"]}
    rows = []
    for attack, label in [("identical", "identical frames"), ("noise:2", "camera noise sigma 2, box +-1 px"),
                          ("noise:4", "camera noise sigma 4, box +-1 px")]:
        for group, members in groups.items():
            out = [checker_outcome(attack_landmarks(encoder, s, attack, seed, cache), s.size) for s in members]
            rows.append([label, group, pct(sum(o["passed"] for o in out), len(out)),
                         pct(sum(o["reason"] == "still_image" for o in out), len(out))])
    return [markdown_table(["still replayed 7 s", "photos", "passed liveness (any mode)",
                            "blink says still_image"], rows)]


def moved_print_section(encoder: FaceEncoder, shots: list[Shot], seed: int, cache: Path) -> tuple[list[str], dict]:
    rows, turn_lms = [], {}
    attacks = [("tilt:50", "tilted 50 deg about its horizontal axis"), ("turn:30", "turned 30 deg about its vertical axis"),
               ("turn:45", "turned 45 deg about its vertical axis"), ("fold:60", "top folded back 60 deg at the eye line"),
               ("fold:75", "top folded back 75 deg at the eye line")]
    for attack, label in attacks:
        counts = {k: 0 for k in ("blink_naive", "blink_aspect", "blink", "turn_naive", "turn_eyeline", "turn")}
        for s in shots:
            lm = attack_landmarks(encoder, s, attack, seed, cache)
            yaws = [head_pose(x, s.size).yaw for x in lm]
            counts["blink_naive"] += blink_passes(lm, max_face_aspect_change=math.inf, max_brow_drop=math.inf)
            counts["blink_aspect"] += blink_passes(lm, max_brow_drop=math.inf)
            counts["blink"] += blink_passes(lm)
            counts["turn_naive"] += turn_passes([(y, 0.0) for y in yaws], 0.0)
            counts["turn_eyeline"] += turn_passes([(y, eye_line_nose_offset(x)) for y, x in zip(yaws, lm)], 0.0045)
            poses = [(y, nose_offset(x)) for y, x in zip(yaws, lm)]
            counts["turn"] += turn_passes(poses, DEFAULTS.head_turn_min_parallax)
            if attack.startswith("turn"):
                turn_lms.setdefault(attack, []).append(poses)
        rows.append([label] + [pct(counts[k], len(shots)) for k in counts])
    table = markdown_table(["print moved (sensor noise sigma 2)", "blink, no guard",
                            "blink, face proportion guard only (before)", "blink, shipped",
                            "head turn, no guard", "head turn, eye-line nose >= 0.0045/deg (before)",
                            "head turn, shipped"], rows)
    return [table], turn_lms


def guard_noise_section(encoder: FaceEncoder, shots: list[Shot], seed: int, cache: Path) -> list[str]:
    """How often landmark noise alone trips the blink guards, on still photos with sensor noise.

    Each frame against the median of the three before it, as the guards
    compare a closure with the open face just before: a floor under what
    the guards cost real blinks (real brows may also move; not measured).
    """
    aspect, brow, frames = 0, 0, 0
    for s in shots:
        lm = attack_landmarks(encoder, s, "noise:2", seed, cache)
        a = np.array([face_aspect(x) for x in lm])
        b = np.array([brow_gap(x) for x in lm])
        for i in range(3, len(lm)):
            frames += 1
            aspect += abs(a[i] / np.median(a[i - 3:i]) - 1) > DEFAULTS.max_face_aspect_change
            brow += 1 - b[i] / np.median(b[i - 3:i]) > DEFAULTS.max_brow_drop
    per_blink = 1 - (1 - (aspect + brow) / frames) ** 3
    return [f"Guards tripped by landmark noise alone (stills with sensor noise sigma 2, {frames} frames, each "
            f"against the 3 before): face proportion change > {DEFAULTS.max_face_aspect_change} in "
            f"{pct(aspect, frames, 3)} of frames, brow drop > {DEFAULTS.max_brow_drop} in {pct(brow, frames, 3)}; "
            f"over the ~3 frames of a blink at 10 fps, noise alone would refuse about {100 * per_blink:.1f}% "
            f"of real blinks (real brow movement not included)."]


def parallax_section(dev: list[FaceRecord], turn_poses: dict) -> list[str]:
    real = parallax_proxy(dev, nose_offset)
    before = parallax_proxy(dev, eye_line_nose_offset)
    rows = []
    for t in PARALLAX_GRID:
        mark = " **shipped**" if t == DEFAULTS.head_turn_min_parallax else " (nose not the wrong way)" if t == 0 else ""
        attacks = [pct(sum(turn_passes(p, t) for p in poses), len(poses)) for poses in turn_poses.values()]
        rows.append([f"{t:g}{mark}", pct(int((real >= t).sum()), len(real), 1)] + attacks)
    lines = [markdown_table(["min_parallax (per deg)", "real pairs with enough parallax (proxy)"]
                            + [f"print {a.replace(':', ' ')} deg accepted" for a in turn_poses], rows)]
    lines.append(f"\nReal-head proxy: {len(real)} pairs of one person's dev photos whose estimated yaw differs by "
                 f">= 20 deg; nose shift per degree, plane-invariant measure: median {np.median(real):.4f}, "
                 f"5th percentile {np.percentile(real, 5):.4f}; eye-line measure (before): median "
                 f"{np.median(before):.4f}, with 0.0045 enough in {pct(int((before >= 0.0045).sum()), len(before), 1)}.")
    return lines


def crop_features(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    """Colour, sharpness and frequency features of the face crop (128 px)."""
    h, w = rgb.shape[:2]
    crop = np.ascontiguousarray(rgb[max(0, box.top):min(h, box.bottom), max(0, box.left):min(w, box.right)])
    crop = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float64)
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean()))) ** 2
    yy, xx = np.mgrid[-64:64, -64:64]
    high = spectrum[np.hypot(yy, xx) > 32].sum() / max(spectrum.sum(), 1e-9)
    return np.array([
        math.log(sharpness(face_crop_gray(rgb, box)) + 1.0), math.log(high + 1e-9),
        hsv[:, 1].mean(), hsv[:, 1].std(), ycc[:, 1].mean(), ycc[:, 2].mean(), ycc[:, 1].std(), ycc[:, 2].std(),
        gray.std(),
    ])


FEATURE_NAMES = ["log sharpness", "log high-freq share", "saturation mean", "saturation std",
                 "Cr mean", "Cb mean", "Cr std", "Cb std", "grey std"]


def logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 3000):
    """Standardised L2 logistic regression by gradient descent (numpy only)."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= 0.1 * (z.T @ (p - y) / len(y) + l2 * w / len(y))
        b -= 0.1 * float(np.mean(p - y))
    return np.r_[w, b], mu, sd


def logistic_predict(model, x: np.ndarray) -> np.ndarray:
    coef, mu, sd = model
    return 1.0 / (1.0 + np.exp(-(((x - mu) / sd) @ coef[:-1] + coef[-1])))


def leave_one_subject_out(x: np.ndarray, y: np.ndarray, groups: list[str]) -> np.ndarray:
    scores = np.zeros(len(y))
    for g in sorted(set(groups)):
        test = np.array([gg == g for gg in groups])
        scores[test] = logistic_predict(logistic_fit(x[~test], y[~test]), x[test])
    return scores


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def antispoof_subjects(root: Path) -> dict[str, str]:
    """file ('real/3.jpg') -> subject, from MANIFEST.tsv (NUAA subject folder; the Silent-Face samples are one)."""
    subjects = {}
    lines = (root / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        parts = row["source_path"].split("/")
        subjects[row["file"]] = parts[2] if "Face" in row["source_path"] else "silent-face"
    return subjects


def passive_cue(records: list[FaceRecord], root: Path) -> list[str]:
    subjects = antispoof_subjects(root)
    usable = [r for r in records if r.has_face]
    x = np.array([crop_features(load_image_rgb(r.path), r.box) for r in usable])
    y = np.array([1.0 if r.identity == "real" else 0.0 for r in usable])
    groups = [subjects[r.name] for r in usable]
    out = [f"- faces found in {len(usable)}/{len(records)} photos ({int(y.sum())} real, {int(len(y) - y.sum())} "
           f"spoof), {len(set(groups))} subjects; leave-one-subject-out cross-validation; threshold 0.5", ""]
    rows = []
    variants = [("all features", slice(None)), ("image size only (confound check)", None)]
    variants += [(f, [i]) for i, f in enumerate(FEATURE_NAMES)]
    for name, cols in variants:
        feats = np.array([[math.log(r.image_size[0] * r.image_size[1])] for r in usable]) if cols is None else x[:, cols]
        s = leave_one_subject_out(feats, y, groups)
        real_rejected = int(((s < 0.5) & (y == 1)).sum())
        spoof_accepted = int(((s >= 0.5) & (y == 0)).sum())
        rows.append([name, f"{auc(s, y):.2f}", pct(spoof_accepted, int((y == 0).sum()), 1),
                     pct(real_rejected, int((y == 1).sum()), 1)])
    out.append(markdown_table(["features (logistic regression)", "AUC", "spoof accepted (APCER)",
                               "real rejected (BPCER)"], rows))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    faces_dir_arg(parser)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--forgeries", action="store_true",
                        help="run the forgery suite and the genuine video instead (benchmarks.liveness_report), "
                        "writing BENCHMARKS-liveness.md and gathering it into BENCHMARKS.md")
    parser.add_argument("--people", type=int, default=40, help="--forgeries: unseen people, one sequence each per family")
    parser.add_argument("--people-set", choices=("report", "others"), default="report",
                        help="--forgeries: which unseen calib people: every 20th (report) or the others in a fixed "
                        "shuffled order; each set's run is recorded and disjoint runs are pooled "
                        "(benchmarks/forgery_runs.py)")
    parser.add_argument("--offset", type=int, default=0,
                        help="--forgeries: skip the set's first N people (a run per offset, so runs on disjoint "
                        "people can build side by side, one per core)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="--forgeries: start no new person after this long (every family keeps the same people)")
    parser.add_argument("--tune", action="store_true", help="--forgeries: print the table on the dev people tuned on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.forgeries:
        from benchmarks.liveness_report import run, tune

        if not require_dir(args.faces / "calib" / "people", "calib photos"):
            return 0
        if args.tune:
            return tune(args.faces, seed=1)
        budget = None if args.max_minutes is None else 60.0 * args.max_minutes
        return run(args.faces, args.people, seed=1, which=args.people_set, budget_s=budget, offset=args.offset)
    if not require_dir(args.faces / "dev", "dev photos"):
        return 0
    encoder = FaceEncoder()
    dev = load_set(args.faces / "dev", args.cache, encoder)
    spoof_root = args.faces / "antispoof"
    anti = load_set(spoof_root, args.cache, encoder) if spoof_root.is_dir() else []
    shots = [shot_of(r, FACE_PX) for r in dev + anti if r.has_face]
    print("## Liveness\n")
    print("\n".join(environment_lines("benchmarks.liveness")))
    print(f"- {len(shots)} photos with a face ({sum(r.has_face for r in dev)} dev, "
          f"{sum(r.has_face for r in anti)} antispoof), each cropped and scaled so the face box is {FACE_PX} px "
          f"high (a print ~55 cm from a 640x480 kiosk camera); 10 fps; shipped LivenessConfig defaults; "
          f"landmarks from dlib on every frame\n")
    print(f"### (a) Replayed stills, {REPLAY_FRAMES} frames each, LivenessChecker in every mode\n")
    print("\n".join(replay_section(encoder, shots, args.seed, args.cache)))
    print("\n### (b) A print moved in front of the camera (perspective warps of the real photos)\n")
    lines, turn_poses = moved_print_section(encoder, shots, args.seed, args.cache)
    print("\n".join(lines))
    print("\n" + "\n".join(guard_noise_section(encoder, shots, args.seed, args.cache)))
    print("\n### (c) Head-turn parallax guard: attacks against a real-head proxy\n")
    print("\n".join(parallax_section(dev, turn_poses)))
    print("\n### (d) Single-frame passive cue on antispoof (real vs printed/screen)\n")
    print("\n".join(passive_cue(anti, spoof_root)) if anti else f"SKIPPED: {spoof_root} not found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
