"""Recognition accuracy on the dev photos, and the evidence for the default thresholds.

Run ``python -m benchmarks.accuracy`` (about 40 s the first time on two
cores, seconds afterwards: encodings are cached by file sha256).

(a) Verification, single frame against single frame: every genuine and
    impostor pair, the ROC over distance thresholds (reproduces
    ../shared/faces/BASELINE.md as a sanity check).
(b) The kiosk case, closed set, leave-one-out: each photo is a probe against
    a gallery holding its own person's *other* photos and everyone else;
    genuine accept rate and the rate of naming the wrong person, over a
    grid of accept_distance x min_margin; and with 1, 2 or 3 enrolment
    photos of the probe's person.
(c) Open set, leave-one-identity-out: each person removed from the gallery
    and their photos probed: how often a non-enrolled person is named.

(b) and (c) are measured for the shipped scoring (``biometrics.matcher.Gallery``'s
default: distance to the mean of a person's templates) and, as a reference,
for the scoring before it (distance to the closest template, at 0.50 / 0.05).
The thresholds are also chosen here by a fixed rule (the lowest-risk setting
that meets the targets), checked by choosing them on half of the people and
measuring the other half. ``--variants`` adds the study of other engines
(enrolment jitters, mirrored enrolment, 68-point alignment, other scorings:
``benchmarks.recognition_study``).

The shipped defaults are read from ``biometrics.matcher.MatchThresholds``
and ``kiosk.config.RecognitionConfig``; this benchmark never changes them.
``--markdown FILE`` also writes the output into FILE's
"## Output: benchmarks.accuracy" section. ``--calib`` instead measures
the shipped engine on ``calib/`` at 25-800 enrolled people, identify and
verify with ID, tuned on one half and reported on the other
(``benchmarks.calib_report``; issue 16).
"""

import argparse
import logging
import re
from pathlib import Path

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
from benchmarks.recognition_protocol import (
    Outcomes,
    check_against_matcher,
    closed_set,
    distance_matrix,
    enrolment_size,
    held_out_check,
    impostor_accepts,
    lowest_risk,
    open_set,
    operating_points,
    outcome_grid,
    pair_distances,
    pair_rates,
    scored,
    subset_scorer,
    wilson_lower,
    wilson_upper,
)
from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds
from kiosk.config import RecognitionConfig
from kiosk.quality import QualityConfig, assess

# From ../shared/faces/BASELINE.md: the South Asian identities of the dev set.
SOUTH_ASIAN = {
    "Atal_Bihari_Vajpayee", "Benazir_Bhutto", "Hamid_Karzai", "Harbhajan_Singh",
    "Mian_Khursheed_Mehmood_Kasuri", "Pervez_Musharraf", "Ranil_Wickremasinghe", "Zafarullah_Khan_Jamali",
}
PAIR_THRESHOLDS = [0.40, 0.42, 0.44, 0.45, 0.46, 0.48, 0.49, 0.50, 0.52, 0.54, 0.55, 0.56, 0.58, 0.60, 0.62]
ACCEPT_GRID = [0.45, 0.47, 0.48, 0.49, 0.50, 0.51, 0.52, 0.54, 0.56]
MARGIN_GRID = [0.0, 0.03, 0.05, 0.08, 0.10]
BAND_GRID = [0.04, 0.05, 0.06, 0.08, 0.10]
# The search for the lowest-risk setting that meets the targets (steps of 0.01).
SEARCH_ACCEPT = [round(0.40 + 0.01 * i, 2) for i in range(26)]
SEARCH_MARGIN = [round(0.01 * i, 2) for i in range(13)]
TARGET_GAR, TARGET_FAR = 0.97, 0.001  # issue 6: single frames, with the shipped defaults
SHIPPED_SCORING = Gallery({}).scoring
# The engine before the scoring change, shown beside the shipped one for reference.
REFERENCE = ("closest", MatchThresholds(accept_distance=0.50, min_margin=0.05, uncertain_band=0.08))


TYPICAL_FACE_PX = 107  # HOG box height on the 250x250 LFW photos

# Each change is scaled to the face's size, so a 400-px face is degraded as much as a 107-px one.
DEGRADATIONS = {
    "blurred (Gaussian sigma 3 per 107 px of face)": (
        "too_blurred", lambda rgb, h: cv2.GaussianBlur(rgb, (0, 0), 3.0 * h / TYPICAL_FACE_PX)),
    "darkened to 30%": ("too_dark", lambda rgb, h: (rgb * 0.3).astype(np.uint8)),
    "overexposed (x2 + 60)": ("too_bright", lambda rgb, h: np.clip(rgb * 2.0 + 60, 0, 255).astype(np.uint8)),
    "shrunk until the face is 60 px high": ("too_small", None),
}


def degraded(rgb: np.ndarray, r: FaceRecord, change) -> tuple[np.ndarray, FaceBox, np.ndarray]:
    """The degraded copy, its face box and landmarks (a shrink scales them; other changes keep them)."""
    if change is None:
        f = 60 / r.box.height
        small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return small, r.box.scaled(f), r.landmarks * f
    return change(rgb, r.box.height), r.box, r.landmarks


def quality_section(all_records: list[FaceRecord], encoder: FaceEncoder, cache: Path) -> list[str]:
    """Shipped quality gates on the dev photos, and on degraded copies of the ones that pass.

    Also how far each degradation moves the encoding (every 4th passing
    photo, the same face box): the reason the gate exists.
    """
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
    for n, (label, (code, change)) in enumerate(DEGRADATIONS.items()):
        caught, moved = 0, []
        for j, (r, rgb) in enumerate(passed):
            img, box, lm = degraded(rgb, r, change)
            report = assess(img, [box], lm, config)
            caught += any(i.code == code and i.blocking for i in report.issues)
            if j % 4 == 0:
                enc = cached_arrays(cache, f"degraded-{r.sha256[:32]}-d{n}",
                                    lambda: {"encoding": encoder.encode(np.ascontiguousarray(img), box)})["encoding"]
                moved.append(float(np.linalg.norm(enc - r.encoding)))
        rows.append([label, code, pct(caught, len(passed), 1),
                     f"{np.median(moved):.2f} (90th pct {np.percentile(moved, 90):.2f}, n={len(moved)})"])
    lines.append(markdown_table(["copy of each passing photo", "expected issue", "rejected with it",
                                 "encoding moved by (median)"], rows))
    return lines


def defaults_lines(shipped: MatchThresholds, kiosk: RecognitionConfig) -> list[str]:
    same = (shipped.accept_distance, shipped.min_margin) == (kiosk.accept_distance, kiosk.min_margin)
    return [
        f"- shipped defaults: MatchThresholds(accept_distance={shipped.accept_distance}, "
        f"min_margin={shipped.min_margin}, uncertain_band={shipped.uncertain_band}); RecognitionConfig("
        f"accept_distance={kiosk.accept_distance}, min_margin={kiosk.min_margin}) "
        + ("(the same)" if same else "**DIFFERENT: the kiosk does not run what the matcher defaults say**"),
    ]


def roc_section(dist: np.ndarray, person_of: np.ndarray, sa: np.ndarray, shipped: MatchThresholds) -> list[str]:
    rows = []
    for th in PAIR_THRESHOLDS:
        fa, ni, fr, ng = pair_rates(dist, person_of, th)
        fa_sa, ni_sa, _, _ = pair_rates(dist, person_of, th, sa[:, None] & sa[None, :])
        mark = " **shipped**" if th == shipped.accept_distance else ""
        rows.append([f"{th:.2f}{mark}", pct(ng - fr, ng, 1), pct(fa, ni, 3), f"{100 * wilson_upper(fa, ni):.3f}%",
                     pct(fa_sa, ni_sa)])
    genuine, impostor = pair_distances(dist, person_of)
    lines = [markdown_table(["accept if distance <", "GAR (genuine pairs accepted)", "FAR (impostor pairs)",
                             "FAR 95% upper (Wilson)", "FAR, both South Asian"], rows), ""]
    lines += operating_points(genuine, impostor, 0.001, 0.97)
    return lines


def grid_table(pd: np.ndarray, person_of: np.ndarray, shipped: MatchThresholds, margins: list[float],
               mark_shipped: bool) -> str:
    rows = []
    for a in ACCEPT_GRID:
        for m in margins:
            r = Outcomes(pd, person_of, MatchThresholds(a, m, shipped.uncertain_band)).rates()
            mark = " **shipped**" if mark_shipped and (a, m) == (shipped.accept_distance, shipped.min_margin) else ""
            rows.append([f"{a:.2f}{mark}", f"{m:.2f}", pct(r["correct"], r["n"], 1), pct(r["wrong"], r["n"]),
                         pct(r["named"], r["probes"]), pct(r["fa"], r["comparisons"], 3)])
    return markdown_table(["accept_distance", "min_margin", "(b) genuine accepted", "(b) named wrong person",
                           "(c) stranger named", "impostor comparisons under accept"], rows)


def kiosk_section(pds: dict[str, np.ndarray], person_of: np.ndarray, shipped: MatchThresholds) -> list[str]:
    reference, _ = REFERENCE
    return [
        f"Shipped scoring ({SHIPPED_SCORING}: a person's distance is the distance to the mean of their "
        "enrolled templates). The last column is the engine's false-accept rate: each probe against each "
        "other enrolled person as the gallery scores them, before the margin test.\n",
        grid_table(pds[SHIPPED_SCORING], person_of, shipped, MARGIN_GRID, True), "",
        f"Reference: the scoring before ({reference}: the distance to a person's closest template), "
        f"shipped then at {REFERENCE[1].accept_distance:.2f} / {REFERENCE[1].min_margin:.2f}.\n",
        grid_table(pds[reference], person_of, REFERENCE[1], [0.0, 0.03, 0.05], False),
    ]


def choice_section(pds: dict[str, np.ndarray], person_of: np.ndarray, dist: np.ndarray,
                   shipped: MatchThresholds) -> list[str]:
    """The thresholds a fixed rule picks for each scoring, and how well that choice holds on unseen people."""
    rows, checks = [], []
    for scoring in (SHIPPED_SCORING, REFERENCE[0]):
        grid = outcome_grid(pds[scoring], person_of, SEARCH_ACCEPT, SEARCH_MARGIN, shipped.uncertain_band)
        chosen = lowest_risk(grid, TARGET_GAR, TARGET_FAR)
        if chosen is None:
            rows.append([scoring, "none meets both", "", "", "", "", ""])
            continue
        r = grid[chosen].rates()
        fa_pairs, n_pairs, _, _ = pair_rates(dist, person_of, chosen[0])
        mark = " **shipped**" if scoring == SHIPPED_SCORING and chosen == (shipped.accept_distance,
                                                                           shipped.min_margin) else ""
        rows.append([scoring, f"{chosen[0]:.2f} / {chosen[1]:.2f}{mark}",
                     f"{pct(r['correct'], r['n'], 1)} (lower {100 * wilson_lower(r['correct'], r['n']):.1f}%)",
                     f"{pct(r['wrong'], r['n'])} (upper {100 * wilson_upper(r['wrong'], r['n']):.1f}%)",
                     f"{pct(r['named'], r['probes'])} (upper {100 * wilson_upper(r['named'], r['probes']):.1f}%)",
                     f"{pct(r['fa'], r['comparisons'], 3)} (upper "
                     f"{100 * wilson_upper(r['fa'], r['comparisons']):.3f}%)",
                     f"{pct(fa_pairs, n_pairs, 3)} (upper {100 * wilson_upper(fa_pairs, n_pairs):.3f}%)"])
        h = held_out_check(grid, person_of, TARGET_GAR, TARGET_FAR)
        checks.append(f"- {scoring}: a setting found on {h['found']}/{h['splits']} halves; on the other half "
                      f"genuine accepted {100 * h['gar']:.1f}% (>= 97% on {100 * h['met']:.0f}% of the halves), "
                      f"named wrong person {100 * h['wrong']:.2f}%, stranger named {100 * h['named']:.2f}%, "
                      f"impostor comparisons under accept {100 * h['far']:.3f}%")
    return [
        f"Rule: among accept_distance {SEARCH_ACCEPT[0]:.2f}-{SEARCH_ACCEPT[-1]:.2f} and min_margin "
        f"{SEARCH_MARGIN[0]:.2f}-{SEARCH_MARGIN[-1]:.2f} (steps of 0.01), the settings with >= "
        f"{100 * TARGET_GAR:g}% genuine accepted in (b) and <= {100 * TARGET_FAR:g}% impostor comparisons "
        "under accept; of those, the fewest strangers named, then wrong people, then impostor comparisons "
        "under accept, then the most genuine accepts, then the larger margin. With 95% Wilson bounds "
        "(photos of one person are not independent: floors on the uncertainty).\n",
        markdown_table(["scoring", "accept / margin chosen", "(b) genuine accepted", "(b) named wrong person",
                        "(c) stranger named", "impostor comparisons under accept", "impostor photo pairs under "
                        "accept"], rows), "",
        "The same rule applied to half of the people (300 random halves of the 53), its choice measured "
        "on the other half (what tuning on these photos is worth for people it did not see):\n",
        *checks,
    ]


def enrolment_section(pds: dict[str, np.ndarray], enc: np.ndarray, person_of: np.ndarray,
                      shipped: MatchThresholds) -> list[str]:
    rows = []
    for scoring, t in ((SHIPPED_SCORING, shipped), REFERENCE):
        score = subset_scorer(scoring, enc, enc)
        for k in (1, 2, 3):
            correct, wrong, total = enrolment_size(pds[scoring], score, person_of, t, k)
            mark = " (shipped)" if scoring == SHIPPED_SCORING else " (before)"
            rows.append([f"{scoring} {t.accept_distance:.2f} / {t.min_margin:.2f}{mark}", str(k),
                         pct(correct, total, 1), pct(wrong, total)])
    return [markdown_table(["scoring, accept_distance / min_margin", "enrolled photos", "genuine accepted",
                            "named wrong person"], rows)]


def band_section(pd: np.ndarray, person_of: np.ndarray, shipped: MatchThresholds) -> list[str]:
    rows = []
    for band in BAND_GRID:
        t = MatchThresholds(shipped.accept_distance, shipped.min_margin, band)
        c, o = closed_set(pd, person_of, t), open_set(pd, person_of, t)
        not_accepted = c["n"] - c["correct"] - c["wrong"]
        mark = " **shipped**" if band == shipped.uncertain_band else ""
        rows.append([f"{band:.2f}{mark}", pct(c["uncertain"], not_accepted, 0), pct(c["unknown"], c["n"], 1),
                     pct(o["uncertain"], o["n"], 1)])
    return [markdown_table(["uncertain_band", "genuine not accepted -> 'look again'", "genuine refused (unknown)",
                            "stranger -> 'look again'"], rows)]


def strangers_section(records: list[FaceRecord], people: list[str], person_of: np.ndarray, pd: np.ndarray,
                      shipped: MatchThresholds) -> list[str]:
    o = open_set(pd, person_of, shipped)
    named = np.flatnonzero(o["codes"] == 2)
    lines = []
    for i in named:
        others = [j for j in range(len(records)) if person_of[j] == person_of[i]]
        same = sum(o["codes"][j] == 2 and o["best"][j] == o["best"][i] for j in others)
        lines.append(f"- {records[i].name} named as {people[o['best'][i]]} at {pd[i, o['best'][i]]:.4f}; "
                     f"{same}/{len(others)} photos of this person named the same")
    if not len(named):
        lines.append("- none")
    stranger = pd.copy()
    stranger[np.arange(len(person_of)), person_of] = np.inf
    near = [i for i in np.argsort(stranger.min(axis=1))
            if i not in named and stranger[i].min() < shipped.accept_distance + 0.015]
    lines.append("\nStrangers within 0.015 of accept_distance and not named (how close the edge is):\n")
    for i in near:
        k = int(np.argmin(stranger[i]))
        why = "under accept_distance, held back by the margin" if stranger[i, k] < shipped.accept_distance else \
            f"{stranger[i, k] - shipped.accept_distance:+.5f} over accept_distance"
        lines.append(f"- {records[i].name} nearest {people[k]} at {stranger[i, k]:.5f} ({why})")
    if not near:
        lines.append("- none")
    return lines


def independence_line(pd: np.ndarray, person_of: np.ndarray, shipped: MatchThresholds) -> str:
    fa, n = impostor_accepts(pd, person_of, shipped.accept_distance)
    far = fa / n
    return (f"If impostor comparisons were independent, a stranger would be under accept_distance of at least one "
            f"of N enrolled people with probability 1-(1-{far:.5f})^N: "
            + ", ".join(f"N={n}: {100 * (1 - (1 - far) ** n):.1f}%" for n in (50, 500, 5000))
            + " (before the margin test; they are not independent, so indicative only).")


def report(args: argparse.Namespace) -> list[str]:
    all_records = load_set(args.faces / "dev", args.cache)
    records = [r for r in all_records if r.has_face]
    people = sorted({r.identity for r in records})
    person_of = np.array([people.index(r.identity) for r in records])
    enc = np.stack([r.encoding for r in records]).astype(np.float64)
    dist = distance_matrix(enc)
    pds = {s: scored(s, enc, enc, person_of, len(people)) for s in (SHIPPED_SCORING, REFERENCE[0])}
    pd = pds[SHIPPED_SCORING]
    shipped = MatchThresholds()
    sa = np.array([r.identity in SOUTH_ASIAN for r in records])
    missing = [r.name for r in all_records if not r.has_face]
    out = ["## Recognition accuracy", "", *environment_lines("benchmarks.accuracy"),
           f"- {len(all_records)} photos of {len({r.identity for r in all_records})} people; a face in "
           f"{len(records)} (HOG upsample 1, then 2; largest face); no face: {', '.join(missing) or 'none'}",
           *defaults_lines(shipped, RecognitionConfig()),
           f"- shipped scoring: Gallery(scoring={SHIPPED_SCORING!r}); reference: {REFERENCE[0]} at "
           f"{REFERENCE[1].accept_distance:.2f} / {REFERENCE[1].min_margin:.2f} (the engine before)", ""]
    out += ["### (a) Verification ROC, all pairs (one photo against one photo)", "",
            "The same for every scoring (a person enrolled with one photo); shipped marks the shipped "
            "accept_distance.", "", *roc_section(dist, person_of, sa, shipped)]
    out += ["", "### (b) closed set 1:N, leave-one-out, and (c) open set, leave-one-identity-out", "",
            "(b): each photo against a gallery with its own person's other photos and everyone else; "
            "(c): each photo against a gallery without its person.", "", *kiosk_section(pds, person_of, shipped)]
    out += ["", "### Thresholds chosen by rule", "", *choice_section(pds, person_of, dist, shipped)]
    out += ["", "### Enrolment photos of the probe's person", "",
            "Every subset of its other photos; other people keep all their photos.", "",
            *enrolment_section(pds, enc, person_of, shipped)]
    out += ["", "### Uncertain band (shipped scoring, accept_distance and min_margin)", "",
            *band_section(pd, person_of, shipped)]
    out += ["", "### Strangers named with the shipped defaults", "",
            *strangers_section(records, people, person_of, pd, shipped), "",
            independence_line(pd, person_of, shipped), ""]
    for scoring, t in ((SHIPPED_SCORING, shipped), REFERENCE):
        disagreements = check_against_matcher(records, people, person_of, pds[scoring], t, scoring)
        out.append(f"Sanity check: biometrics.matcher.match (Gallery scoring={scoring!r}, {t.accept_distance:.2f} / "
                   f"{t.min_margin:.2f}) on every closed-set probe agrees with this benchmark's vectorised decision "
                   f"in {len(records) - disagreements}/{len(records)} cases.")
    if args.variants:
        from benchmarks.recognition_study import variants_section

        out += ["", "### (d) Engine variants (enrolment encodings x scoring)", "",
                *variants_section(records, person_of, len(people), args.cache, shipped)]
    out += ["", "### Quality gates (kiosk.quality defaults)", "", *quality_section(all_records, FaceEncoder(), args.cache)]
    return out


def write_markdown(path: Path, lines: list[str]) -> None:
    """Replace the "## Output: benchmarks.accuracy" section of ``path``, headings one level down."""
    body = [re.sub(r"^(#+) ", r"#\1 ", line) for line in lines[2:]]  # the file has its own title
    text = path.read_text()
    start = text.index("## Output: benchmarks.accuracy")
    end = text.find("\n## ", start + 1)
    section = "## Output: benchmarks.accuracy\n\n" + "\n".join(body).strip() + "\n"
    path.write_text(text[:start] + section + ("\n" + text[end + 1:] if end != -1 else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    faces_dir_arg(parser)
    parser.add_argument("--variants", action="store_true",
                        help="also study other engines (encodes the photos 5 more ways: ~6 min the first time)")
    parser.add_argument("--markdown", type=Path, help="also write the output into this file's Output section")
    parser.add_argument("--calib", action="store_true",
                        help="instead: identify and verify-with-ID curves over 25-800 enrolled people on calib/, "
                             "into BENCHMARKS-accuracy-calib.md and BENCHMARKS.md (~10 min the first time)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.calib:
        return calib_main(args)
    if not require_dir(args.faces / "dev", "dev photos"):
        return 0
    lines = report(args)
    print("\n".join(lines))
    if args.markdown:
        write_markdown(args.markdown, lines)
    return 0


def calib_main(args: argparse.Namespace) -> int:
    """The issue 16 curves on ``calib/``: BENCHMARKS-accuracy-calib.md, then BENCHMARKS.md regathered."""
    from benchmarks import collect
    from benchmarks.calib_report import report as calib_report
    from benchmarks.common import REPO, write_report

    if not require_dir(args.faces / "calib", "calibration photos"):
        return 0
    write_report(REPO / "BENCHMARKS-accuracy-calib.md", calib_report(args))
    return collect.main()


if __name__ == "__main__":
    raise SystemExit(main())
