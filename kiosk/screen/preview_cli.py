"""``kiosk preview``: draw kiosk screens to PNG files without a camera, for review and tests.

    kiosk preview --state accepted --lang hi --name "राम कुमार" --out screen.png
    kiosk preview --state all --out screens/          # every state, in the given languages
"""

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from i18n.catalogue import available_languages
from kiosk.screen.fonts import FontBook
from kiosk.screen.preview import preview_states
from kiosk.screen.render import render_screen

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default="accepted",
                   help=f"one of: all, {', '.join(preview_states())}")
    p.add_argument("--lang", default="hi", help="the first (largest) language")
    p.add_argument("--second", default=None, help="the second language (default: en, or hi when --lang en); "
                   "'none' for one language only")
    p.add_argument("--name", default="राम कुमार", help="the person's name")
    p.add_argument("--employee-id", default="E1001", help="staff number")
    p.add_argument("--time", default="09:14", help="time shown (HH:MM)")
    p.add_argument("--site", default="Collectorate, Lucknow", help="site name")
    p.add_argument("--direction", default="in", choices=["in", "out"], help="In or Out")
    p.add_argument("--frame", type=Path, default=None, help="a picture to show as the camera (no face box)")
    p.add_argument("--width", type=int, default=800)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--out", type=Path, required=True, help="PNG file; a folder with --state all")


def languages(lang: str, second: str | None) -> list[str]:
    """The language pair: ``lang`` first, then ``second`` (default English, or Hindi after English)."""
    if lang not in available_languages():
        raise ValueError(f"no catalogue for {lang!r} (have {', '.join(available_languages())})")
    other = second or ("hi" if lang == "en" else "en")
    return [lang] if other == "none" else [lang, other]


def preview(args: argparse.Namespace) -> list[Path]:
    """Render the asked screens; returns the files written."""
    states = preview_states(name=args.name, employee_id=args.employee_id, time=args.time, site=args.site,
                            direction=args.direction)
    if args.state != "all" and args.state not in states:
        raise ValueError(f"unknown state {args.state!r}; one of: all, {', '.join(states)}")
    langs = languages(args.lang, args.second)
    frame = np.asarray(Image.open(args.frame).convert("RGB")) if args.frame else None
    fonts = FontBook()
    chosen = states if args.state == "all" else {args.state: states[args.state]}
    written = []
    for name, state in chosen.items():
        if args.state == "all":
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"{name.replace(':', '-')}-{'-'.join(langs)}.png"
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            path = args.out
        shown = render_screen(state, langs, fonts, size=(args.width, args.height), frame=frame,
                              footer=f"{args.site} · {args.time}")
        Image.fromarray(shown.image).save(path)
        written.append(path)
    return written
