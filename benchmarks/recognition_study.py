"""Which engine change raises genuine accepts without naming more strangers (issue 6).

Run through ``python -m benchmarks.accuracy --variants``. Each dev photo is
encoded four more ways, cached under ``benchmarks/.cache`` (about 6 minutes
the first time on two cores, dominated by the jittered encodings):

- enrolment with 5 or 10 jitters (dlib re-encodes randomly shifted, scaled
  and mirrored crops and averages them); probes stay 1 jitter, as at a kiosk;
- enrolment as the mean of the face and its mirror image (2 passes, no
  randomness);
- 68-point instead of 5-point alignment, for probes and enrolment alike
  (face_recognition's "large" model; our encoder only uses 5 points).

Each is scored four ways: a person's closest template, the mean of their
templates (centroid), that mean scaled back to the templates' mean length
(dlib encodings have a norm near 1.43, not 1), and the smaller of closest
and centroid. Every cell is measured on the leave-one-out protocol of
``benchmarks.recognition_protocol``; the thresholds of each are chosen by
the same rule as the shipped ones, so variants are compared at their best.

dlib's jitter draws from a generator inside the model object, so a variant
is encoded by a fresh model over the photos in a fixed order: rerunning
from an empty cache gives the same encodings.
"""

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.common import FaceRecord, cached_arrays, markdown_table
from benchmarks.recognition_protocol import (
    Outcomes,
    centroid_distances,
    distance_matrix,
    held_out_check,
    lowest_risk,
    outcome_grid,
    person_distances,
)
from biometrics.encoder import load_image_rgb, model_path
from biometrics.matcher import MatchThresholds

SEARCH_ACCEPT = [round(0.40 + 0.01 * i, 2) for i in range(26)]
SEARCH_MARGIN = [round(0.01 * i, 2) for i in range(13)]
TARGET_GAR, TARGET_FAR = 0.97, 0.001
# name -> (landmarks, jitters or "mirror") of the enrolment encoding; probes use (landmarks, 1)
VARIANTS = {
    "5-point, 1 jitter (shipped)": ("5", 1),
    "5-point, enrolment 5 jitters": ("5", 5),
    "5-point, enrolment 10 jitters": ("5", 10),
    "5-point, enrolment face + mirror": ("5", "mirror"),
    "68-point alignment, 1 jitter": ("68", 1),
}
RULES = ("closest", "centroid", "centroid, mean length", "min(closest, centroid)")


def _encode_all(records: list[FaceRecord], landmarks: str, jitters: int | str) -> np.ndarray:
    import dlib

    shape = dlib.shape_predictor(str(model_path(f"shape_predictor_{landmarks}_face_landmarks.dat")))
    net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat")))
    out = np.zeros((len(records), 128), np.float32)
    for i, r in enumerate(records):
        rgb = load_image_rgb(r.path)
        face = shape(rgb, dlib.rectangle(r.box.left, r.box.top, r.box.right, r.box.bottom))
        if jitters == "mirror":
            chip = dlib.get_face_chip(rgb, face, size=150, padding=0.25)
            pair = [np.asarray(net.compute_face_descriptor(c)) for c in (chip, np.ascontiguousarray(chip[:, ::-1]))]
            out[i] = np.mean(pair, axis=0)
        else:
            out[i] = np.asarray(net.compute_face_descriptor(rgb, face, int(jitters)))
    return out


def variant_encodings(records: list[FaceRecord], landmarks: str, jitters: int | str, cache: Path) -> np.ndarray:
    if (landmarks, jitters) == ("5", 1):
        return np.stack([r.encoding for r in records]).astype(np.float64)
    photos = hashlib.sha256("".join(r.sha256 for r in records).encode()).hexdigest()[:16]
    key = f"variant-{landmarks}pt-j{jitters}-{photos}"
    return cached_arrays(cache, key, lambda: {"encodings": _encode_all(records, landmarks, jitters)})[
        "encodings"].astype(np.float64)


def rule_distances(rule: str, probes: np.ndarray, templates: np.ndarray, person_of: np.ndarray,
                   n_people: int) -> np.ndarray:
    """Leave-one-out (probes x people) distances under one scoring rule."""
    closest: Callable[[], np.ndarray] = lambda: person_distances(distance_matrix(probes, templates), person_of,
                                                                 n_people)
    if rule == "closest":
        return closest()
    if rule == "centroid":
        return centroid_distances(probes, templates, person_of, n_people)
    if rule == "min(closest, centroid)":
        return np.minimum(closest(), centroid_distances(probes, templates, person_of, n_people))
    if rule == "centroid, mean length":
        return _centroid_mean_length(probes, templates, person_of, n_people)
    raise ValueError(rule)


def _centroid_mean_length(probes: np.ndarray, templates: np.ndarray, person_of: np.ndarray,
                          n_people: int) -> np.ndarray:
    out = np.full((len(probes), n_people), np.inf)
    norms = np.linalg.norm(templates, axis=1)
    for k in range(n_people):
        members = np.flatnonzero(person_of == k)
        for i in range(len(probes)):
            keep = members[members != i]
            if len(keep):
                c = templates[keep].mean(axis=0)
                c *= norms[keep].mean() / np.linalg.norm(c)
                out[i, k] = np.linalg.norm(probes[i] - c)
    return out


def _cell(r: dict[str, int]) -> str:
    return (f"{100 * r['correct'] / r['n']:.1f}% / {r['wrong']} / {r['named']} / "
            f"{100 * r['fa'] / r['comparisons']:.3f}%")


def variants_section(records: list[FaceRecord], person_of: np.ndarray, n_people: int, cache: Path,
                     shipped: MatchThresholds) -> list[str]:
    base = variant_encodings(records, "5", 1, cache)
    rows = []
    for name, (landmarks, jitters) in VARIANTS.items():
        templates = variant_encodings(records, landmarks, jitters, cache)
        probes = base if landmarks == "5" else variant_encodings(records, landmarks, 1, cache)
        for rule in RULES:
            pd = rule_distances(rule, probes, templates, person_of, n_people)
            at_shipped = Outcomes(pd, person_of, shipped).rates()
            grid = outcome_grid(pd, person_of, SEARCH_ACCEPT, SEARCH_MARGIN, shipped.uncertain_band)
            chosen = lowest_risk(grid, TARGET_GAR, TARGET_FAR)
            h = held_out_check(grid, person_of, TARGET_GAR, TARGET_FAR)
            best = (f"{chosen[0]:.2f} / {chosen[1]:.2f}: {_cell(grid[chosen].rates())}" if chosen
                    else "none meets both")
            rows.append([name, rule, _cell(at_shipped), best,
                         f"{100 * h['gar']:.1f}% / {100 * h['named']:.2f}% ({100 * h['met']:.0f}%)"])
    n = len(records)
    return [
        f"Cells: genuine accepted (b) / named wrong person (b, of {n}) / strangers named (c, of {n}) / "
        f"impostor comparisons under accept. 'Held out': the threshold rule applied to half of the people, "
        "measured on the other half, mean over 300 halves: genuine accepted / stranger named (share of "
        "halves with >= 97% genuine accepted).\n",
        markdown_table(["enrolment encoding", "scoring", f"at the shipped {shipped.accept_distance:.2f} / "
                        f"{shipped.min_margin:.2f}", "lowest-risk setting meeting both targets",
                        "held out"], rows),
    ]
