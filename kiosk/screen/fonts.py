"""Which font draws a piece of text: the one whose character map covers all of it.

``cv2.putText`` knows ASCII only, so Hindi came out as "????". The screen
draws with Pillow (HarfBuzz shaping through raqm) and Debian's Noto fonts
(``fonts-noto-core``). A name in Devanagari inside an English sentence must
not turn into boxes ("tofu"), so each line takes the first font, in order of
preference for its language, that has a glyph for every character; the
coverage is read from the font file itself (fontTools), the same check the
tests make.
"""

import logging
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto"))
DEVANAGARI = "NotoSansDevanagari-Regular.ttf"   # also has Latin letters and digits
LATIN = "NotoSans-Regular.ttf"
# Preferred fonts per language; every list ends with the general fallbacks.
BY_LANG: dict[str, tuple[str, ...]] = {
    "hi": (DEVANAGARI,), "mr": (DEVANAGARI,), "ne": (DEVANAGARI,),
    "bn": ("NotoSansBengali-Regular.ttf",), "ta": ("NotoSansTamil-Regular.ttf",),
    "te": ("NotoSansTelugu-Regular.ttf",), "gu": ("NotoSansGujarati-Regular.ttf",),
    "kn": ("NotoSansKannada-Regular.ttf",), "ml": ("NotoSansMalayalam-Regular.ttf",),
    "pa": ("NotoSansGurmukhi-Regular.ttf",), "or": ("NotoSansOriya-Regular.ttf",),
    "ur": ("NotoNastaliqUrdu-Regular.ttf", "NotoSansArabic-Regular.ttf"),
}
FALLBACKS = (LATIN, DEVANAGARI)


class FontMissing(FileNotFoundError):
    """No usable font file: install fonts-noto-core (Makefile SYSTEM_PACKAGES, provisioning on the Pi)."""


@lru_cache(maxsize=64)
def coverage(path: Path) -> frozenset[int]:
    """Code points the font at ``path`` has glyphs for."""
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str, path: Path) -> set[str]:
    """Characters of ``text`` (spaces aside) that the font at ``path`` cannot draw."""
    cmap = coverage(path)
    return {c for c in text if not c.isspace() and ord(c) not in cmap}


class FontBook:
    """Finds font files once and hands out Pillow fonts by text, language and size."""

    def __init__(self, dirs: tuple[Path, ...] = FONT_DIRS) -> None:
        self.dirs = dirs

    def find(self, name: str) -> Path | None:
        return _find(self.dirs, name)

    def candidates(self, lang: str) -> list[Path]:
        names = BY_LANG.get(lang.split("-")[0], ()) + FALLBACKS
        found = [p for p in dict.fromkeys(self.find(n) for n in names) if p is not None]
        if not found:
            raise FontMissing(f"no Noto font in {', '.join(map(str, self.dirs))}: install fonts-noto-core")
        return found

    def runs(self, text: str, lang: str) -> list[tuple[str, Path]]:
        return list(_runs(self.dirs, text, lang))

    def _runs(self, text: str, lang: str) -> list[tuple[str, Path]]:
        """``text`` cut into runs each drawn with one font: per character the first preferred font that has
        it; a character the current run's font has stays in that run (vowel signs must be shaped with their
        consonant, and spaces and digits need not switch fonts)."""
        paths = self.candidates(lang)
        out: list[tuple[str, Path]] = []
        for ch in text:
            current = out[-1][1] if out else None
            if current is not None and ord(ch) in coverage(current):
                out[-1] = (out[-1][0] + ch, current)
                continue
            path = next((p for p in paths if ord(ch) in coverage(p)), None)
            if path is None:
                log.warning("no font has %r (U+%04X) for %s", ch, ord(ch), lang)
                path = current or paths[0]
            if out and path == current:
                out[-1] = (out[-1][0] + ch, current)
            else:
                out.append((ch, path))
        return out

    def font(self, path: Path, size: int) -> ImageFont.FreeTypeFont:
        return _font(path, size)


@lru_cache(maxsize=4096)
def _runs(dirs: tuple[Path, ...], text: str, lang: str) -> tuple[tuple[str, Path], ...]:
    return tuple(FontBook(dirs)._runs(text, lang))


@lru_cache(maxsize=64)
def _find(dirs: tuple[Path, ...], name: str) -> Path | None:
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    return None


@lru_cache(maxsize=256)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM
                              if _has_raqm() else ImageFont.Layout.BASIC)


@lru_cache(maxsize=1)
def _has_raqm() -> bool:
    from PIL import features

    if not features.check("raqm"):
        log.warning("Pillow without raqm: Devanagari vowel signs and conjuncts will be drawn unshaped")
        return False
    return True
