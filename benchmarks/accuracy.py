"""Recognition accuracy on the dev photos, and the evidence for the default thresholds.

Run ``python -m benchmarks.accuracy`` (about 40 s the first time on two
cores, seconds afterwards: encodings are cached by file sha256).

(a) Verification: every genuine and impostor pair, FAR/FRR over distance
    thresholds (reproduces ../shared/faces/BASELINE.md as a sanity check).
(b) The kiosk case, closed set, leave-one-out: each photo is a probe against
    a gallery holding its own person's *other* photos and everyone else;
    genuine accept rate and the rate of naming the wrong person, over a
    grid of accept_distance x min_margin.
(c) Open set, leave-one-identity-out: each person removed from the gallery
    and their photos probed: how often a non-enrolled person is named.
"""

import argparse
import logging
from dataclasses import dataclass

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
from biometrics.encoder import FaceEncoder, load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds, match
from kiosk.quality import QualityConfig, assess

# From ../shared/faces/BASELINE.md: the South Asian identities of the dev set.
SOUTH_ASIAN = {
    "Atal_Bihari_Vajpayee", "Benazir_Bhutto", "Hamid_Karzai", "Harbhajan_Singh",
    "Mian_Khursheed_Mehmood_Kasuri", "Pervez_Musharraf", "Ranil_Wickremasinghe", "Zafarullah_Khan_Jamali",
}
PAIR_THRESHOLDS = [0.40, 0.42, 0.44, 0.45, 0.46, 0.48, 0.50, 0.52, 0.54, 0.55, 0.56, 0.58, 0.60, 0.62]
ACCEPT_GRID = [0.45, 0.48, 0.50, 0.52, 0.54, 0.55, 0.56, 0.58, 0.60]
MARGIN_GRID = [0.0, 0.03, 0.05, 0.08, 0.10]
BAND_GRID = [0.04, 0.06, 0.08, 0.10]


@dataclass
class Probes:
    """Per probe: distance to each person (closest template) and the probe's own person."""

    person_dist: np.ndarray  # (n_probes, n_people)
    own: np.ndarray          # (n_probes,) index of the probe's own person (-1: not in the gallery)


def distance_matrix(enc: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", enc, enc)
    d2 = sq[:, None] + sq[None, :] - 2.0 * enc @ enc.T
    return np.sqrt(np.maximum(d2, 0.0))


def person_distances(dist: np.ndarray, person_of: np.ndarray, n_people: int) -> np.ndarray:
    """(n, n_people): closest template of each person, the probe's own photo excluded."""
    d = dist.copy()
    np.fill_diagonal(d, np.inf)
    out = np.full((d.shape[0], n_people), np.inf)
    for k in range(n_people):
        out[:, k] = d[:, person_of == k].min(axis=1)
    return out


def decide(pd: np.ndarray, t: MatchThresholds) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``biometrics.matcher.match``: (decision codes, best person). 2 accept, 1 uncertain, 0 unknown."""
    order = np.argsort(pd, axis=1)
    rows = np.arange(pd.shape[0])
    best_i, second_i = order[:, 0], order[:, 1]
    best, second = pd[rows, best_i], pd[rows, second_i]
    margin = np.where(np.isinf(second), np.inf, second - best)
    accept = (best < t.accept_distance) & (margin >= t.min_margin)
    uncertain = ~accept & (best < t.accept_distance + t.uncertain_band)
    codes = np.where(accept, 2, np.where(uncertain, 1, 0))
    return codes, best_i


def pair_rates(dist: np.ndarray, person_of: np.ndarray, threshold: float, mask: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """(false accepts, impostor pairs, false rejects, genuine pairs) over i < j."""
    iu = np.triu_indices(dist.shape[0], 1)
    d = dist[iu]
    same = person_of[iu[0]] == person_of[iu[1]]
    keep = np.ones_like(same) if mask is None else mask[iu]
    imp, gen = keep & ~same, keep & same
    return int((d[imp] < threshold).sum()), int(imp.sum()), int((d[gen] >= threshold).sum()), int(gen.sum())


def closed_set(pd: np.ndarray, person_of: np.ndarray, t: MatchThresholds) -> dict:
    has_other = np.isfinite(pd[np.arange(len(person_of)), person_of])
    codes, best = decide(pd[has_other], t)
    own = person_of[has_other]
    return {
        "n": int(has_other.sum()),
        "correct": int(((codes == 2) & (best == own)).sum()),
        "wrong": int(((codes == 2) & (best != own)).sum()),
        "uncertain": int((codes == 1).sum()),
        "unknown": int((codes == 0).sum()),
    }


def open_set(pd: np.ndarray, person_of: np.ndarray, t: MatchThresholds) -> dict:
    stranger = pd.copy()
    stranger[np.arange(len(person_of)), person_of] = np.inf
    codes, best = decide(stranger, t)
    return {"n": len(person_of), "named": int((codes == 2).sum()), "uncertain": int((codes == 1).sum()),
            "codes": codes, "best": best}


def check_against_matcher(records: list[FaceRecord], people: list[str], person_of: np.ndarray,
                          pd: np.ndarray, t: MatchThresholds) -> int:
    """Run the shipped matcher on the closed-set probes; return disagreements with ``decide``."""
    codes, best = decide(pd, t)
    names = {2: "accept", 1: "uncertain", 0: "unknown"}
    disagreements = 0
    for i, r in enumerate(records):
        gallery = Gallery({p: [x.encoding for j, x in enumerate(records) if person_of[j] == k and j != i]
                           for k, p in enumerate(people)})
        result = match(gallery, r.encoding, t)
        disagreements += result.decision != names[int(codes[i])] or result.best_id != people[int(best[i])]
    return disagreements


TYPICAL_FACE_PX = 107  # HOG box height on the 250x250 LFW photos

# Each change is scaled to the face's size, so a 400-px face is degraded as much as a 107-px one.
DEGRADATIONS = {
    "blurred (Gaussian sigma 3 per 107 px of face)": (
        "too_blurred", lambda rgb, h: cv2.GaussianBlur(rgb, (0, 0), 3.0 * h / TYPICAL_FACE_PX)),
    "darkened to 30%": ("too_dark", lambda rgb, h: (rgb * 0.3).astype(np.uint8)),
    "overexposed (x2 + 60)": ("too_bright", lambda rgb, h: np.clip(rgb * 2.0 + 60, 0, 255).astype(np.uint8)),
    "shrunk until the face is 60 px high": ("too_small", None),
}


def quality_section(all_records: list[FaceRecord], encoder: FaceEncoder) -> list[str]:
    """Shipped quality gates on the dev photos, and on degraded copies of the ones that pass."""
    config = QualityConfig()
    passed, blocked_by = [], {}
    for r in all_records:
        rgb = load_image_rgb(r.path)
        boxes = encoder.detect(rgb, r.upsample) if r.has_face else []
        report = assess(rgb, boxes, r.landmarks, config)
        if report.ok:
            passed.append((r, rgb))
        for i in report.issues:
            if i.blocking:
                blocked_by[i.code] = blocked_by.get(i.code, 0) + 1
    lines = [f"- shipped QualityConfig passes {pct(len(passed), len(all_records), 1)} of the dev photos "
             f"(detected as in the pipeline); blocking issues: "
             + ", ".join(f"{k} {v}" for k, v in sorted(blocked_by.items())), ""]
    rows = []
    for label, (code, change) in DEGRADATIONS.items():
        caught = 0
        for r, rgb in passed:
            if change is None:
                f = 60 / r.box.height
                small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
                report = assess(small, [r.box.scaled(f)], r.landmarks * f, config)
            else:
                report = assess(change(rgb, r.box.height), [r.box], r.landmarks, config)
            caught += any(i.code == code and i.blocking for i in report.issues)
        rows.append([label, code, pct(caught, len(passed), 1)])
    lines.append(markdown_table(["copy of each passing photo", "expected issue", "rejected with it"], rows))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    faces_dir_arg(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not require_dir(args.faces / "dev", "dev photos"):
        return 0
    all_records = load_set(args.faces / "dev", args.cache)
    records = [r for r in all_records if r.has_face]
    people = sorted({r.identity for r in records})
    person_of = np.array([people.index(r.identity) for r in records])
    enc = np.stack([r.encoding for r in records]).astype(np.float64)
    dist = distance_matrix(enc)
    pd = person_distances(dist, person_of, len(people))
    shipped = MatchThresholds()

    print("## Recognition accuracy\n")
    print("\n".join(environment_lines("benchmarks.accuracy")))
    missing = [r.name for r in all_records if not r.has_face]
    print(f"- {len(all_records)} photos of {len({r.identity for r in all_records})} people; a face in "
          f"{len(records)} (HOG upsample 1, then 2; largest face); no face: {', '.join(missing) or 'none'}")
    print(f"- shipped defaults: accept_distance={shipped.accept_distance}, min_margin={shipped.min_margin}, "
          f"uncertain_band={shipped.uncertain_band}\n")

    print("### (a) Verification, all pairs\n")
    sa = np.array([r.identity in SOUTH_ASIAN for r in records])
    rows = []
    for th in PAIR_THRESHOLDS:
        fa, ni, fr, ng = pair_rates(dist, person_of, th)
        fa_sa, ni_sa, _, _ = pair_rates(dist, person_of, th, sa[:, None] & sa[None, :])
        rows.append([f"{th:.2f}", pct(fa, ni, 3), pct(fr, ng), pct(fa_sa, ni_sa)])
    print(markdown_table(["distance <", "FAR (impostor pairs)", "FRR (genuine pairs)",
                          "FAR, both South Asian"], rows))

    print("\n### (b) closed set 1:N, leave-one-out, and (c) open set, leave-one-identity-out\n")
    print("(b): each photo against a gallery with its own person's other photos and everyone else; "
          "(c): each photo against a gallery without its person.\n")
    rows = []
    for a in ACCEPT_GRID:
        for m in MARGIN_GRID:
            t = MatchThresholds(accept_distance=a, min_margin=m, uncertain_band=shipped.uncertain_band)
            c, o = closed_set(pd, person_of, t), open_set(pd, person_of, t)
            mark = " **shipped**" if (a, m) == (shipped.accept_distance, shipped.min_margin) else ""
            rows.append([f"{a:.2f}{mark}", f"{m:.2f}", pct(c["correct"], c["n"], 1), pct(c["wrong"], c["n"]),
                         pct(o["named"], o["n"])])
    print(markdown_table(["accept_distance", "min_margin", "(b) genuine accepted", "(b) named wrong person",
                          "(c) stranger named"], rows))

    print("\n### Uncertain band (shipped accept_distance and min_margin)\n")
    rows = []
    for band in BAND_GRID:
        t = MatchThresholds(shipped.accept_distance, shipped.min_margin, band)
        c, o = closed_set(pd, person_of, t), open_set(pd, person_of, t)
        not_accepted = c["n"] - c["correct"] - c["wrong"]
        rows.append([f"{band:.2f}", pct(c["uncertain"], not_accepted, 0), pct(c["unknown"], c["n"], 1),
                     pct(o["uncertain"], o["n"], 1)])
    print(markdown_table(["uncertain_band", "genuine not accepted -> 'look again'", "genuine refused (unknown)",
                          "stranger -> 'look again'"], rows))

    o = open_set(pd, person_of, shipped)
    named = np.flatnonzero(o["codes"] == 2)
    print("\n### Strangers named with the shipped defaults\n")
    for i in named:
        others = [j for j in range(len(records)) if person_of[j] == person_of[i]]
        same = sum(o["codes"][j] == 2 and o["best"][j] == o["best"][i] for j in others)
        print(f"- {records[i].name} named as {people[o['best'][i]]} at {pd[i, o['best'][i]]:.3f}; "
              f"{same}/{len(others)} photos of this person named the same")
    if not len(named):
        print("- none")
    fa, ni, _, _ = pair_rates(dist, person_of, shipped.accept_distance)
    far = fa / ni
    print(f"\nIf impostor pairs were independent, a stranger would be under accept_distance of at least one "
          f"of N enrolled people with probability 1-(1-{far:.5f})^N: "
          + ", ".join(f"N={n}: {100 * (1 - (1 - far) ** n):.1f}%" for n in (50, 500, 5000))
          + " (before the margin test; pairs are not independent, so indicative only).")
    disagreements = check_against_matcher(records, people, person_of, pd, shipped)
    print(f"\nSanity check: biometrics.matcher.match on every closed-set probe agrees with this benchmark's "
          f"vectorised decision in {len(records) - disagreements}/{len(records)} cases.")
    print("\n### Quality gates (kiosk.quality defaults)\n")
    print("\n".join(quality_section(all_records, FaceEncoder())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
