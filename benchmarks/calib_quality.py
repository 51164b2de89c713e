"""Evidence for the shared quality limits: how far a genuine probe lands from its person, by quality.

On the calibration set's tuning half, every photo of a person with a face
(including those the gate refuses, whose encodings dlib still gives) is
measured with ``biometrics.face_quality.measure`` and scored against the
mean of the person's *other* hub-accepted photos, as the matcher scores.
A limit is worth having where the scores of genuine probes worsen: past
it, a frame is more likely refused ("look again") or, worse, nearer
someone else than to its own person.
"""

from pathlib import Path

import numpy as np

from benchmarks.calib_data import CalibSet
from benchmarks.common import markdown_table
from benchmarks.encoder_cache import CachingEncoder
from biometrics.encoder import load_image_rgb
from biometrics.face_quality import DEFAULT_LIMITS, measure
from biometrics.matcher import MatchThresholds, template_count_scale

BINS = {
    "|yaw| deg": ("yaw", [0, 15, 30, 45, 60, 180]),
    "|pitch| deg": ("pitch", [0, 10, 20, 30, 180]),
    "sharpness": ("sharpness", [0, 10, 20, 50, 100, 1e9]),
    "brightness": ("brightness", [0, 55, 80, 180, 210, 256]),
}


def genuine_measures(cs: CalibSet, calib: Path, half: str = "tune") -> dict[str, np.ndarray]:
    """Per genuine photo of ``half`` with a face and other accepted photos: its measures and its score."""
    encoder = CachingEncoder()
    out: dict[str, list[float]] = {k: [] for k in ("yaw", "pitch", "sharpness", "brightness", "score")}
    for i in np.flatnonzero(~cs.stranger & (cs.half == half)):
        others = np.flatnonzero((cs.identity == cs.identity[i]) & cs.has_template & ~cs.stranger)
        others = others[others != i]
        rgb = load_image_rgb(calib / cs.files[i])
        boxes = encoder.detect(rgb)
        if not boxes or not len(others):
            continue
        landmarks = encoder.landmarks68(rgb, boxes[0])
        m = measure(rgb, boxes[0], landmarks)
        probe = encoder.encode(rgb, boxes[0]).astype(np.float64)
        score = np.linalg.norm(probe - cs.template[others].mean(axis=0)) * template_count_scale(
            np.array([len(others)]))[0]
        for k, v in (("yaw", abs(m.pose.yaw)), ("pitch", abs(m.pose.pitch)), ("sharpness", m.sharpness),
                     ("brightness", m.brightness), ("score", score)):
            out[k].append(float(v))
    return {k: np.array(v) for k, v in out.items()}


def quality_lines(cs: CalibSet, calib: Path) -> list[str]:
    g = genuine_measures(cs, calib)
    accept = MatchThresholds().accept_distance
    lines = [f"Genuine photos of the tuning half ({len(g['score'])}), scored against their person's other photos; "
             f"shipped limits: |yaw| <= {DEFAULT_LIMITS.max_yaw_deg:g}, |pitch| <= {DEFAULT_LIMITS.max_pitch_deg:g}, "
             f"sharpness >= {DEFAULT_LIMITS.min_sharpness:g}, brightness {DEFAULT_LIMITS.min_brightness:g}-"
             f"{DEFAULT_LIMITS.max_brightness:g}, face >= {DEFAULT_LIMITS.min_face_px} px (size: "
             "BENCHMARKS-face-size.md; LFW faces are all ~100 px).", ""]
    for label, (key, edges) in BINS.items():
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (g[key] >= lo) & (g[key] < hi)
            s = g["score"][sel]
            rows.append([f"{lo:g}-{hi:g}" if hi < 1e8 else f">= {lo:g}", str(int(sel.sum())),
                         f"{np.median(s):.3f}" if len(s) else "-",
                         f"{100 * np.mean(s < accept):.0f}%" if len(s) else "-"])
        lines += [markdown_table([label, "photos", "median score", f"under {accept} (before the margin)"], rows), ""]
    return lines
