"""Kiosk messages as catalogue keys that still read as the old (English, Hindi) pairs.

The decision code has always passed ``(English, Hindi)`` tuples around, and
tests and tools compare against them. The screen and the voice need more: the
catalogue key and its parameters, to say the message in the *site's* languages
(Marathi, Tamil, ...) and to pick a voice clip. ``Message`` is both: a tuple
equal to the old pair, which also carries ``key`` and ``params``.
"""

import logging
from collections.abc import Mapping
from typing import Any

from i18n.catalogue import translate

log = logging.getLogger(__name__)

LEGACY_LANGS = ("en", "hi")  # what the tuple holds, in this order


class Message(tuple[str, str]):
    """``(English, Hindi)`` text of catalogue message ``key`` filled with ``params``."""

    key: str
    params: Mapping[str, Any]

    def __new__(cls, key: str, **params: Any) -> "Message":
        self = super().__new__(cls, tuple(translate(key, lang, **params) for lang in LEGACY_LANGS))
        self.key = key
        self.params = dict(params)
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild from the key, not the tuple
        return (_rebuild, (self.key, dict(self.params)))

    def with_params(self, **params: Any) -> "Message":
        """The same message with (more) parameters filled in."""
        return Message(self.key, **{**self.params, **params})

    def text(self, lang: str) -> str:
        """This message in ``lang`` (English where the catalogue lacks it)."""
        return translate(self.key, lang, **self.params)


def _rebuild(key: str, params: dict[str, Any]) -> Message:
    return Message(key, **params)


def messages(prefix: str, names: tuple[str, ...]) -> dict[str, Message]:
    """``{name: Message(prefix + name)}``: the old module dictionaries, now read from the catalogue."""
    return {name: Message(prefix + name) for name in names}


def key_of(prompt: object) -> str | None:
    """The catalogue key of a prompt, or None for a plain tuple from code that predates the catalogue."""
    return getattr(prompt, "key", None)
