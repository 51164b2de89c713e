"""Face templates encrypted at rest at the hub: AES-256-GCM with a key kept in a file, never in the database.

Why: a copy of the database (a backup, a replica, a stolen disk) must not
hand out everyone's biometric templates. ``face_templates.encoding`` is
stored as ``VERSION + nonce (12) + ciphertext (512) + tag (16)`` = 541
bytes; ``hub.db.EncryptedTemplate`` seals on write and opens on read, so
every reader (gallery builds, the phone selfie check, kiosk enrolment,
erasure) keeps seeing the plain 512-byte encoding.

The key belongs to an engine (a database), not to the process: ``register``
ties a key file to the engine's dialect object (one per engine), so tests
and tools with several hubs in one process each use their own key. The file
is read (or made, owner-only) at the first template read or write.
Without the right key nothing is guessed: a wrong key, a plain row or a
foreign blob is a ``TemplateKeyError`` naming the key file.
"""

import os
import threading
import weakref
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub import secret_files
from hub.errors import HubError

VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
PLAIN_BYTES = 512  # a 128-d float32 encoding
SEALED_BYTES = len(VERSION) + NONCE_BYTES + PLAIN_BYTES + TAG_BYTES
AAD = b"face-attendance/hub/face_templates.encoding/v1"
KEY_FILE_NAME = "template-key.secret"
WHAT = "template key"


class TemplateKeyError(HubError, ValueError):
    """The template key is not configured, unreadable or wrong for the stored templates."""


class TemplateCipher:
    """Seals and opens template blobs with the key in ``path`` (read or made at first use)."""

    def __init__(self, path: Path | None, *, reason_missing: str = "") -> None:
        self.path = path
        self.reason_missing = reason_missing
        self._aead: AESGCM | None = None
        self._lock = threading.Lock()

    def _key(self) -> AESGCM:
        if self._aead is None:
            with self._lock:
                if self._aead is None:
                    if self.path is None:
                        raise TemplateKeyError(self.reason_missing or "no template key file is configured")
                    key = secret_files.load_or_create(self.path, what=WHAT, error=TemplateKeyError)
                    self._aead = AESGCM(key)
        return self._aead

    def seal(self, plain: bytes) -> bytes:
        """``plain`` encrypted under a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._key().encrypt(nonce, bytes(plain), AAD)

    def open(self, sealed: bytes) -> bytes:
        """The plain template in ``sealed``; TemplateKeyError when it is not ours or the key is wrong."""
        sealed = bytes(sealed)
        if len(sealed) < len(VERSION) + NONCE_BYTES + TAG_BYTES or sealed[:1] != VERSION:
            raise TemplateKeyError(f"a stored face template is not encrypted ({len(sealed)} bytes): "
                                   "run `hub init-db` to encrypt older rows")
        nonce = sealed[1:1 + NONCE_BYTES]
        try:
            return self._key().decrypt(nonce, sealed[1 + NONCE_BYTES:], AAD)
        except InvalidTag:
            raise TemplateKeyError(f"a stored face template does not open with the key in {self.path}: "
                                   "wrong or replaced template_key_file (restore the original)") from None


def is_sealed(blob: bytes) -> bool:
    """True for a blob in our format (used by the migration to leave sealed rows alone)."""
    return len(blob) == SEALED_BYTES and bytes(blob[:1]) == VERSION


_CIPHERS: "weakref.WeakKeyDictionary[object, TemplateCipher]" = weakref.WeakKeyDictionary()


def register(dialect: object, cipher: TemplateCipher) -> None:
    """Use ``cipher`` for every template of the engine whose dialect is ``dialect``."""
    _CIPHERS[dialect] = cipher


def for_dialect(dialect: object) -> TemplateCipher:
    """The cipher registered for this engine; an error when the engine was made without ``hub.db.make_engine``."""
    try:
        return _CIPHERS[dialect]
    except (KeyError, TypeError):
        raise TemplateKeyError("this database engine has no template key (make it with hub.db.make_engine)") from None


def default_path(url: str, configured: Path | None) -> tuple[Path | None, str]:
    """(key file, why none): ``configured``, or ``template-key.secret`` beside a SQLite database file."""
    if configured is not None:
        return configured, ""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not parsed.database.startswith("file:"):
        return Path(parsed.database).parent / KEY_FILE_NAME, ""
    return None, "template_key_file is not set (needed when the database is not a SQLite file)"
