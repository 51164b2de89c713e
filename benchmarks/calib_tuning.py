"""How the shipped open-set settings are chosen: a fixed rule applied to the tuning half only.

Targets (issue 16, single frames): strangers named <= 0.1% with 25 people
enrolled and <= 0.5% with 500; between and beyond, the allowed rate is
interpolated in log(people) (0.25% at 100, 0.38% at 225, 0.46% at 400).
Among accept distance x size slope x margin, the settings that keep the
tuning half's strangers named under that line at every tuning size
(25, 100, 225, 400 people), then the most genuine probes named right
(pooled over the sizes), then the fewest wrong people, then the fewest
strangers named, then the larger margin. The 1:1 (verify with ID)
threshold: the largest that keeps strangers typing anyone's staff number
under 0.05% on the tuning half (95% upper bound); the phone's,
the largest that accepts strangers no more often than its previous rule.
"""

import itertools
import math

import numpy as np

from benchmarks.calib_curves import tally, verify_distances
from benchmarks.calib_data import CalibSet
from benchmarks.calib_trials import Trial, people_of
from benchmarks.recognition_protocol import wilson_upper
from biometrics.matcher import MatchThresholds, template_count_scale

ACCEPTS = [round(0.38 + 0.01 * i, 2) for i in range(23)]
SLOPES = [round(0.01 * i, 2) for i in range(9)]
MARGINS = [0.0, 0.02, 0.03, 0.05, 0.08]
VERIFY_GRID = [round(0.40 + 0.005 * i, 3) for i in range(41)]
VERIFY_TARGET = 0.0005


def stranger_target(n_people: int) -> float:
    """The allowed share of strangers named: 0.1% at 25 people, 0.5% at 500, linear in log(people)."""
    x = (math.log(n_people) - math.log(25)) / (math.log(500) - math.log(25))
    return 0.001 + 0.004 * x


def choose_identify(by_size: dict[int, list[Trial]], band: float,
                    normalise: bool = True) -> tuple[tuple[MatchThresholds, float] | None, int]:
    """The rule's choice on ``by_size`` (tuning half): (thresholds, size slope), and how many settings met
    the stranger line."""
    best, met = None, 0
    for a, slope, m in itertools.product(ACCEPTS, SLOPES, MARGINS):
        t = MatchThresholds(a, m, band)
        counts = {n: tally(ts, t, normalise, slope) for n, ts in by_size.items()}
        if any(c["s_named"] > stranger_target(n) * c["s"] for n, c in counts.items()):
            continue
        met += 1
        right = sum(c["g_right"] for c in counts.values())
        wrong = sum(c["g_wrong"] for c in counts.values())
        named = sum(c["s_named"] for c in counts.values())
        key = (-right, wrong, named, -m, slope)
        if best is None or key < best[0]:
            best = (key, (t, slope))
    return (best[1] if best else None), met


def choose_verify(trials_: list[Trial]) -> float | None:
    """The largest 1:1 threshold whose strangers-typing-anyone's-number rate stays under ``VERIFY_TARGET``
    with 95% confidence (Wilson upper bound) on ``trials_`` (tuning half)."""
    anyone = np.concatenate([verify_distances(t)[1] for t in trials_])
    ok = [v for v in VERIFY_GRID if wilson_upper(int((anyone < v).sum()), len(anyone)) <= VERIFY_TARGET]
    return max(ok) if ok else None


def choose_phone(trials_: list[Trial], before: float = 0.50) -> float | None:
    """The largest 1:1 threshold that accepts strangers no more often than the closest template at
    ``before`` (the phone's previous rule) on ``trials_`` (tuning half)."""
    old = np.concatenate([verify_distances(t, scoring="closest")[1] for t in trials_])
    anyone = np.concatenate([verify_distances(t)[1] for t in trials_])
    allowed = (old < before).mean()
    ok = [v for v in VERIFY_GRID if (anyone < v).mean() <= allowed]
    return max(ok) if ok else None


FAR_QUANTILES = (1e-4, 3e-4, 1e-3)


def far_by_template_count(cs: CalibSet, half: str = "tune") -> list[list[str]]:
    """Per number of photos averaged (k = 1-4), the raw distance under which 0.01 / 0.03 / 0.1% of
    (stranger, enrolled person) comparisons fall, and its ratio to k = 1: what the template-count scale
    must undo. Each person contributes disjoint runs of k of their accepted photos; no genuine probe is
    involved, so the leave-one-out protocol's k-1 photos do not enter."""
    strangers = cs.probe[cs.stranger & (cs.half == half) & cs.has_probe]
    rows_of = {p: np.flatnonzero((cs.identity == p) & cs.has_template & ~cs.stranger) for p in people_of(cs, half)}
    rows, base = [], None
    for k in (1, 2, 3, 4):
        means = np.array([cs.template[r[i:i + k]].mean(axis=0) for r in rows_of.values()
                          for i in range(0, len(r) - k + 1, k)])
        d = np.linalg.norm(strangers[:, None, :] - means[None], axis=2).ravel()
        q = np.quantile(d, FAR_QUANTILES)
        base = q if base is None else base
        rows.append([str(k), str(len(means)), " / ".join(f"{v:.3f}" for v in q),
                     " / ".join(f"{b / v:.3f}" for b, v in zip(base, q)),
                     f"{template_count_scale(np.array([k]))[0]:.3f}"])
    return rows
