"""``python -m benchmarks.liveness --forgeries``: the forgery table per mode and the genuine video.

Writes ``BENCHMARKS-liveness.md`` and gathers it into BENCHMARKS.md
(``benchmarks.collect``). A run builds and landmarks 10 forgery sequences of
60 frames per person through the kiosk path (seconds each on two busy shared
cores; ``--max-minutes`` caps it between people); the landmarks and pixel
cues are cached under ``~/.cache/face-attendance/liveness``, so a rerun takes
a few minutes (the pixels of each sequence are rebuilt only when the pixel
cues change). Each run is recorded in ``benchmarks/forgery_runs.json`` by
its people set (``--people-set report``: every 20th calib person;
``others``: the rest, in a fixed order), and the table pools every recorded
run on disjoint people under the current settings (``benchmarks.forgery_runs``).
"""

import logging
import time
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np

from benchmarks import collect
from benchmarks.common import REPO, environment_lines, load_set, markdown_table, pct, write_report
from benchmarks.forgeries import FACE_PX, FAMILIES, FRAMES
from benchmarks import forgery_runs
from benchmarks.forgery_suite import (BEFORE, COLUMNS, CUES_VERSION, family_table, iter_photos, photos, reasons_line,
                                      run_families, summary_rate, upper95)
from benchmarks.genuine_video import WINDOW_S, run_window, video_track, whole_video_blinks, windows
from benchmarks.liveness_frames import CACHE, FPS, VIDEO_BLINKS_S
from benchmarks.texture_cue import texture_lines
from biometrics.encoder import FaceEncoder
from kiosk.liveness import LivenessConfig

log = logging.getLogger(__name__)

OUT = REPO / "BENCHMARKS-liveness.md"


SET_LABELS = {"report": "every 20th `calib/people` person",
              "others": "other `calib/people` people (seeded shuffle, none of the every-20th)"}


def run_name(which: str, offset: int) -> str:
    """The run's name in ``forgery_runs.json``: the set, and where in it the run started."""
    return which if offset == 0 else f"{which}@{offset}"


def forgery_lines(faces: Path, which: str, count: int, seed: int, encoder: FaceEncoder,
                  budget_s: float | None = None, offset: int = 0) -> list[str]:
    """Run ``count`` people of set ``which`` after its first ``offset``, record the run, and report the pool.

    Runs at different offsets of one set take different people, so several
    can build at once (one process per core) and still pool.
    """
    default = LivenessConfig().mode
    started = time.perf_counter()
    chosen = islice(iter_photos(faces, which, encoder), offset, offset + count)
    results, reasons, people = run_families(chosen, encoder, seed, budget_s=budget_s)
    current = forgery_runs.fingerprint(seed, CUES_VERSION)
    name = run_name(which, offset)
    label = SET_LABELS[which] + (f", from its person {offset + 1} on" if offset else "")
    run = {"name": name, "set": label, "people": people, "fingerprint": current,
           "counts": forgery_runs.counts(results), "reasons": reasons,
           "seconds": round(time.perf_counter() - started), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    before = next((r for r in forgery_runs.load() if r["name"] == name), None)
    if before and before["people"] == people and before["fingerprint"] == current:
        # the same sequences again (from the cache): keep what building them cost the first time
        run.update(seconds=before["seconds"], date=before["date"], note=before.get("note", ""))
    forgery_runs.record(run)
    runs = forgery_runs.load()
    pooled, pooled_reasons = forgery_runs.pool(runs, current)
    n = min(c[default][1] for c in pooled.values())
    lines = [f"### Forgeries: {n} unseen people per family, one sequence per person and family\n",
             f"- each sequence {FRAMES} frames at {FPS:g} fps (6 s), 640x480, face ~{FACE_PX} px high, sensor "
             "noise sigma 2 and optical blur on every frame but the injected ones; detection, tracking and "
             "landmarks by `kiosk.pipeline.FrameAnalyzer`'s own path; the checker gets the pixel cues too",
             "- settings tuned on 15 `dev` people only (`python -m benchmarks.liveness --forgeries --tune` prints "
             "their table); this table is on `calib/people` people, never used for tuning",
             "- pooled over the runs below (`benchmarks/forgery_runs.json`): disjoint people, the same settings "
             f"and suite (fingerprint `{current}`); runs with another fingerprint are left out",
             "- 95% upper: one-sided Clopper-Pearson bound on the pass rate", ""]
    rows = []
    for r in runs:
        seqs = sum(c[default][1] for c in r["counts"].values())
        rows.append([f"`{r['name']}`: {r['set']}", len(r["people"]), seqs, r["seconds"],
                     f"{r['seconds'] / seqs:.1f}" if seqs else "-", r["date"],
                     "yes" if r["fingerprint"] == current else "no (stale settings)", r.get("note", "")])
    lines.append(markdown_table(["run (`--people-set`)", "people", "sequences", "seconds", "s per sequence",
                                 "date", "pooled", "note"], rows))
    lines += ["", family_table(pooled, default), "", reasons_line(pooled_reasons), ""]
    lines.append(f"- `{BEFORE}`: blink mode with this issue's pixel and eye rules off (`blink_require_rising`, "
                 "`blink_min_lash_ratio`, `min_pixel_change`), i.e. the landmark rules shipped before")
    for mode in COLUMNS:
        k, total = summary_rate(pooled, mode)
        lines.append(f"- {mode}: {pct(k, total)} of all forgery sequences passed")
    need = next(m for m in range(1, 10_000) if upper95(0, m) <= 0.01)
    this = next(r for r in runs if r["name"] == name)
    per_seq = this["seconds"] / max(1, len(this["people"]) * len(FAMILIES))
    missing = max(0, need - n) * len(FAMILIES)
    if n >= need:
        lines.append(f"- target <= 1% per family at 95%: with no pass it needs {need} sequences per family; this "
                     f"pool has {n}, so a family with no pass is shown under 1%")
    else:
        lines.append(f"- target <= 1% per family at 95%: with no pass it needs {need} sequences per family; this "
                     f"pool has {n}. The {missing} sequences missing would take about {missing * per_seq / 3600:.1f} "
                     f"h at this run's {per_seq:.1f} s per sequence (building the frames and the kiosk path's "
                     "landmarks on two shared cores)")
    return lines


def genuine_lines(faces: Path, encoder: FaceEncoder) -> list[str]:
    path = faces / "video" / "blink-1.mp4"
    if not path.is_file():
        return [f"SKIPPED: {path} not found"]
    data = video_track(path, encoder)
    duration = len(data["found"]) / FPS
    ws = windows(duration)
    lines = [f"### Genuine: the real blink video ({duration:.1f} s at {FPS:g} fps, face found on "
             f"{int(data['found'].sum())}/{len(data['found'])} frames)\n",
             f"- windows: {len(ws)} starts (every 0.1 s) of {WINDOW_S:g}-s attempts whose first eye event is a "
             f"blink after >= 1 s of open eyes, with >= 0.6 s of the window after it (blinks at "
             f"{sorted({w.blink_s for w in ws})} s qualify; the rest sit too close to another blink or to the "
             "eyes-down stretches)",
             "- delay: the pass minus the blink's annotated time (the README's, +-0.1 s): the liveness share "
             "of the decision time beyond the person's own reaction to the prompt", ""]
    rows = []
    for label, mode, step in (("blink", "blink", False),
                              ("blink_and_head_turn, its blink step (blink asked first)", "blink_and_head_turn", True)):
        got = [run_window(data, w, LivenessConfig(mode=mode), i, step) for i, w in enumerate(ws)]
        delays = [r.delay_s for r in got if r.passed]
        p50, p95 = (np.percentile(delays, [50, 95]) if delays else (float("nan"),) * 2)
        rows.append([label, pct(sum(r.passed for r in got), len(got), 1), f"{p50:.1f} s", f"{p95:.1f} s"])
    lines.append(markdown_table(["mode", "windows passed", "delay p50", "delay p95"], rows))
    seen = whole_video_blinks(data, LivenessConfig())
    lines += ["", f"- the whole video fed once (blink mode): blinks counted at {', '.join(f'{t:.1f}' for t in seen)} s "
              f"against annotated {', '.join(f'{t:g}' for t in VIDEO_BLINKS_S)} s (the first comes before the "
              "detector has its 0.8-s open-eye baseline); none of the eyes-down stretches counted as a blink "
              "unless listed here",
              f"- pixel stillness on the real video: median face change outside the eyes "
              f"{np.nanmedian(data['still_change']):.2f} grey levels, lowest frame "
              f"{np.nanmin(data['still_change']):.2f} (threshold {LivenessConfig().min_pixel_change:g})",
              "- no genuine head-turn video exists: the turn step, and so the whole default mode, has **no "
              "genuine pass rate measured**; the turn thresholds rest on the dev-photo parallax proxy "
              "(BENCHMARKS-accuracy.md)"]
    return lines


def genuine_scope_lines() -> list[str]:
    """What the genuine side can and cannot measure with the one real video (the issue's >= 95% target)."""
    return [
        "### Which genuine measurement is possible here",
        "",
        "- `../shared/faces/video/` holds one real video: one person, blinking, no head turn. So the genuine "
        "rate above is the **blink step only**: windows of that video in blink mode, and in the default mode "
        "with the blink asked first, up to the moment the turn is asked.",
        "- The default mode `blink_and_head_turn` as a whole (blink and turn, random order) has **no genuine "
        "pass rate**: no real head-turn video exists, so the issue's target (>= 95% of windows that contain "
        "the asked action) is measured for the blink and not at all for the turn. The turn's thresholds rest on "
        "the dev-photo parallax proxy (`python -m benchmarks.liveness`, section (c)), pairs of *different* "
        "photos of a person, not a turning head.",
        "- One person and 9 windows bound nothing about other people (glasses, lighting, age, eye shape); a "
        "few dozen staff filmed blinking and turning at a kiosk would. The IR check below has no genuine (or "
        "attack) measurement at all.",
    ]


def ir_lines() -> list[str]:
    """The optional infrared check: what exists and what was not measured."""
    return [
        "### Infrared (optional, `liveness.ir`): not measured",
        "",
        "- `kiosk/liveness/ir.py` refuses a face that is dark in the 850 nm frame (a screen emits no IR) or "
        "flat (most inks are transparent at 850 nm, so a print shows blank paper), and withholds a pass "
        "without corneal glints of the illuminator; `hardware/ir_camera.py` pairs a NoIR camera with the "
        "colour one (hardware/README.md).",
        "- There is **no IR picture** of a face, a print or a screen here, so none of its thresholds "
        "(`min_face_level` 60, `min_relief` 0.08, the glint levels and share) is measured: they are physical "
        "reasoning to be checked on the hardware, and no pass rate in this file includes the IR check. The "
        "tests (tests/test_liveness_ir.py, tests/test_hw_ir_camera.py) use synthetic non-face IR frames and "
        "check the plumbing and the thresholds' arithmetic only.",
        "- Known limits before any measurement: laser-printed (carbon toner) prints stay dark-on-light in IR "
        "and keep their contrast (only the glint cue is left against them); an IR photograph printed or shown "
        "on an e-ink display, and glasses that hide or fake glints, are untested.",
    ]


def texture_section(faces: Path, encoder: FaceEncoder) -> list[str]:
    root = faces / "antispoof"
    if not root.is_dir():
        return [f"SKIPPED: {root} not found"]
    records = load_set(root, CACHE.parent / "enc", encoder)
    return texture_lines(records, root) + [
        "", "None of these is good enough to gate a punch: at the 0.5 threshold the best still accepts about one "
        "print in six and refuses one live photo in ten, on 15 subjects whose live and spoof photos also differ "
        "in source and size (section (d) of BENCHMARKS-accuracy.md has the confound check). So no texture model "
        "ships; the default mode's defence is the blink-and-turn challenge with the eye and pixel cues."]


def tune(faces: Path, seed: int) -> int:
    """The table on the 15 dev people the settings were tuned on (printed only, never written)."""
    encoder = FaceEncoder()
    results, reasons, _ = run_families(photos(faces, "tune", 15, encoder), encoder, seed)
    print(family_table(forgery_runs.counts(results), LivenessConfig().mode))
    print(reasons_line(reasons))
    return 0


def run(faces: Path, count: int, seed: int, which: str = "report", budget_s: float | None = None,
        offset: int = 0) -> int:
    encoder = FaceEncoder()
    lines = ["## Liveness against forgeries, and on a real person (issue 19)", ""]
    lines += environment_lines("benchmarks.liveness")
    lines += ["", f"Default mode: `{LivenessConfig().mode}`. Families: {', '.join(FAMILIES)} "
              "(`benchmarks/forgeries.py` says how each is built).", ""]
    lines += forgery_lines(faces, which, count, seed, encoder, budget_s, offset)
    lines += [""] + genuine_lines(faces, encoder)
    lines += [""] + genuine_scope_lines()
    lines += [""] + ir_lines()
    lines += ["", "### Texture cues on single photos (antispoof; measured, not shipped)", ""]
    lines += texture_section(faces, encoder)
    write_report(OUT, lines)
    collect.main()
    return 0
