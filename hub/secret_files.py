"""Hub secrets kept in files of 64 hex digits, made owner-only (0600) at first use.

Why one helper: the gallery-key secret (hub/enrolment/gallery_keys.py) and the
template key (hub/enrolment/template_cipher.py) are both 32 random bytes that
must never be in the database, must survive restarts, and must come out the
same when two workers start at once. Each caller passes its own error class,
so a message names the secret it is about.
"""

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_BYTES = 32


def load_or_create(path: Path, *, what: str, error: type[Exception]) -> bytes:
    """The secret in ``path``; made (mode 0600) when there is none yet.

    Made under a temporary name and linked into place, so two workers
    starting at once end up with the same secret and nobody reads half a file.
    """
    try:
        return read(path, what=what, error=error)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(SECRET_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.warning("made a new %s in %s: back it up with the hub's configuration", what, path)
        except FileExistsError:
            pass  # another worker was first: use its secret
    except OSError as exc:
        raise error(f"cannot make the {what} {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return read(path, what=what, error=error)


def read(path: Path, *, what: str, error: type[Exception]) -> bytes:
    """The 32-byte secret in ``path``; FileNotFoundError when there is none, ``error`` when it is bad."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read the {what} {path}: {exc}") from exc
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise error(f"{path} must hold {SECRET_BYTES * 2} hex digits (made by `hub init-db`)")
    return secret
