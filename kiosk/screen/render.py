"""Draws one kiosk screen: state + texts (+ camera frame) in, an RGB picture out. Pure, so it is tested
and previewed without a camera, a display or a face model.

Layout (any size; 800x480 is the Raspberry Pi 7" display): the mirrored
camera with the face box on the left, a panel in the state's colour on the
right with the headline and what to do in the site's languages (first
language large, second below it), the detail rows (staff number, In/Out,
time, site) and a footer clock. Text is fitted, never cut: lines wrap at
words, and when a block is still too tall every size steps down together.
Every drawn line is returned with its box, so tests can check that nothing
leaves the screen.
"""

import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i18n.catalogue import catalogue
from kiosk.screen.fonts import FontBook
from kiosk.screen.state import ScreenState, ScreenTexts, texts

log = logging.getLogger(__name__)

BACKGROUND = (24, 28, 34)
TONE_COLOURS = {  # panel background, readable under white text
    "good": (22, 122, 58), "notice": (176, 110, 0), "bad": (178, 34, 34),
    "busy": (30, 84, 150), "neutral": (52, 60, 72),
}
TEXT = (255, 255, 255)
SOFT_TEXT = (225, 232, 240)
MARGIN = 0.025          # of the width
CAMERA_SHARE = 0.42     # of the width
MIN_SCALE = 0.35        # never shrink text below this share of its design size
MAX_LINES = 3           # per text block


@dataclass(frozen=True)
class Drawn:
    """One line of text as drawn: its words, language, box (x0, y0, x1, y1), font file and size."""

    text: str
    lang: str
    box: tuple[int, int, int, int]
    font: Path
    size: int


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray          # H x W x 3, uint8 RGB
    drawn: tuple[Drawn, ...]


@dataclass(frozen=True)
class _Block:
    text: str
    lang: str
    size: float              # design size as a share of the screen height
    colour: tuple[int, int, int]
    gap: float = 0.012       # space after, share of the height


def render_screen(state: ScreenState, langs: Sequence[str], fonts: FontBook, *, size: tuple[int, int] = (800, 480),
                  frame: np.ndarray | None = None, face_box: tuple[int, int, int, int] | None = None,
                  footer: str = "") -> Rendered:
    """The screen for ``state`` in ``langs`` (first language first); ``frame`` is the camera's RGB picture and
    ``face_box`` (left, top, right, bottom) the face in it; ``footer`` e.g. the site and the clock."""
    panel = render_panel(state, langs, fonts, size=size, footer=footer)
    return Rendered(with_camera(panel.image, state.tone, frame, face_box), panel.drawn)


def render_panel(state: ScreenState, langs: Sequence[str], fonts: FontBook, *, size: tuple[int, int] = (800, 480),
                 footer: str = "") -> Rendered:
    """Everything but the camera picture: the slow part (text layout), done once per state, not per frame."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    margin = round(width * MARGIN)
    x, y, w, h = _camera_area(size)
    draw.rounded_rectangle((x, y, x + w, y + h), radius=8, outline=_colour(state.tone), width=3)
    panel = (x + w + margin, margin, width - margin, height - margin)
    draw.rounded_rectangle(panel, radius=max(4, margin), fill=_colour(state.tone))
    inner = (panel[0] + margin, panel[1] + margin, panel[2] - margin, panel[3] - margin)
    blocks = _blocks([texts(state, lang) for lang in langs], footer, langs[0] if langs else "en")
    drawn = _draw_blocks(draw, blocks, inner, height, fonts)
    return Rendered(np.asarray(image), tuple(drawn))


def with_camera(panel: np.ndarray, tone: str, frame: np.ndarray | None,
                face_box: tuple[int, int, int, int] | None) -> np.ndarray:
    """``panel`` with the camera picture, mirrored like a mirror, and the face box in the state's colour.

    Done for every frame shown, so with OpenCV on arrays (it lets go of the interpreter while it scales)
    rather than Pillow images."""
    if frame is None:
        return panel
    import cv2

    x, y, w, h = _camera_area((panel.shape[1], panel.shape[0]))
    fh, fw = frame.shape[:2]
    ratio = min(w / fw, h / fh)
    size = (max(1, round(fw * ratio)), max(1, round(fh * ratio)))
    picture = cv2.resize(np.ascontiguousarray(frame[:, ::-1]), size, interpolation=cv2.INTER_LINEAR)
    ox, oy = x + (w - size[0]) // 2, y + (h - size[1]) // 2
    out = panel.copy()
    out[oy:oy + size[1], ox:ox + size[0]] = picture
    if face_box is not None:
        left, top, right, bottom = face_box
        mirrored = (fw - right, top, fw - left, bottom)
        x0, y0, x1, y1 = (round(v * ratio) for v in mirrored)
        x0, x1 = (min(max(0, v), size[0] - 1) for v in (x0, x1))
        y0, y1 = (min(max(0, v), size[1] - 1) for v in (y0, y1))
        cv2.rectangle(out, (ox + x0, oy + y0), (ox + x1, oy + y1), _colour(tone), 4)
    return out


def _camera_area(size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    margin = round(width * MARGIN)
    return margin, margin, round(width * CAMERA_SHARE), height - 2 * margin


def _colour(tone: str) -> tuple[int, int, int]:
    return TONE_COLOURS.get(tone, TONE_COLOURS["neutral"])


def _blocks(all_texts: list[ScreenTexts], footer: str, first_lang: str) -> list[_Block]:
    """Headline, instruction and detail rows, each in every language (the first one larger)."""
    blocks: list[_Block] = []
    for i, t in enumerate(all_texts):
        blocks.append(_Block(t.title, t.lang, 0.085 if i == 0 else 0.058, TEXT, 0.006))
    blocks[-1:] = [_replace_gap(blocks[-1], 0.02)] if blocks else []
    for i, t in enumerate(all_texts):
        if t.instruction:
            blocks.append(_Block(t.instruction, t.lang, 0.055 if i == 0 else 0.045, SOFT_TEXT, 0.006))
    if blocks and any(t.instruction for t in all_texts):
        blocks[-1] = _replace_gap(blocks[-1], 0.02)
    if all_texts:
        first = all_texts[0]
        second = all_texts[1] if len(all_texts) > 1 else None
        for row, (label, value) in enumerate(first.details):
            other = ""
            if second and len(second.details) > row:
                other_label, other_value = second.details[row]
                other = f" / {other_label}"
                value = value if other_value == value else f"{value} / {other_value}"   # In/Out: both languages
            big = row == 0 and first.details[0][0] == texts_label_direction(first.lang)
            blocks.append(_Block(f"{label}{other}: {value}", first.lang, 0.07 if big else 0.05, TEXT, 0.008))
    if footer:
        blocks.append(_Block(footer, first_lang, 0.04, SOFT_TEXT, 0.0))
    return blocks


def texts_label_direction(lang: str) -> str:
    """The "Punch" label: In/Out is the row people look for, so it is drawn larger."""
    return catalogue(lang).text("kiosk.label.direction")


def _replace_gap(block: _Block, gap: float) -> _Block:
    return _Block(block.text, block.lang, block.size, block.colour, gap)


def _draw_blocks(draw: ImageDraw.ImageDraw, blocks: list[_Block], area: tuple[int, int, int, int], height: int,
                 fonts: FontBook) -> list[Drawn]:
    x0, y0, x1, y1 = area
    scale = 1.0
    while True:
        laid = [_lay_out(b, x1 - x0, height, scale, fonts) for b in blocks]
        total = sum(sum(line.height for line in lines) + round(b.gap * height * scale) for b, lines in
                    zip(blocks, laid))
        if total <= y1 - y0 or scale <= MIN_SCALE:
            break
        scale = max(MIN_SCALE, scale * 0.9)
    if total > y1 - y0:
        log.warning("screen text does not fit even at %.0f %% size", scale * 100)
    drawn: list[Drawn] = []
    y = y0
    for block, lines in zip(blocks, laid):
        for line in lines:
            x = x0
            for text, path in line.runs:
                font = fonts.font(path, line.size)
                origin = (x, y + line.ascent)
                box = draw.textbbox(origin, text, font=font, anchor="ls")
                draw.text(origin, text, font=font, fill=block.colour, anchor="ls")
                drawn.append(Drawn(text, block.lang, box, path, line.size))
                x += round(font.getlength(text))
            y += line.height
        y += round(block.gap * height * scale)
    return drawn


@dataclass(frozen=True)
class _Line:
    runs: list[tuple[str, Path]]
    size: int
    ascent: int
    height: int


@lru_cache(maxsize=4096)
def _measure(text: str, lang: str, size: int, fonts: FontBook) -> float:
    """Width of ``text`` in pixels; cached, since wrapping and shrinking measure the same words again and again."""
    return sum(fonts.font(path, size).getlength(run) for run, path in fonts.runs(text, lang))


def _lay_out(block: _Block, max_w: int, height: int, scale: float, fonts: FontBook) -> list[_Line]:
    """Lines of ``block``, wrapped to ``max_w``; the size steps down (to MIN_SCALE of the design size)
    until the block fits in MAX_LINES lines."""
    size = max(8, round(block.size * height * scale))
    floor = max(8, round(block.size * height * MIN_SCALE))
    while True:
        lines = _wrap(block.text, lambda s, size=size: _measure(s, block.lang, size, fonts), max_w)
        if len(lines) <= MAX_LINES or size <= floor:
            break
        size = max(floor, round(size * 0.9))
    out = []
    for line in lines:
        runs = fonts.runs(line, block.lang)
        metrics = [fonts.font(path, size).getmetrics() for _, path in runs] or [(size, size // 4)]
        ascent, descent = max(a for a, _ in metrics), max(d for _, d in metrics)
        out.append(_Line(runs, size, ascent, round((ascent + descent) * 1.02)))
    return out


def _wrap(text: str, length: Callable[[str], float], max_w: int) -> list[str]:
    """Word wrap; a word wider than the line is broken between characters (never before a vowel sign)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if length(trial) <= max_w:
            current = trial
            continue
        if current:
            lines.append(current)
        current = ""
        for piece in _split_long(word, length, max_w):
            if current:
                lines.append(current)
            current = piece
    if current:
        lines.append(current)
    return lines or [""]


def _split_long(word: str, length: Callable[[str], float], max_w: int) -> list[str]:
    if length(word) <= max_w:
        return [word]
    pieces, piece = [], ""
    for ch in word:
        joins = unicodedata.category(ch).startswith("M") or ch in "\u200c\u200d\u094d"
        if piece and not joins and length(piece + ch) > max_w and not piece.endswith("\u094d"):
            pieces.append(piece)
            piece = ch
        else:
            piece += ch
    return pieces + ([piece] if piece else [])
