"""The leave-one-out protocol of the recognition benchmarks, vectorised.

Per probe photo, the distance to each person of the dev set as a gallery
would score them (``scored``): their closest template, or their mean
template, the probe's own photo always left out. On that (probes x people)
matrix, ``decide`` is ``biometrics.matcher.match`` for all probes at once,
``closed_set`` counts the kiosk's answers for enrolled people and
``open_set`` for people who are not enrolled. Shared by
``benchmarks.accuracy`` and ``benchmarks.recognition_study``.
"""

import itertools
import math
from typing import Callable

import numpy as np

from benchmarks.common import FaceRecord, pct
from biometrics.matcher import Gallery, MatchThresholds, match, template_count_scale


def distance_matrix(enc: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of ``enc`` and of ``other`` (default: ``enc``)."""
    other = enc if other is None else other
    d2 = np.einsum("ij,ij->i", enc, enc)[:, None] + np.einsum("ij,ij->i", other, other)[None, :] - 2.0 * enc @ other.T
    return np.sqrt(np.maximum(d2, 0.0))


def person_distances(dist: np.ndarray, person_of: np.ndarray, n_people: int) -> np.ndarray:
    """(n, n_people): closest template of each person, the probe's own photo excluded."""
    d = dist.copy()
    np.fill_diagonal(d, np.inf)
    out = np.full((d.shape[0], n_people), np.inf)
    for k in range(n_people):
        out[:, k] = d[:, person_of == k].min(axis=1)
    return out


def centroid_distances(probes: np.ndarray, templates: np.ndarray, person_of: np.ndarray,
                       n_people: int) -> np.ndarray:
    """(n, n_people): score of probe i for each person's mean template, template i left out.

    Scores as ``biometrics.matcher.Gallery`` makes them: the distance to the mean on the one-photo
    scale (``template_count_scale``, issue 16).

    ``probes[i]`` and ``templates[i]`` are two encodings of photo i (the same
    array unless enrolment encodes differently); the probe's own person is
    averaged over their *other* photos (inf when they have none).
    """
    sums = np.zeros((n_people, templates.shape[1]))
    np.add.at(sums, person_of, templates)
    counts = np.bincount(person_of, minlength=n_people).astype(float)
    out = distance_matrix(probes, sums / counts[:, None]) * template_count_scale(counts)[None, :]
    rows = np.arange(len(person_of))
    own_n = counts[person_of] - 1
    own = (sums[person_of] - templates) / np.maximum(own_n, 1)[:, None]
    own_d = np.linalg.norm(probes - own, axis=1) * template_count_scale(own_n)
    out[rows, person_of] = np.where(own_n > 0, own_d, np.inf)
    return out


def scored(scoring: str, probes: np.ndarray, templates: np.ndarray, person_of: np.ndarray,
           n_people: int) -> np.ndarray:
    """Leave-one-out person distances (n, n_people) under ``scoring`` ("centroid" or "closest")."""
    if scoring == "centroid":
        return centroid_distances(probes, templates, person_of, n_people)
    if scoring == "closest":
        return person_distances(distance_matrix(probes, templates), person_of, n_people)
    raise ValueError(f"unknown scoring {scoring!r}")


def subset_scorer(scoring: str, probes: np.ndarray, templates: np.ndarray) -> Callable[[int, list[int]], float]:
    """Distance of probe i to a person enrolled with the photos ``subset`` only."""
    if scoring == "centroid":
        return lambda i, subset: float(np.linalg.norm(probes[i] - templates[subset].mean(axis=0)))
    return lambda i, subset: float(np.linalg.norm(templates[subset] - probes[i], axis=1).min())


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


def wilson_upper(num: int, den: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson interval of ``num/den`` (pairs are not independent: a floor, not a bound)."""
    if den == 0:
        return float("nan")
    p = num / den
    centre = p + z * z / (2 * den)
    spread = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den))
    return (centre + spread) / (1 + z * z / den)


def wilson_lower(num: int, den: int, z: float = 1.96) -> float:
    """Lower end of the 95% Wilson interval of ``num/den``."""
    return 1.0 - wilson_upper(den - num, den, z)


def impostor_accepts(pd: np.ndarray, person_of: np.ndarray, accept_distance: float) -> tuple[int, int]:
    """(probe, other enrolled person) comparisons under ``accept_distance``, and how many there are.

    The engine's own false-accept rate: each probe against each other
    person as the gallery scores them (before the margin test).
    """
    imp = np.ones(pd.shape, bool)
    imp[np.arange(len(person_of)), person_of] = False
    imp &= np.isfinite(pd)
    return int((pd[imp] < accept_distance).sum()), int(imp.sum())


def pair_distances(dist: np.ndarray, person_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) distances over all pairs i < j, each sorted."""
    iu = np.triu_indices(dist.shape[0], 1)
    d, same = dist[iu], person_of[iu[0]] == person_of[iu[1]]
    return np.sort(d[same]), np.sort(d[~same])


def operating_points(genuine: np.ndarray, impostor: np.ndarray, max_far: float, min_gar: float) -> list[str]:
    """Where the pair ROC crosses the targets: the best GAR at FAR <= max_far, the FAR at GAR >= min_gar."""
    allowed = int(math.floor(max_far * len(impostor)))  # false accepts allowed
    t_far = float(impostor[allowed]) if allowed < len(impostor) else float("inf")  # accept below this
    gar_at = int((genuine < t_far).sum())
    need = int(math.ceil(min_gar * len(genuine)))
    t_gar = float(np.nextafter(genuine[need - 1], np.inf))
    far_at = int((impostor < t_gar).sum())
    return [
        f"- FAR <= {100 * max_far:g}% allows accepting below {t_far:.3f}; genuine pairs accepted there: "
        f"{pct(gar_at, len(genuine), 1)}",
        f"- GAR >= {100 * min_gar:g}% needs accepting below {t_gar:.3f}; impostor pairs accepted there: "
        f"{pct(far_at, len(impostor), 3)}",
    ]


def enrolment_size(pd_rows: np.ndarray, score: Callable[[int, list[int]], float], person_of: np.ndarray,
                   t: MatchThresholds, k: int) -> tuple[int, int, int]:
    """Closed set with only ``k`` of the probe's person's other photos enrolled, every k-subset tried.

    Returns (genuine accepts, wrong-person accepts, probes x subsets); other people keep all photos.
    """
    correct = wrong = total = 0
    for i in range(len(person_of)):
        own = person_of[i]
        others = [j for j in np.flatnonzero(person_of == own) if j != i]
        if len(others) < k:
            continue
        row = pd_rows[i].copy()
        for subset in itertools.combinations(others, k):
            row[own] = score(i, list(subset))
            codes, best = decide(row[None, :], t)
            total += 1
            correct += int(codes[0] == 2 and best[0] == own)
            wrong += int(codes[0] == 2 and best[0] != own)
    return correct, wrong, total


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
                          pd: np.ndarray, t: MatchThresholds, scoring: str) -> int:
    """Run ``biometrics.matcher.match`` on the closed-set probes; return disagreements with ``decide``."""
    codes, best = decide(pd, t)
    names = {2: "accept", 1: "uncertain", 0: "unknown"}
    disagreements = 0
    for i, r in enumerate(records):
        gallery = Gallery({p: [x.encoding for j, x in enumerate(records) if person_of[j] == k and j != i]
                           for k, p in enumerate(people)}, scoring=scoring)
        result = match(gallery, r.encoding, t)
        disagreements += result.decision != names[int(codes[i])] or result.best_id != people[int(best[i])]
    return disagreements


class Outcomes:
    """Per-probe results of one threshold setting: what the kiosk would do with each dev photo."""

    def __init__(self, pd: np.ndarray, person_of: np.ndarray, t: MatchThresholds) -> None:
        rows = np.arange(len(person_of))
        self.enrolled = np.isfinite(pd[rows, person_of])  # the probe's person has other photos
        codes, best = decide(pd, t)
        accepted = self.enrolled & (codes == 2)
        self.correct = accepted & (best == person_of)
        self.wrong = accepted & (best != person_of)
        stranger = pd.copy()
        stranger[rows, person_of] = np.inf
        self.named = decide(stranger, t)[0] == 2
        self.false_accepts = (stranger < t.accept_distance).sum(axis=1)  # other people under accept
        self.comparisons = np.isfinite(stranger).sum(axis=1)

    def rates(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Counts over the probes in ``mask`` (all by default)."""
        m = np.ones(len(self.correct), bool) if mask is None else mask
        return {"correct": int(self.correct[m].sum()), "wrong": int(self.wrong[m].sum()),
                "n": int((self.enrolled & m).sum()), "named": int(self.named[m].sum()), "probes": int(m.sum()),
                "fa": int(self.false_accepts[m].sum()), "comparisons": int(self.comparisons[m].sum())}


def meets_target(r: dict[str, int], min_gar: float, max_far: float) -> bool:
    return r["n"] > 0 and r["correct"] >= min_gar * r["n"] and r["fa"] <= max_far * r["comparisons"]


def lowest_risk(grid: dict[tuple[float, float], Outcomes], min_gar: float, max_far: float,
                mask: np.ndarray | None = None) -> tuple[float, float] | None:
    """The (accept, margin) meeting both targets that names the fewest strangers.

    Then the fewest wrong people, the fewest impostor comparisons under the
    accept distance, the most genuine accepts, the larger margin: a fixed
    rule, so the defaults are not picked by looking at who was named.
    """
    best = None
    for (a, m), outcomes in grid.items():
        r = outcomes.rates(mask)
        if not meets_target(r, min_gar, max_far):
            continue
        key = (r["named"], r["wrong"], r["fa"], -r["correct"], -m, a)
        if best is None or key < best[0]:
            best = (key, (a, m))
    return None if best is None else best[1]


def outcome_grid(pd: np.ndarray, person_of: np.ndarray, accepts: list[float], margins: list[float],
                 band: float) -> dict[tuple[float, float], Outcomes]:
    return {(a, m): Outcomes(pd, person_of, MatchThresholds(a, m, band)) for a in accepts for m in margins}


def held_out_check(grid: dict[tuple[float, float], Outcomes], person_of: np.ndarray, min_gar: float,
                   max_far: float, splits: int = 300, seed: int = 6) -> dict[str, float]:
    """Choose thresholds on half of the people by ``lowest_risk``, measure them on the other half.

    The honest version of tuning on the same photos one reports: the mean
    held-out rates over ``splits`` random halves of the identities.
    """
    rng = np.random.default_rng(seed)
    people = np.unique(person_of)
    gar, wrong, named, far, met = [], [], [], [], 0
    found = 0
    for _ in range(splits):
        tune = np.isin(person_of, rng.permutation(people)[: len(people) // 2])
        chosen = lowest_risk(grid, min_gar, max_far, tune)
        if chosen is None:
            continue
        found += 1
        r = grid[chosen].rates(~tune)
        gar.append(r["correct"] / r["n"])
        wrong.append(r["wrong"] / r["n"])
        named.append(r["named"] / r["probes"])
        far.append(r["fa"] / r["comparisons"])
        met += meets_target(r, min_gar, max_far)
    return {"splits": splits, "found": found, "gar": float(np.mean(gar)), "wrong": float(np.mean(wrong)),
            "named": float(np.mean(named)), "far": float(np.mean(far)), "met": met / max(found, 1)}
