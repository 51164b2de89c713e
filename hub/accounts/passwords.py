"""Password hashing (Argon2id), one-time passwords, and what a new password must be.

There is no default password anywhere: every account starts with a random
one-time password that only lets its owner choose their own.
"""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.accounts.guessable import Weakness, weakness
from hub.errors import InvalidInput

MIN_LENGTH = 10
# no 0/O, 1/l/I: one-time passwords are read off a screen and typed
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 low-memory profile
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown user name takes as long as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_dummy_hash, password)


def one_time_password() -> str:
    """About 93 bits of randomness in 16 easy-to-type characters, grouped 4-4-4-4."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def check_new_password(new: str, *, username: str) -> None:
    """Refuse passwords that are short, hold the user name, have few different characters, or are
    common, a sequence or a repeat (``hub.accounts.guessable``)."""
    if len(new) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    found = weakness(new, [username])
    if found is Weakness.IDENTITY:
        raise InvalidInput("a password must not contain the user name")
    if len(set(new)) < 4:
        raise InvalidInput("a password needs at least 4 different characters")
    if found is Weakness.COMMON:
        raise InvalidInput("this password is on the list of the most common passwords; choose another")
    if found is Weakness.SEQUENCE:
        raise InvalidInput("a password must not be a sequence (1234567890, abcdefghij, qwertyuiop) or a repeat")
