"""Galleries of a given size drawn from the calibration set, and every probe scored against them.

A trial is one gallery of N enrolled people (each the mean of their
hub-accepted templates, as ``biometrics.matcher.Gallery`` scores them) and
the probes of one half: every kiosk probe of an enrolled person, scored
leave-one-out (their own photo left out of their mean: "enrolled with all
but one of their photos"), and every stranger of that half. Galleries are
drawn from the half being measured; when N is larger than that half has
people (500 and 800 of ~423), the rest of the gallery is filled with people
of the other half, enrolled but never probed. Tuning never uses the
reporting half at all (its sizes stop at what the tuning half holds).
"""

from dataclasses import dataclass

import numpy as np

from benchmarks.calib_data import CalibSet
from benchmarks.recognition_protocol import distance_matrix
from biometrics.matcher import template_count_scale

REPORT_SIZES = (25, 100, 225, 500, 800)
TUNE_SIZES = (25, 100, 225, 400)


@dataclass(frozen=True)
class Trial:
    """Probes x gallery people distances of one gallery draw."""

    size: int
    pd: np.ndarray         # (probes, size) distance to each person's mean template; NaN rows: gate refused
    scale: np.ndarray      # (probes, size) biometrics.matcher.template_count_scale of each cell's template count
    own: np.ndarray        # (probes,) the probe's person's column, -1 for strangers
    probe_rows: np.ndarray  # (probes,) row of the probe in the CalibSet
    people: np.ndarray     # (size,) identities of the gallery, in column order
    templates: list[np.ndarray]  # per column: the person's templates (for 1:1 and the matcher check)
    own_template_row: np.ndarray  # (probes,) CalibSet row of the probe's own template to leave out, -1 none
    probe_encodings: np.ndarray   # (probes, 128); NaN rows: gate refused

    @property
    def genuine(self) -> np.ndarray:
        return self.own >= 0

    @property
    def refused(self) -> np.ndarray:
        """The kiosk's gate refused the frame: never named, whatever the rule."""
        return np.isnan(self.pd[:, 0]) if self.pd.shape[1] else np.ones(len(self.own), bool)


def people_of(cs: CalibSet, half: str) -> list[str]:
    """Identities of ``half`` with at least two hub-accepted templates (enrolled with all but one)."""
    ok = cs.has_template & ~cs.stranger & (cs.half == half)
    names, counts = np.unique(cs.identity[ok], return_counts=True)
    return sorted(names[counts >= 2].tolist())


def make_trial(cs: CalibSet, gallery: list[str], probed: set[str], half: str) -> Trial:
    """Score the probes of ``probed`` people and of ``half``'s strangers against ``gallery``."""
    column = {p: k for k, p in enumerate(gallery)}
    rows_of = {p: np.flatnonzero((cs.identity == p) & cs.has_template & ~cs.stranger) for p in gallery}
    sums = np.stack([cs.template[rows_of[p]].sum(axis=0) for p in gallery])
    counts = np.array([len(rows_of[p]) for p in gallery], float)
    genuine = np.flatnonzero(~cs.stranger & np.isin(cs.identity, sorted(probed)))
    strangers = np.flatnonzero(cs.stranger & (cs.half == half))
    rows = np.concatenate([genuine, strangers])
    own = np.array([column[cs.identity[i]] for i in genuine] + [-1] * len(strangers), dtype=int)
    probes = cs.probe[rows]
    pd = distance_matrix(np.nan_to_num(probes), sums / counts[:, None])
    own_row = np.full(len(rows), -1)
    scale = np.tile(template_count_scale(counts), (len(rows), 1))
    for j in np.flatnonzero(own >= 0):
        i, k = rows[j], own[j]
        if cs.has_template[i]:  # leave the probe's own photo out of its person's mean
            own_row[j] = i
            rest = counts[k] - 1
            pd[j, k] = np.linalg.norm(probes[j] - (sums[k] - cs.template[i]) / rest) if rest else np.inf
            scale[j, k] = template_count_scale(np.array([rest]))[0]
    pd[np.isnan(probes[:, 0])] = np.nan
    keep = ~((own >= 0) & np.isinf(pd[np.arange(len(rows)), np.maximum(own, 0)]))
    return Trial(len(gallery), pd[keep], scale[keep], own[keep], rows[keep], np.array(gallery),
                 [cs.template[rows_of[p]] for p in gallery], own_row[keep], probes[keep])


def draws(size: int, own_people: list[str], other_people: list[str], seed: int) -> list[tuple[list[str], set[str]]]:
    """(gallery, probed people) per draw: a partition of ``own_people`` into galleries of ``size`` when it fits
    several times (each person probed once), else all of them plus fillers from ``other_people``."""
    rng = np.random.default_rng(seed)
    mine = [own_people[i] for i in rng.permutation(len(own_people))]
    if size <= len(mine) // 2:
        return [(mine[k * size:(k + 1) * size], set(mine[k * size:(k + 1) * size]))
                for k in range(len(mine) // size)]
    if size <= len(mine):
        second = [mine[i] for i in rng.permutation(len(mine))][:size]
        return [(mine[:size], set(mine[:size])), (second, set(second) - set(mine[:size]))]
    out = []
    for _ in range(3):
        fill = [other_people[i] for i in rng.permutation(len(other_people))[:size - len(mine)]]
        out.append((mine + fill, set(mine)))
    return out


def trials(cs: CalibSet, half: str, size: int, seed: int = 16) -> list[Trial]:
    """The gallery draws of ``size`` for measuring ``half`` (fillers from the other half when needed)."""
    other = "report" if half == "tune" else "tune"
    mine = people_of(cs, half)
    if half == "tune" and size > len(mine):
        raise ValueError(f"tuning uses the tuning half only: {size} > {len(mine)} people")
    return [make_trial(cs, g, probed, half) for g, probed in draws(size, mine, people_of(cs, other), seed + size)]
