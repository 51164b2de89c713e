"""Loading and using the translation catalogues (pure: files in, strings out)."""

import json
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CATALOGUES = Path(__file__).resolve().parent / "catalogues"
FALLBACK = "en"
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class CatalogueError(ValueError):
    """A catalogue file that cannot be used: names the file and what is wrong with it."""


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields a message expects, so translations can be checked against English."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


@dataclass(frozen=True)
class Catalogue:
    """One language's messages, with English behind it for keys it does not have yet."""

    lang: str
    messages: Mapping[str, str]
    fallback: Mapping[str, str]

    def text(self, key: str, **params: object) -> str:
        """The message for ``key`` in this language, filled in; the key itself if no language has it.

        A missing key is logged rather than raised: a person at a kiosk should see English (or the
        key) rather than a crash, and the catalogue tests catch the gap before release.
        """
        template = self.messages.get(key)
        if template is None:
            template = self.fallback.get(key)
            if template is None:
                log.warning("no message %r in any catalogue", key)
                return key
        try:
            return template.format(**params) if params else template
        except (KeyError, IndexError, ValueError) as exc:
            log.warning("message %r (%s) could not be filled in: %s", key, self.lang, exc)
            return template

    def has(self, key: str) -> bool:
        return key in self.messages


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise CatalogueError(f"{path}: must be one JSON object of string keys to string messages")
    return data


def available_languages(folder: Path = CATALOGUES) -> list[str]:
    """Languages with a catalogue file, English first."""
    langs = sorted(p.stem for p in folder.glob("*.json"))
    return sorted(langs, key=lambda lang: lang != FALLBACK)


@lru_cache(maxsize=32)
def catalogue(lang: str, folder: Path = CATALOGUES) -> Catalogue:
    """The catalogue of ``lang`` (e.g. ``hi``); an unknown language gets English.

    Raises CatalogueError for a malformed file rather than showing half a screen in the wrong script.
    """
    english = _read(folder / f"{FALLBACK}.json")
    if not _LANG.match(lang or "") or not (folder / f"{lang}.json").is_file():
        return Catalogue(FALLBACK, english, english)
    return Catalogue(lang, _read(folder / f"{lang}.json"), english)


def translate(key: str, lang: str, **params: object) -> str:
    """Shorthand for ``catalogue(lang).text(key, **params)``."""
    return catalogue(lang).text(key, **params)
