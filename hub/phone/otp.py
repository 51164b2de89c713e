"""One-time activation codes sent by SMS: six random digits, hashed at rest, expiring,
with a limited number of wrong entries (pure apart from the hashing).

The code is hashed with Argon2, not a fast hash: there are only a million
codes, so a fast hash read from a backup would give the code back at once;
Argon2 makes that cost hours, longer than a code lives.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from hub.phone.passwords import hash_secret, verify_secret
from hub.phone.reasons import Refused

CODE_DIGITS = 6


def new_code() -> str:
    """Six digits from the system's CSPRNG, leading zeros kept."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str) -> str:
    return hash_secret(code)


def normalise_code(entered: str) -> str | None:
    """The digits typed, without spaces or dashes; None when it cannot be a code."""
    digits = "".join(ch for ch in entered if ch not in " -")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def code_matches(code_hash: str, entered: str) -> bool:
    code = normalise_code(entered)
    return code is not None and verify_secret(code_hash, code)


@dataclass(frozen=True)
class CodeState:
    expires_at: datetime
    attempts: int
    closed: bool  # already verified, or replaced by a newer code


def check_usable(state: CodeState | None, now: datetime, max_attempts: int) -> None:
    """Refuse before comparing: an exhausted, closed or expired code is never checked."""
    if state is None:
        raise Refused("activation_invalid")
    if state.attempts >= max_attempts:
        raise Refused("code_attempts_exhausted")
    if state.closed:
        raise Refused("activation_invalid")
    if now >= state.expires_at:
        raise Refused("code_expired")


def wrong_code(attempts_after: int, max_attempts: int) -> Refused:
    """The refusal for a wrong entry, given the attempt count including it."""
    left = max_attempts - attempts_after
    return Refused("code_wrong", attempts_left=left) if left > 0 else Refused("code_attempts_exhausted")
