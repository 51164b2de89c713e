"""Each kiosk's gallery key: derived from a hub secret, sent only to the kiosk that proves it is itself.

Why derived, not stored: the key of a kiosk's gallery cache must not be on
the kiosk's SD card (a thief would read the gallery), and the hub must give
the same key again at every start of that kiosk. HKDF-SHA256 over a secret
that only the hub holds (``gallery_key_secret_file``, never in the
database), labelled with the device id and its registered public key,
gives exactly that with no table: re-provisioning (a new key pair) gives a
new gallery key, and a retired kiosk is simply not answered. Several hub
machines need the same secret file.

What the hub answers (``answer``): only a request on the device's own
topic, for a registered device that is not retired, whose signature checks
with the registered public key. The key goes out sealed (libsodium
SealedBox) to the X25519 box key in the signed request, which only the
requesting kiosk process holds.
"""

import base64
import binascii
import logging
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.public import PublicKey, SealedBox
from sqlalchemy.engine import make_url

from hub import secret_files
from hub.config import HubConfig
from hub.errors import HubError
from hub.ingest.intake import DeviceRecord
from protocol import messages, signing
from protocol.errors import MessageInvalid

log = logging.getLogger(__name__)

SECRET_BYTES = secret_files.SECRET_BYTES
KEY_BYTES = 32
HKDF_INFO = b"face-attendance/hub-gallery-key/v1"
SECRET_FILE_NAME = "gallery-key.secret"
WHAT = "gallery-key secret"


class GalleryKeySecretError(HubError, ValueError):
    """The hub's gallery-key secret file is missing where it cannot be made, unreadable or malformed."""


def secret_path(config: HubConfig) -> Path:
    """``gallery_key_secret_file``, or ``gallery-key.secret`` beside a SQLite database file."""
    if config.gallery_key_secret_file is not None:
        return config.gallery_key_secret_file
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).parent / SECRET_FILE_NAME
    raise GalleryKeySecretError("gallery_key_secret_file is not set (needed when the database is not a SQLite file)")


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path`` (64 hex digits); made (mode 0600) when there is none yet (hub/secret_files.py)."""
    return secret_files.load_or_create(path, what=WHAT, error=GalleryKeySecretError)


def read_secret_file(path: Path) -> bytes:
    """The 32-byte secret in ``path``; FileNotFoundError when there is none, GalleryKeySecretError when bad."""
    return secret_files.read(path, what=WHAT, error=GalleryKeySecretError)


def device_gallery_key(secret: bytes, device_id: str, public_key: bytes) -> bytes:
    """The 32-byte gallery key of one device identity (device id and registered Ed25519 public key)."""
    info = HKDF_INFO + b"\0" + device_id.encode("utf-8") + b"\0" + public_key
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def seal(key: bytes, box_key_b64: str) -> str:
    """``key`` sealed to an X25519 public key (base64 in, base64 out): only its holder opens it."""
    try:
        public = PublicKey(base64.b64decode(box_key_b64, validate=True))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise MessageInvalid(f"box_key is not an X25519 public key: {exc}") from exc
    return base64.b64encode(SealedBox(public).encrypt(key)).decode("ascii")


def check_request(
    topic_device_id: str, payload: bytes, device: DeviceRecord | None, *, max_bytes: int
) -> messages.GalleryKeyRequest:
    """The request, if the hub may answer it; MessageInvalid or SignatureInvalid (with why) if not."""
    fields = messages.decode_json(payload, max_bytes)
    request = messages.validate(messages.GalleryKeyRequest, fields)
    if request.device_id != topic_device_id:
        raise MessageInvalid(f"device_id {request.device_id} does not match the topic's {topic_device_id}")
    if device is None:
        raise MessageInvalid("unknown device")
    if device.retired:
        raise MessageInvalid("retired device")
    signing.verify_fields(fields, signing.public_key_bytes(device.public_key_b64))
    return request


def answer(secret: bytes, device: DeviceRecord, request: messages.GalleryKeyRequest) -> messages.GalleryKey:
    """The device's gallery key, sealed to the box key of its (checked) request."""
    key = device_gallery_key(secret, device.device_id, signing.public_key_bytes(device.public_key_b64))
    return messages.GalleryKey(box_key=request.box_key, sealed=seal(key, request.box_key))

