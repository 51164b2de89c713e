"""Open-set 1:N matching of a face encoding against a gallery.

A gallery holds one or more templates per person. A probe is compared with
every template in one vectorised float32 operation; each person's score is
their closest template. The answer is a name only when the best person is
under the accept distance *and* clearly better than the runner-up (margin):
naming a stranger is worse than asking someone to look again.
"""

from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

Decision = Literal["accept", "uncertain", "unknown"]


@dataclass(frozen=True)
class MatchThresholds:
    accept_distance: float = 0.5
    min_margin: float = 0.05
    uncertain_band: float = 0.08  # up to accept + band: "look again", not "unknown"


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    employee_id: str | None  # set only when decision == "accept"
    best_id: str | None       # the closest person, whatever the decision
    distance: float           # to best_id; inf for an empty gallery
    margin: float | None      # second-best person's distance minus best; None with one person


class Gallery:
    """Immutable set of templates: row i of ``matrix`` belongs to ``row_ids[i]``.

    Rows are grouped by person so per-person minima are one ``reduceat``.
    """

    def __init__(self, people: Mapping[str, Sequence[np.ndarray]], version: int = 0) -> None:
        self.version = version
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
        self._starts = np.asarray(starts, dtype=np.intp)
        # Column-major: ``matrix @ probe`` then runs as a column-streaming gemv,
        # markedly faster than over row-major rows (BENCHMARKS-hardware.md).
        self.matrix = np.asfortranarray(np.vstack(rows), dtype=np.float32) if rows else np.zeros((0, 128), np.float32)
        self._sq_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self._one_per_person = len(rows) == len(ids)

    def __len__(self) -> int:
        return len(self.person_ids)

    @property
    def template_count(self) -> int:
        return self.matrix.shape[0]

    def person_distances(self, probe: np.ndarray) -> np.ndarray:
        """Euclidean distance from ``probe`` to each person's closest template."""
        if not self.person_ids:
            return np.zeros(0, np.float32)
        p = np.asarray(probe, dtype=np.float32).reshape(128)
        sq = self.matrix @ p  # |t - p|^2 = |t|^2 - 2 t.p + |p|^2, in place on one buffer
        sq *= -2.0
        sq += self._sq_norms
        sq += p @ p
        if not self._one_per_person:
            sq = np.minimum.reduceat(sq, self._starts)  # sqrt is monotonic: take minima first
        np.maximum(sq, 0.0, out=sq)
        return np.sqrt(sq, out=sq)


def match(gallery: Gallery, probe: np.ndarray, thresholds: MatchThresholds) -> MatchResult:
    """Decide who ``probe`` is, if anyone (open set)."""
    dists = gallery.person_distances(probe)
    if dists.size == 0:
        return MatchResult("unknown", None, None, float("inf"), None)
    if dists.size == 1:
        best_i, margin = 0, None
    else:
        two = np.argpartition(dists, 1)[:2]
        best_i, second_i = (two[0], two[1]) if dists[two[0]] <= dists[two[1]] else (two[1], two[0])
        margin = float(dists[second_i] - dists[best_i])
    best = float(dists[best_i])
    best_id = gallery.person_ids[best_i]
    clear = margin is None or margin >= thresholds.min_margin
    if best < thresholds.accept_distance and clear:
        return MatchResult("accept", best_id, best_id, best, margin)
    if best < thresholds.accept_distance + thresholds.uncertain_band:
        return MatchResult("uncertain", None, best_id, best, margin)
    return MatchResult("unknown", None, best_id, best, margin)


def verify(templates: Iterable[np.ndarray], probe: np.ndarray, accept_distance: float) -> tuple[bool, float]:
    """1:1 check of ``probe`` against one person's templates (phone selfies)."""
    gallery = Gallery({"_": list(templates)})
    if not len(gallery):
        return False, float("inf")
    distance = float(gallery.person_distances(probe)[0])
    return distance < accept_distance, distance
