"""Open-set 1:N matching of a face encoding against a gallery.

A gallery holds one or more templates per person. By default a person is
scored by the distance to the *mean* of their templates (their centroid):
averaging several enrolment photos cancels much of what one photo has of
its own (pose, light, expression), so a new photo of the same person lands
closer to the centroid than to most single photos, while a stranger gains
less. On the dev photos this accepts 97.1% of genuine probes at 0.49
against 93.3% for the closest template at 0.50, and names fewer strangers
(BENCHMARKS-accuracy.md). It also makes a gallery one row per person, so a
probe is compared with N people in one N x 128 float32 product.

The answer is a name only when the best person is under the accept distance
*and* clearly better than the runner-up (margin): naming a stranger is worse
than asking someone to look again.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

Decision = Literal["accept", "uncertain", "unknown"]
# "centroid": distance to the mean of the person's templates (the kiosk's scoring);
# "closest": distance to their closest template (1:1 selfie checks; the old 1:N scoring).
Scoring = Literal["centroid", "closest"]


@dataclass(frozen=True)
class MatchThresholds:
    """The open-set rule's settings; defaults measured for centroid scoring (benchmarks/accuracy.py).

    The more people enrolled, the more likely a stranger lands near one of
    them by chance, so the accept distance can tighten with the gallery's
    size (``accept_for``); and a probe close to several people at once is
    more likely a face that resembles many than one of them, so the best
    can be required to stand out from the ``cohort_k`` people after it.
    """

    accept_distance: float = 0.49
    min_margin: float = 0.05
    uncertain_band: float = 0.08  # up to accept + band: "look again", not "unknown"
    size_ref: int = 25            # galleries of up to this many people accept under accept_distance itself
    size_slope: float = 0.0       # per tenfold of people beyond size_ref, accept only this much closer
    cohort_k: int = 0             # 0: off; else the best must beat the mean of the next k people by...
    min_cohort_gap: float = 0.0   # ...this much

    def accept_for(self, n_people: int) -> float:
        """The accept distance for a gallery of ``n_people``."""
        if n_people <= self.size_ref or not self.size_slope:
            return self.accept_distance
        return self.accept_distance - self.size_slope * math.log10(n_people / self.size_ref)


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    employee_id: str | None  # set only when decision == "accept"
    best_id: str | None       # the closest person, whatever the decision
    distance: float           # to best_id; inf for an empty gallery
    margin: float | None      # second-best person's distance minus best; None with one person


class Gallery:
    """Immutable set of people, in the order of ``person_ids``.

    With centroid scoring ``matrix`` has one row per person (the mean of
    their templates); with closest scoring one row per template, grouped by
    person so per-person minima are one ``reduceat``.
    """

    def __init__(self, people: Mapping[str, Sequence[np.ndarray]], version: int = 0,
                 scoring: Scoring = "centroid") -> None:
        self.version = version
        self.scoring: Scoring = scoring
        ids: list[str] = []
        rows: list[np.ndarray] = []
        starts: list[int] = []
        for employee_id, templates in people.items():
            if len(templates) == 0:
                continue
            starts.append(len(rows))
            ids.append(employee_id)
            rows.extend(np.asarray(t, dtype=np.float32).reshape(128) for t in templates)
        self.person_ids: list[str] = ids
        self._template_count = len(rows)
        self._starts = np.asarray(starts, dtype=np.intp)
        templates = np.vstack(rows) if rows else np.zeros((0, 128), np.float32)
        if scoring == "centroid" and len(rows) > len(ids):
            counts = np.diff(np.append(self._starts, len(rows))).astype(np.float32)
            templates = np.add.reduceat(templates, self._starts, axis=0) / counts[:, None]
        elif scoring not in ("centroid", "closest"):
            raise ValueError(f"unknown scoring {scoring!r}")
        # Column-major: ``matrix @ probe`` then runs as a column-streaming gemv,
        # markedly faster than over row-major rows (BENCHMARKS-hardware.md).
        self.matrix = np.asfortranarray(templates, dtype=np.float32)
        self._sq_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self._one_row_per_person = self.matrix.shape[0] == len(ids)

    def __len__(self) -> int:
        return len(self.person_ids)

    @property
    def template_count(self) -> int:
        """Templates enrolled, whatever the scoring."""
        return self._template_count

    @property
    def row_count(self) -> int:
        """Rows scanned per probe: people (centroid) or templates (closest)."""
        return self.matrix.shape[0]

    def person_distances(self, probe: np.ndarray) -> np.ndarray:
        """Euclidean distance from ``probe`` to each person (their centroid or closest template)."""
        if not self.person_ids:
            return np.zeros(0, np.float32)
        p = np.asarray(probe, dtype=np.float32).reshape(128)
        sq = self.matrix @ p  # |t - p|^2 = |t|^2 - 2 t.p + |p|^2, in place on one buffer
        sq *= -2.0
        sq += self._sq_norms
        sq += p @ p
        if not self._one_row_per_person:
            sq = np.minimum.reduceat(sq, self._starts)  # sqrt is monotonic: take minima first
        np.maximum(sq, 0.0, out=sq)
        return np.sqrt(sq, out=sq)


def match(gallery: Gallery, probe: np.ndarray, thresholds: MatchThresholds) -> MatchResult:
    """Decide who ``probe`` is, if anyone (open set)."""
    dists = gallery.person_distances(probe)
    if dists.size == 0:
        return MatchResult("unknown", None, None, float("inf"), None)
    k = min(dists.size, max(2, thresholds.cohort_k + 1))
    nearest = np.argpartition(dists, k - 1)[:k] if k < dists.size else np.arange(dists.size)
    nearest = nearest[np.argsort(dists[nearest], kind="stable")][:k]
    best_i = int(nearest[0])
    margin = float(dists[nearest[1]] - dists[best_i]) if dists.size > 1 else None
    best = float(dists[best_i])
    best_id = gallery.person_ids[best_i]
    accept_at = thresholds.accept_for(len(gallery))
    clear = margin is None or margin >= thresholds.min_margin
    if thresholds.cohort_k and dists.size > thresholds.cohort_k:
        clear = clear and float(dists[nearest[1:]].mean()) - best >= thresholds.min_cohort_gap
    if best < accept_at and clear:
        return MatchResult("accept", best_id, best_id, best, margin)
    if best < accept_at + thresholds.uncertain_band:
        return MatchResult("uncertain", None, best_id, best, margin)
    return MatchResult("unknown", None, best_id, best, margin)


def verify(templates: Iterable[np.ndarray], probe: np.ndarray, accept_distance: float) -> tuple[bool, float]:
    """1:1 check of ``probe`` against one person's templates (phone selfies).

    Scored by the closest template: the phone's ``accept_distance`` is
    documented and was chosen for that scoring (hub/phone/config.py).
    """
    gallery = Gallery({"_": list(templates)}, scoring="closest")
    if not len(gallery):
        return False, float("inf")
    distance = float(gallery.person_distances(probe)[0])
    return distance < accept_distance, distance
