"""Random bearer tokens (device binding, session, nonce, password setup), stored only as hashes.

The tokens carry 256 random bits, so a plain SHA-256 is enough at rest: a
database reader cannot turn the hash back into a usable token, and lookup
by hash stays one indexed equality.
"""

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A URL-safe token of 256 random bits (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """Hex SHA-256 of the token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_plausible_token(value: str | None) -> bool:
    """Cheap shape check before any database lookup (also bounds the input size)."""
    return value is not None and 16 <= len(value) <= 128 and value.isascii() and value.isprintable()
