"""The kiosk screen and voice: what drawing and speaking cost, to run on the kiosk itself.

Run ``python -m benchmarks.screen [--out BENCHMARKS-screen.md]`` (about half a minute).

Times (median and 90th percentile of wall time, in this process):
(1) ``render_panel``: the text panel of one screen in Hindi and English, done
once per change of screen (fonts already loaded); (2) ``with_camera``: the
panel plus a 640x480 camera frame, mirrored, scaled and boxed, done for each
frame shown (at most ``screen.max_fps``); (3) espeak-ng speaking
"धन्यवाद, <name>, इन 09:14" into a WAV, done on the voice's worker thread
after an accept. The camera loop waits for none of them: they run on the
screen's and the voice's threads.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, environment_lines
from kiosk.screen.fonts import FontBook
from kiosk.screen.preview import preview_states
from kiosk.screen.render import render_panel, with_camera
from kiosk.voice.clips import espeak, synthesise_bytes


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, p90) in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-screen.md")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    fonts = FontBook()
    states = preview_states(name="Ramakrishna Venkatasubramanian Iyer")
    langs = ["hi", "en"]
    for state in states.values():   # load fonts and glyph maps once, as a running kiosk has
        render_panel(state, langs, fonts)
    panel = render_panel(states["accepted"], langs, fonts)
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    rows = []
    for name in ("idle", "blink", "accepted", "refused:not_recognised", "keypad"):
        rows.append((f"text panel: {name}", *timed(lambda s=states[name]: render_panel(s, langs, fonts),
                                                    args.repeat)))
    rows.append(("panel + 640x480 camera frame, face box",
                 *timed(lambda: with_camera(panel.image, "good", frame, (200, 120, 420, 380)), args.repeat)))
    if espeak():
        for lang, text in (("hi", "धन्यवाद, राम कुमार, इन 09:14"), ("en", "Thank you, Ram Kumar, In 09:14")):
            rows.append((f"espeak-ng, {lang}: {text}", *timed(lambda t=text, lg=lang: synthesise_bytes(t, lg),
                                                             max(3, args.repeat // 4))))
    lines = ["# Kiosk screen and voice (issue 15)", "", __doc__.split("\n\n", 1)[1].strip(), "",
             *environment_lines("benchmarks.screen"), f"- repeats: {args.repeat} (espeak-ng: {max(3, args.repeat // 4)})",
             "", "| what | median ms | p90 ms |", "|---|---:|---:|"]
    lines += [f"| {what} | {median:.1f} | {p90:.1f} |" for what, median, p90 in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
