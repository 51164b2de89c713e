"""Identify and verify-with-ID curves over gallery size on the calibration set (issue 16).

Run through ``python -m benchmarks.accuracy --calib``. What is measured is
what ships: templates from the hub's enrolment path, probes from the
kiosk's frame path (``benchmarks.calib_data``), one single frame per
attempt, decided by ``biometrics.matcher`` (its vectorised twin here is
checked against it on every probe of one gallery).

- identify (1:N): per gallery size, genuine named right, wrong person
  named, strangers named, and where the rest went ("look again" vs
  "not recognised"), with 95% Wilson bounds on the pooled counts (photos
  of one person and galleries of one draw are not independent: the bounds
  are floors on the uncertainty);
- verify with ID (1:1, ``biometrics.matcher.verify``): a genuine person
  typing their own staff number, and a stranger typing one: anyone's
  (every stranger x every enrolled person) and, the worst case, the number
  of the enrolled person they look most like, which does grow with N.

Thresholds are chosen on the tuning half by a fixed rule (below) and then
reported on the reporting half, never tuned there.
"""

import math

import numpy as np

from benchmarks.calib_trials import Trial
from benchmarks.common import markdown_table, pct
from benchmarks.recognition_protocol import wilson_lower, wilson_upper
from biometrics.matcher import Gallery, MatchThresholds, match, template_count_scale, verify

ACCEPT, UNCERTAIN, UNKNOWN, REFUSED = 2, 1, 0, -1


SIZE_REF = 25


def accept_for(t: MatchThresholds, n_people: int, slope: float = 0.0) -> float:
    """A candidate rule studied, not shipped: accept ``slope`` closer per tenfold of people beyond 25."""
    return t.accept_distance - slope * math.log10(max(n_people, SIZE_REF) / SIZE_REF)


def decide(trial: Trial, t: MatchThresholds, normalise: bool = True,
           slope: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``biometrics.matcher.match`` for every probe of ``trial`` at once: (codes, best column).

    ``normalise=False`` is the rule before issue 16 (raw centroid distances);
    ``slope`` a gallery-size-aware threshold (``accept_for``).
    """
    order, srt = _top2(trial, normalise)
    k = srt.shape[1]
    best = srt[:, 0]
    with np.errstate(invalid="ignore"):  # inf - inf for probes the gate refused
        margin = srt[:, 1] - best if k > 1 else np.full(len(best), np.inf)
    accept_at = accept_for(t, trial.size, slope)
    ok = (best < accept_at) & (margin >= t.min_margin)
    codes = np.where(ok, ACCEPT, np.where(best < accept_at + t.uncertain_band, UNCERTAIN, UNKNOWN))
    codes[trial.refused] = REFUSED
    return codes, order[:, 0]


_TOP2: dict[tuple[int, bool], tuple[Trial, np.ndarray, np.ndarray]] = {}


def _top2(trial: Trial, normalise: bool) -> tuple[np.ndarray, np.ndarray]:
    """(columns, scores) of the two best people per probe; kept, as thresholds do not change them."""
    hit = _TOP2.get((id(trial), normalise))
    if hit is not None and hit[0] is trial:
        return hit[1], hit[2]
    pd = np.where(np.isnan(trial.pd), np.inf, trial.pd * trial.scale if normalise else trial.pd)
    order = np.argsort(pd, axis=1)[:, :min(pd.shape[1], 2)]
    srt = np.take_along_axis(pd, order, 1)
    _TOP2[(id(trial), normalise)] = (trial, order, srt)
    return order, srt


def tally(ts: list[Trial], t: MatchThresholds, normalise: bool = True, slope: float = 0.0) -> dict[str, int]:
    """Counts over the trials: genuine right / wrong / look again / refused by the gate; strangers likewise."""
    c = dict.fromkeys(("g", "g_right", "g_wrong", "g_again", "g_gate", "s", "s_named", "s_again", "s_gate"), 0)
    for trial in ts:
        codes, best = decide(trial, t, normalise, slope)
        gen = trial.genuine
        c["g"] += int(gen.sum())
        c["g_right"] += int((gen & (codes == ACCEPT) & (best == trial.own)).sum())
        c["g_wrong"] += int((gen & (codes == ACCEPT) & (best != trial.own)).sum())
        c["g_again"] += int((gen & (codes == UNCERTAIN)).sum())
        c["g_gate"] += int((gen & (codes == REFUSED)).sum())
        c["s"] += int((~gen).sum())
        c["s_named"] += int((~gen & (codes == ACCEPT)).sum())
        c["s_again"] += int((~gen & (codes == UNCERTAIN)).sum())
        c["s_gate"] += int((~gen & (codes == REFUSED)).sum())
    return c


def bounded(num: int, den: int, digits: int = 2, lower: bool = False) -> str:
    """``pct`` with the 95% Wilson bound that matters (upper for errors, lower for successes)."""
    if den == 0:
        return "n/a"
    b = wilson_lower(num, den) if lower else wilson_upper(num, den)
    return f"{pct(num, den, digits)} [{'>=' if lower else '<='} {100 * b:.{digits}f}%]"


def identify_table(by_size: dict[int, list[Trial]], t: MatchThresholds, normalise: bool = True) -> str:
    rows = []
    for n, ts in by_size.items():
        c = tally(ts, t, normalise)
        rows.append([f"{n} ({len(ts)})", f"{t.accept_distance:.3f}", bounded(c["g_right"], c["g"], 1, lower=True),
                     bounded(c["g_wrong"], c["g"]), bounded(c["s_named"], c["s"]),
                     pct(c["g_again"], c["g"], 1), pct(c["s_again"], c["s"], 1), pct(c["g_gate"], c["g"], 1)])
    return markdown_table(["enrolled (galleries)", "accept under", "genuine named right [95% lower]",
                           "wrong person named [upper]", "strangers named [upper]", "genuine 'look again'",
                           "strangers 'look again'", "genuine refused by the gate"], rows)


# --- verify with ID (1:1) -------------------------------------------------------------------------------

def verify_distances(trial: Trial, scoring: str = "shipped") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine scores, stranger x every person scores, each stranger's look-alike score) of 1:1 claims.

    ``scoring`` "shipped" is ``biometrics.matcher.verify``'s (the mean template on the one-photo scale);
    "closest" the closest template (the rule before issue 16). A genuine probe's own photo is left out
    of its person. ``verify`` itself is run on the first probes as a check (``verify_agrees``).
    """
    gen_rows = np.flatnonzero(trial.genuine & ~trial.refused)
    str_rows = np.flatnonzero(~trial.genuine & ~trial.refused)
    probes = trial.probe_encodings

    def scores(templates: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Scores of probes ``p`` (m, 128) against one person's ``templates``."""
        if scoring == "closest":
            return np.linalg.norm(templates[None, :, :] - p[:, None, :], axis=2).min(axis=1)
        scale = template_count_scale(np.array([len(templates)]))[0]
        return np.linalg.norm(p - templates.mean(axis=0), axis=1) * scale

    genuine = np.array([scores(_without(trial.templates[trial.own[r]], probes[r]), probes[r][None])[0]
                        for r in gen_rows])
    every = (np.stack([scores(tp, probes[str_rows]) for tp in trial.templates], axis=1)
             if len(str_rows) else np.zeros((0, trial.size)))
    return genuine, every.ravel(), every.min(axis=1) if every.size else np.zeros(0)


def _without(templates: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """The person's templates less the probe's own photo (enrolled with all but one)."""
    return templates[np.linalg.norm(templates - probe, axis=1) > 1e-9]


def verify_agrees(trial: Trial, limit: int = 200) -> tuple[int, int]:
    """(agreements, checks): ``biometrics.matcher.verify`` against ``verify_distances`` on real probes."""
    genuine, every, _ = verify_distances(trial)
    gen_rows = np.flatnonzero(trial.genuine & ~trial.refused)[:limit]
    agree = sum(abs(verify(_without(trial.templates[trial.own[r]], trial.probe_encodings[r]),
                           trial.probe_encodings[r], 0.5)[1] - genuine[j]) < 1e-4
                for j, r in enumerate(gen_rows))
    return agree, len(gen_rows)


def verify_rows(by_size: dict[int, list[Trial]], threshold: float, scoring: str = "shipped") -> list[list[str]]:
    rows = []
    for n, ts in by_size.items():
        g = s_any = n_any = s_look = n_look = gate = total = 0
        for trial in ts:
            genuine, anyone, lookalike = verify_distances(trial, scoring)
            total += int(trial.genuine.sum())
            gate += int((trial.genuine & trial.refused).sum())
            g += int((genuine < threshold).sum())
            s_any += int((anyone < threshold).sum())
            n_any += len(anyone)
            s_look += int((lookalike < threshold).sum())
            n_look += len(lookalike)
        rows.append([f"{n} ({len(ts)})", bounded(g, total, 1, lower=True), bounded(s_any, n_any, 3),
                     bounded(s_look, n_look, 2), pct(gate, total, 1)])
    return rows


def verify_table(by_size: dict[int, list[Trial]], threshold: float, scoring: str = "shipped") -> str:
    return markdown_table(["enrolled (galleries)", "genuine accepted [95% lower]",
                           "stranger typing anyone's number accepted [upper]",
                           "stranger typing the look-alike's number accepted [upper]",
                           "genuine refused by the gate"], verify_rows(by_size, threshold, scoring))


def matcher_agrees(trial: Trial, t: MatchThresholds) -> tuple[int, int]:
    """(agreements, probes): ``biometrics.matcher.match`` on real galleries against ``decide``."""
    codes, best = decide(trial, t)
    names = {ACCEPT: "accept", UNCERTAIN: "uncertain", UNKNOWN: "unknown"}
    people = {str(p): list(tp) for p, tp in zip(trial.people, trial.templates)}
    full = Gallery(people)
    agree = n = 0
    for j in np.flatnonzero(~trial.refused):
        gallery = full
        if trial.own_template_row[j] >= 0:  # leave the probe's own photo out of its person
            own = str(trial.people[trial.own[j]])
            kept = [x for x in people[own] if np.linalg.norm(x - trial.probe_encodings[j]) > 1e-9]
            gallery = Gallery({**people, own: kept})
        r = match(gallery, trial.probe_encodings[j], t)
        agree += r.decision == names[int(codes[j])] and r.best_id == str(trial.people[best[j]])
        n += 1
    return agree, n
