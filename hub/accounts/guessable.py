"""Passwords a guesser tries first: common ones, sequences, repeats, and the person's own details.

One rule set for every account type (dashboard users, phone passwords), so
``password123`` or ``1234567890`` is refused wherever someone may choose a
password. The common list ships with the hub (``data/README.md`` says where
it comes from and its licence); a password counts as common when it, or its
core with the digits and symbols around it stripped (and leetspeak undone:
``P@ssw0rd!2024`` -> ``password``), is on the list.
"""

import re
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from pathlib import Path

COMMON_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"

# Cores people here choose first that a worldwide list ranks low; "Cricket@2024" has the core "cricket".
LOCAL_FAVOURITES = frozenset("""
password passwd welcome letmein iloveyou admin administrator changeme default secret qwerty qwertyuiop
asdfgh asdfghjkl zxcvbnm abc abcd abcdef abcdefgh monkey dragon sunshine princess football cricket
india bharat hindustan jaihind sachin krishna ganesh sairam omsairam jaishreeram hanuman shiva shivaji
ram radhe attendance employee office sarkar government user login test guest master
""".split())

# runs a password must not be a piece of (either way round); doubled so that "7890123" counts
_RUNS = ("0123456789" * 2, "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm",
         "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")
_REPEATED_UNIT = re.compile(r"(.+?)\1+", re.DOTALL)
MIN_IDENTITY_CHARS = 4


class Weakness(str, Enum):
    COMMON = "common"
    SEQUENCE = "sequence"  # a run (1234567890, abcdefghij, qwertyuiop) or a repeat (abcabcabc, 12121212)
    IDENTITY = "identity"  # contains the user name, staff number, mobile or name


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with open(COMMON_FILE, encoding="utf-8") as f:
        return frozenset(line.strip().lower() for line in f if line.strip())


def is_common(password: str) -> bool:
    """On the list, or a listed word with digits or symbols around it, in any case or leetspeak."""
    lowered = password.lower()
    candidates = {lowered, lowered.translate(_LEET), _EDGES.sub("", lowered), _EDGES.sub("", lowered).translate(_LEET)}
    candidates.discard("")
    known = common_passwords()
    return any(c in known or c in LOCAL_FAVOURITES for c in candidates)


def is_sequence(password: str) -> bool:
    """A piece of a run of digits, letters or a keyboard row (either direction), or one short unit repeated."""
    lowered = password.lower()
    if _REPEATED_UNIT.fullmatch(lowered):
        return True
    return any(lowered in run or lowered in run[::-1] for run in _RUNS)


def contains_identity(password: str, identity: Iterable[str]) -> bool:
    """True when the password holds one of ``identity`` (each from four characters up; a mobile
    also without its country code, a name also word by word)."""
    lowered = password.lower()
    for item in identity:
        item = item.strip().lower()
        variants = {item, item[-10:] if item.startswith("+") else item, *re.split(r"[\s.@_-]+", item)}
        if any(len(v) >= MIN_IDENTITY_CHARS and v in lowered for v in variants):
            return True
    return False


def weakness(password: str, identity: Iterable[str] = ()) -> Weakness | None:
    """What makes ``password`` easy to guess, or None. Length rules are the caller's."""
    if contains_identity(password, identity):
        return Weakness.IDENTITY
    if is_sequence(password):
        return Weakness.SEQUENCE
    if is_common(password):
        return Weakness.COMMON
    return None
