"""Liveness benchmark: replayed stills, simulated photo attacks, one passive cue.

Run ``python -m benchmarks.liveness`` (a few minutes on two shared cores).

(a) Every dev and antispoof photo replayed as a 30-frame still sequence at
    10 fps, once with identical frames and once with fresh camera-like noise
    on every frame (a print held in front of a real sensor), through the
    blink detector and both head-turn challenges with the shipped defaults.
    Attack acceptance must be 0/N. The same replay of a *real* person's photo
    cannot pass either (a still has no blink), so real-user rejection needs
    video of people at a kiosk, which we do not have.
(b) A print moved in front of the camera, simulated by perspective warps of
    the real photos: tilted about its horizontal axis and back (fakes a
    blink: the eye aspect ratio drops with the foreshortening), and turned
    about its vertical axis and back (fakes a head turn for solvePnP). Run
    with and without the guards (face proportion for blinks, nose parallax
    for turns). Proxy of the parallax guard's cost to real people: pairs of
    photos of one person whose pose differs by >= 20 degrees.
(c) Single-frame passive cue on antispoof (real vs printed/screen): colour,
    sharpness and frequency features of the face crop, logistic regression,
    leave-one-subject-out cross-validation, plus a confound check (image
    size alone).
"""

import argparse
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import (
    FaceRecord,
    environment_lines,
    faces_dir_arg,
    load_set,
    markdown_table,
    pct,
    require_dir,
)
from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb
from biometrics.pose import head_pose
from kiosk.liveness import BlinkDetector, HeadTurnChallenge, LivenessConfig, nose_offset
from kiosk.quality import face_crop_gray, sharpness

FPS = 10.0
NOISE_SIGMA = 2.0
FACE_PX = 140  # ~55 cm from a Camera Module 3 at 640x480; eyes ~20 px wide, the blink minimum
DEFAULTS = LivenessConfig()


@dataclass
class Shot:
    """A photo cut down to its face and some surroundings: what a camera would see of a print."""

    record: FaceRecord
    rgb: np.ndarray
    box: FaceBox


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


def blink_detector(**overrides) -> BlinkDetector:
    c = DEFAULTS
    kwargs = dict(window_s=c.blink_window_s, closed_ratio=c.blink_closed_ratio,
                  min_closed_frames=c.blink_min_closed_frames, max_closed_s=c.blink_max_closed_s,
                  reopen_ratio=c.blink_reopen_ratio, max_face_aspect_change=c.max_face_aspect_change,
                  min_motion=c.min_motion, noise_k=c.blink_noise_k, min_eye_px=c.blink_min_eye_px)
    kwargs.update(overrides)
    return BlinkDetector(**kwargs)


def turn_challenge(direction: str, **overrides) -> HeadTurnChallenge:
    c = DEFAULTS
    kwargs = dict(min_yaw_deg=c.head_turn_min_yaw_deg, timeout_s=c.head_turn_timeout_s,
                  max_step_deg=c.head_turn_max_step_deg, min_parallax=c.head_turn_min_parallax)
    kwargs.update(overrides)
    return HeadTurnChallenge(direction, **kwargs)


def noisy(rgb: np.ndarray, rng: np.random.Generator, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """The frame a camera sensor would deliver: fresh Gaussian noise on every pixel."""
    noise = rng.standard_normal(rgb.shape, dtype=np.float32) * sigma
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


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


def warped_frame(shot: Shot, axis: str, deg: float, rng: np.random.Generator) -> tuple[np.ndarray, FaceBox]:
    h, w = shot.rgb.shape[:2]
    hom = plane_homography((w, h), axis, deg)
    img = cv2.warpPerspective(shot.rgb, hom, (w, h), borderMode=cv2.BORDER_REPLICATE)
    b = shot.box
    corners = np.array([[[b.left, b.top], [b.right, b.top], [b.right, b.bottom], [b.left, b.bottom]]], np.float64)
    p = cv2.perspectiveTransform(corners, hom)[0]
    box = FaceBox(int(p[:, 0].min()), int(p[:, 1].min()), int(p[:, 0].max()), int(p[:, 1].max()))
    return noisy(img, rng), box


def sweep(peak: float, start: int = 10, ramp: int = 3, hold: int = 1, end: int = 6) -> list[float]:
    """Angles of a quick flick: still, to ``peak`` and back, still (10 fps frames)."""
    up = [peak * (i + 1) / ramp for i in range(ramp)]
    return [0.0] * start + up + [peak] * hold + up[::-1][1:] + [0.0] * end


def replay_attack(encoder: FaceEncoder, shot: Shot, sigma: float, rng: np.random.Generator) -> dict:
    """30 frames of one still (``sigma`` > 0: fresh sensor noise on each): does anything pass?"""
    blink = blink_detector()
    turns = [turn_challenge("left"), turn_challenge("right")]
    size = (shot.rgb.shape[1], shot.rgb.shape[0])
    passed, still = False, False
    for i in range(30):
        frame = noisy(shot.rgb, rng, sigma) if sigma else shot.rgb
        lm = encoder.landmarks68(frame, shot.box)
        ts = i / FPS
        state = blink.feed(ts, lm)
        turn_states = [t.feed(ts, lm, size) for t in turns]
        passed |= state.passed or any(t.passed for t in turn_states)
        still = state.reason == "still_image"
    return {"passed": passed, "still": still}


def flick_attack(encoder: FaceEncoder, shot: Shot, axis: str, peak: float, rng: np.random.Generator) -> dict:
    """A print flicked about ``axis``: which detectors pass, with and without the guards."""
    guarded_blink, naive_blink = blink_detector(), blink_detector(max_face_aspect_change=math.inf)
    turns = {(d, g): turn_challenge(d, min_parallax=DEFAULTS.head_turn_min_parallax if g else 0.0)
             for d in ("left", "right") for g in (True, False)}
    size = (shot.rgb.shape[1], shot.rgb.shape[0])
    out = {"blink_guarded": False, "blink_naive": False, "turn_guarded": False, "turn_naive": False}
    for i, deg in enumerate(sweep(peak) + sweep(-peak)):
        frame, box = warped_frame(shot, axis, deg, rng)
        lm = encoder.landmarks68(frame, box)
        ts = i / FPS
        out["blink_guarded"] |= guarded_blink.feed(ts, lm).passed
        out["blink_naive"] |= naive_blink.feed(ts, lm).passed
        yaw, nose = head_pose(lm, size).yaw, nose_offset(lm)
        for (d, guarded), challenge in turns.items():
            key = "turn_guarded" if guarded else "turn_naive"
            out[key] |= challenge.feed_pose(ts, yaw, nose).passed
    return out


def parallax_proxy(records: list[FaceRecord], min_delta_deg: float = 20.0) -> tuple[int, int, float]:
    """Pairs of one person's photos whose yaw differs >= min_delta: how many show enough parallax."""
    by_id: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r.has_face:
            by_id.setdefault(r.identity, []).append((head_pose(r.landmarks, r.image_size).yaw, nose_offset(r.landmarks)))
    ok = total = 0
    slopes = []
    for poses in by_id.values():
        for i in range(len(poses)):
            for j in range(i + 1, len(poses)):
                dyaw, dnose = poses[j][0] - poses[i][0], poses[j][1] - poses[i][1]
                if abs(dyaw) < min_delta_deg:
                    continue
                total += 1
                ok += (dnose * math.copysign(1.0, dyaw)) >= DEFAULTS.head_turn_min_parallax * abs(dyaw)
                slopes.append(dnose / dyaw)
    return ok, total, float(np.median(slopes)) if slopes else float("nan")


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
    radius = np.hypot(yy, xx)
    high = spectrum[radius > 32].sum() / max(spectrum.sum(), 1e-9)
    return np.array([
        math.log(sharpness(face_crop_gray(rgb, box)) + 1.0), math.log(high + 1e-9),
        hsv[:, 1].mean(), hsv[:, 1].std(), ycc[:, 1].mean(), ycc[:, 2].mean(), ycc[:, 1].std(), ycc[:, 2].std(),
        gray.std(),
    ])


FEATURE_NAMES = ["log sharpness", "log high-freq share", "saturation mean", "saturation std",
                 "Cr mean", "Cb mean", "Cr std", "Cb std", "grey std"]


def logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        model = logistic_fit(x[~test], y[~test])
        scores[test] = logistic_predict(model, x[test])
    return scores


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def antispoof_subjects(root: Path) -> dict[str, str]:
    """file ('real/3.jpg') -> subject, from MANIFEST.tsv (NUAA subject folder; Silent-Face samples are one)."""
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
    out = [f"- faces found in {len(usable)}/{len(records)} photos ({int(y.sum())} real, {int(len(y) - y.sum())} spoof), "
           f"{len(set(groups))} subjects; leave-one-subject-out cross-validation"]
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not require_dir(args.faces / "dev", "dev photos"):
        return 0
    encoder = FaceEncoder()
    rng = np.random.default_rng(args.seed)
    dev = load_set(args.faces / "dev", args.cache, encoder)
    spoof_root = args.faces / "antispoof"
    anti = load_set(spoof_root, args.cache, encoder) if spoof_root.is_dir() else []
    shots = [shot_of(r, FACE_PX) for r in dev + anti if r.has_face]
    print("## Liveness\n")
    print("\n".join(environment_lines("benchmarks.liveness")))
    print(f"- {len(shots)} photos with a face ({sum(r.has_face for r in dev)} dev, {sum(r.has_face for r in anti)} antispoof), "
          f"each cropped and scaled so the face box is {FACE_PX} px high (a print ~55 cm from a 640x480 kiosk camera); "
          f"10 fps; shipped LivenessConfig defaults; landmarks from dlib on every frame\n")

    print("### (a) Replayed stills, 30 frames each (blink, head turn left, head turn right)\n")
    rows = []
    for sigma in (0.0, 2.0, 4.0):
        results = [replay_attack(encoder, s, sigma, rng) for s in shots]
        rows.append([f"fresh camera noise, sigma {sigma:g}, on every frame" if sigma else "identical frames",
                     pct(sum(r["passed"] for r in results), len(results)),
                     pct(sum(r["still"] for r in results), len(results))])
    print(markdown_table(["replay", "attack accepted", "flagged still_image"], rows))

    print("\n### (b) A print flicked in front of the camera (perspective warps of the real photos)\n")
    rows = []
    for axis, peak, label in [("x", 50, "tilted 50 deg about its horizontal axis"),
                              ("y", 30, "turned 30 deg about its vertical axis"),
                              ("y", 45, "turned 45 deg about its vertical axis")]:
        results = [flick_attack(encoder, s, axis, peak, rng) for s in shots]
        n = len(results)
        rows.append([label, pct(sum(r["blink_naive"] for r in results), n),
                     pct(sum(r["blink_guarded"] for r in results), n),
                     pct(sum(r["turn_naive"] for r in results), n),
                     pct(sum(r["turn_guarded"] for r in results), n)])
    print(markdown_table(["print moved", "blink, no guard", "blink, shipped (proportion guard)",
                          "head turn, no guard", "head turn, shipped (parallax guard)"], rows))
    ok, total, slope = parallax_proxy(dev)
    print(f"\nParallax guard on real heads (proxy: pairs of one person's dev photos whose estimated yaw differs "
          f">= 20 deg): enough nose parallax in {pct(ok, total, 1)}; median nose shift "
          f"{slope:.4f} eye distances per degree (guard: {DEFAULTS.head_turn_min_parallax}).")

    print("\n### (c) Single-frame passive cue on antispoof (real vs printed/screen)\n")
    if anti:
        print("\n".join(passive_cue(anti, spoof_root)))
    else:
        print(f"SKIPPED: {spoof_root} not found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
