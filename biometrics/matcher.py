"""Open-set 1:N matching of a face encoding against a gallery.

A gallery holds one or more templates per person. A person is scored by
the distance to the *mean* of their templates (their centroid): averaging
several enrolment photos cancels much of what one photo has of its own
(pose, light, expression), so a new photo of the same person lands closer
to the centroid than to most single photos (BENCHMARKS-accuracy.md). The
mean of several photos also sits closer to every stranger, so the distance
is put on the one-photo scale (``template_count_scale``) and one threshold
carries the same stranger risk for everyone. It also makes a gallery one
row per person, so a probe is compared with N people in one N x 128
float32 product.

The answer is a name only when the best person is under the accept distance
*and* clearly better than the runner-up (margin): naming a stranger is worse
than asking someone to look again. The defaults were chosen by a fixed rule
on one half of the calibration set (846 people, 1,500 strangers) and are
reported on the other half at 25-800 people (BENCHMARKS-accuracy-calib.md).
"""

from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

Decision = Literal["accept", "uncertain", "unknown"]
# "centroid": distance to the mean of the person's templates (the kiosk's scoring);
# "closest": distance to their closest template (1:1 selfie checks; the old 1:N scoring).
Scoring = Literal["centroid", "closest"]


@dataclass(frozen=True)
class MatchThresholds:
    """The open-set rule's settings, chosen on the calibration set's tuning half (BENCHMARKS-accuracy-calib.md).

    ``accept_distance`` applies to a person's *score* (``Gallery.person_scores``:
    the distance to their mean template on the one-photo scale). A threshold
    that tightens with the gallery's size was studied too; with scores on
    one scale the choosing rule picked none (the same threshold met the
    stranger targets from 25 to 400 people).
    """

    accept_distance: float = 0.46
    min_margin: float = 0.08
    uncertain_band: float = 0.08  # up to accept + band: "look again", not "unknown"


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
        counts = np.diff(np.append(self._starts, len(rows))) if ids else np.zeros(0)
        self._score_scale = (template_count_scale(counts) if scoring == "centroid"
                             else np.ones(len(ids))).astype(np.float32)

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

    def person_scores(self, probe: np.ndarray) -> np.ndarray:
        """What ``match`` compares: centroid distances on a common scale (``template_count_scale``);
        closest-template distances as they are."""
        return self.person_distances(probe) * self._score_scale


# Exponent of the template-count scale, measured so that a stranger is as likely to fall
# under one threshold whatever the number of photos a person was enrolled with
# (benchmarks.calib_tuning.far_by_template_count, calibration set, tuning half).
TEMPLATE_COUNT_EXPONENT = 0.2


def template_count_scale(counts: np.ndarray) -> np.ndarray:
    """Per person, what their centroid distance is multiplied by to make their score.

    The mean of k photos sits closer to *every* face, strangers included: on
    the calibration set's tuning half the distance under which 0.03% of
    strangers fall is 0.513 to a single photo but 0.484, 0.476, 0.485 to the
    mean of 2, 3, 4 photos, so one raw threshold lets strangers through
    mostly as the people enrolled with most photos. Scaling by
    (2 / (1 + 1/k)) ** 0.2 (1.06, 1.08, 1.10 for k = 2, 3, 4) puts them back
    on the one-photo scale, so one threshold carries the same stranger risk
    for everyone (BENCHMARKS-accuracy-calib.md).
    """
    k = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    return (2.0 / (1.0 + 1.0 / k)) ** TEMPLATE_COUNT_EXPONENT


def match(gallery: Gallery, probe: np.ndarray, thresholds: MatchThresholds) -> MatchResult:
    """Decide who ``probe`` is, if anyone (open set); ``distance`` and ``margin`` are in score units."""
    scores = gallery.person_scores(probe)
    if scores.size == 0:
        return MatchResult("unknown", None, None, float("inf"), None)
    if scores.size == 1:
        best_i, margin = 0, None
    else:
        two = np.argpartition(scores, 1)[:2]
        best_i, second_i = (two[0], two[1]) if scores[two[0]] <= scores[two[1]] else (two[1], two[0])
        margin = float(scores[second_i] - scores[best_i])
    best = float(scores[best_i])
    best_id = gallery.person_ids[best_i]
    accept_at = thresholds.accept_distance
    clear = margin is None or margin >= thresholds.min_margin
    if best < accept_at and clear:
        return MatchResult("accept", best_id, best_id, best, margin)
    if best < accept_at + thresholds.uncertain_band:
        return MatchResult("uncertain", None, best_id, best, margin)
    return MatchResult("unknown", None, best_id, best, margin)


def verify(templates: Iterable[np.ndarray], probe: np.ndarray, accept_distance: float) -> tuple[bool, float]:
    """1:1 check of ``probe`` against one person's templates: (accepted, score).

    Used for phone selfies and the kiosk's verify-with-ID mode (a staff
    number typed, then the face checked against that person only). Scored
    as ``match`` scores people: the distance to the mean of the templates on
    the one-photo scale (``template_count_scale``). On the calibration set's
    tuning half this accepts 94.5% of genuine attempts at the false-accept
    rate the closest template had at 0.50 (86.8%); see
    ``VERIFY_ACCEPT_DISTANCE`` and ``PHONE_ACCEPT_DISTANCE``.
    """
    gallery = Gallery({"_": list(templates)})
    if not len(gallery):
        return False, float("inf")
    score = float(gallery.person_scores(probe)[0])
    return score < accept_distance, score


# 1:1 accept distances for ``verify``, chosen on the calibration set's tuning half
# (benchmarks.calib_tuning; curves in BENCHMARKS-accuracy-calib.md):
# kiosk verify with ID: the largest whose false accepts (a stranger typing anyone's
# staff number) stay under 0.05% with 95% confidence;
VERIFY_ACCEPT_DISTANCE = 0.525
# phone selfie: the largest that accepts strangers no more often than the closest
# template at 0.50 did (the phone's previous rule).
PHONE_ACCEPT_DISTANCE = 0.515
