"""Texture cues on single photos (antispoof: live vs printed/screen), held-apart subjects.

Measured, not shipped: does local binary pattern (LBP) texture or the
spectrum's band energies add to the colour/sharpness/frequency features of
``benchmarks.liveness`` section (d)? Logistic regression (numpy only),
leave-one-subject-out, so no subject is both trained and tested on.
"""

import math

import cv2
import numpy as np

from benchmarks.common import FaceRecord, markdown_table, pct
from benchmarks.liveness import antispoof_subjects, auc, crop_features, leave_one_subject_out
from biometrics.encoder import FaceBox, load_image_rgb

LBP_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def gray_face(rgb: np.ndarray, box: FaceBox, side: int = 64) -> np.ndarray:
    h, w = rgb.shape[:2]
    crop = rgb[max(0, box.top):min(h, box.bottom), max(0, box.left):min(w, box.right)]
    return cv2.cvtColor(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)


def lbp_histogram(gray: np.ndarray) -> np.ndarray:
    """Uniform 8-neighbour LBP histogram (10 bins: 9 uniform patterns by bit count, 1 for the rest)."""
    g = gray.astype(np.int16)
    centre = g[1:-1, 1:-1]
    bits = np.stack([(g[1 + dy:g.shape[0] - 1 + dy, 1 + dx:g.shape[1] - 1 + dx] >= centre) for dy, dx in LBP_OFFSETS])
    transitions = np.sum(bits != np.roll(bits, 1, axis=0), axis=0)
    ones = bits.sum(axis=0)
    code = np.where(transitions <= 2, ones, 9)
    hist = np.bincount(code.ravel(), minlength=10).astype(np.float64)
    return hist / hist.sum()


def band_energies(gray: np.ndarray) -> np.ndarray:
    """Log share of the spectrum's energy in four radial bands (moire and print dots sit high)."""
    g = gray.astype(np.float64) - gray.mean()
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    n = gray.shape[0]
    yy, xx = np.mgrid[-n // 2:n // 2, -n // 2:n // 2]
    r = np.hypot(yy, xx) / (n / 2)
    total = max(spec.sum(), 1e-9)
    return np.array([math.log(spec[(r >= a) & (r < b)].sum() / total + 1e-9)
                     for a, b in ((0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.5))])


def texture_lines(records: list[FaceRecord], root) -> list[str]:
    subjects = antispoof_subjects(root)
    usable = [r for r in records if r.has_face]
    y = np.array([1.0 if r.identity == "real" else 0.0 for r in usable])
    groups = [subjects[r.name] for r in usable]
    rgbs = [load_image_rgb(r.path) for r in usable]
    base = np.array([crop_features(rgb, r.box) for rgb, r in zip(rgbs, usable)])
    grays = [gray_face(rgb, r.box) for rgb, r in zip(rgbs, usable)]
    lbp = np.array([lbp_histogram(g) for g in grays])
    bands = np.array([band_energies(g) for g in grays])
    rows = []
    for name, x in (("colour/sharpness/frequency (section d)", base), ("LBP histogram", lbp),
                    ("spectrum bands", bands), ("LBP + bands", np.c_[lbp, bands]),
                    ("all three", np.c_[base, lbp, bands])):
        s = leave_one_subject_out(x, y, groups)
        rows.append([name, f"{auc(s, y):.2f}", pct(int(((s >= 0.5) & (y == 0)).sum()), int((y == 0).sum()), 1),
                     pct(int(((s < 0.5) & (y == 1)).sum()), int((y == 1).sum()), 1)])
    return [f"- {len(usable)} antispoof photos with a face, {len(set(groups))} subjects, leave-one-subject-out; "
            "threshold 0.5", "",
            markdown_table(["features (logistic regression)", "AUC", "spoof accepted", "real rejected"], rows)]
