"""Phone passwords: strength rules (pure) and Argon2id hashing (argon2-cffi).

There is no default password anywhere: an employee's first password is the
one they set after proving, by SMS code, that they hold the registered mobile.
"""

import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.accounts.guessable import Weakness, weakness
from hub.phone.reasons import Refused

# argon2-cffi's defaults: Argon2id, RFC 9106 "low memory" profile (t=3, 64 MiB, p=4)
_HASHER = PasswordHasher()

MAX_PASSWORD_CHARS = 256


def _classes(password: str) -> int:
    return sum((
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ))


def check_strength(password: str, *, min_length: int, identity: Iterable[str]) -> None:
    """Refuse a weak password; ``identity`` holds strings it must not contain (staff number,
    mobile number, name), each taken into account from four characters up."""
    if len(password) < min_length:
        raise Refused("password_too_short", min_length=min_length)
    if len(password) > MAX_PASSWORD_CHARS:
        raise Refused("request_invalid", detail=f"password longer than {MAX_PASSWORD_CHARS} characters")
    found = weakness(password, identity)
    if found is Weakness.IDENTITY:
        raise Refused("password_contains_identity")
    if (found is Weakness.SEQUENCE or _classes(password) < 2 or len(set(password)) < 5
            or re.search(r"(.)\1{3,}", password)):
        raise Refused("password_too_simple")
    if found is Weakness.COMMON:
        raise Refused("password_common")


def hash_secret(secret: str) -> str:
    """An Argon2id hash string (salt and parameters included)."""
    return _HASHER.hash(secret)


def verify_secret(hashed: str, secret: str) -> bool:
    """Constant-time check; False for a mismatch or an unreadable hash."""
    try:
        return _HASHER.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(hashed)
