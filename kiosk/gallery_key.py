"""Where the key of the kiosk's gallery cache comes from: the hub (default) or the card.

Why not simply the card: everything on the SD card is readable by whoever
holds it. A key derived from ``device.key`` (the old scheme, kept as the
opt-in ``gallery.key_source: card``) therefore hands a thief the whole
gallery along with the card. With ``hub`` (the default) the key is not on
the card at all: the kiosk asks the hub for it at every start, holds it in
memory only, and cannot open its cache until the hub has answered.

The request (``GalleryKeyRequest``) is signed with the device's Ed25519 key
and carries ``box_key``, the public half of an X25519 key pair this
``HubGalleryKey`` made for itself and holds only in memory. The hub seals
the key to ``box_key`` (libsodium SealedBox), so the broker, other devices
and anyone on the wire see ciphertext; and a recorded request replayed
later, even by someone who has since stolen the card (``device.key``),
makes the hub seal to a box key nobody holds any more. Once the key is in,
the box key is dropped.
"""

import base64
import binascii
import logging
import threading
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from protocol import messages, signing

log = logging.getLogger(__name__)

KEY_BYTES = 32
CARD_HKDF_INFO = b"face-attendance/kiosk-gallery/v1"
MIN_KEY_FILE_BYTES = 32

# The scheme a cache file was written under, stored in its header (kiosk/gallery_store.py).
SCHEME_CARD = 1
SCHEME_HUB = 2
SCHEME_NAMES = {SCHEME_CARD: "card", SCHEME_HUB: "hub"}


class GalleryKeyError(ValueError):
    """The gallery key cannot be had: the card key file is unreadable, or the hub's answer does not open."""


class GalleryLocked(GalleryKeyError):
    """The key has not come from the hub yet: the cache can be neither read nor written."""


class GalleryKeySource(Protocol):
    """What the encrypted store needs: which scheme, and the 32-byte key (GalleryLocked until it is held)."""

    scheme: int

    def key(self) -> bytes: ...


def derive_card_key(key_file: Path) -> bytes:
    """32-byte AES key from the device secret file on the card (HKDF-SHA256): the old scheme."""
    try:
        secret = key_file.read_bytes()
    except OSError as exc:
        raise GalleryKeyError(f"cannot read the gallery key file {key_file}: {exc.strerror or exc}") from exc
    if len(secret.strip()) < MIN_KEY_FILE_BYTES:
        raise GalleryKeyError(
            f"gallery key file {key_file} holds under {MIN_KEY_FILE_BYTES} bytes: not a device secret")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=CARD_HKDF_INFO).derive(secret)


class CardGalleryKey:
    """``gallery.key_source: card``: derived from the device key file, so the kiosk boots offline;
    whoever holds the card can derive it too."""

    scheme = SCHEME_CARD

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)

    def key(self) -> bytes:
        return derive_card_key(self.key_file)


class HubGalleryKey:
    """``gallery.key_source: hub``: the key as the hub sent it, in memory only.

    ``ready`` is set once the key is held. ``request()`` and ``accept()`` are
    called from the MQTT link's threads; ``key()`` from whoever saves or
    loads the cache.
    """

    scheme = SCHEME_HUB

    def __init__(self, device_id: str, signing_key: Ed25519PrivateKey) -> None:
        self.device_id = device_id
        self._signing_key = signing_key
        self._box: PrivateKey | None = PrivateKey.generate()
        self._box_key = base64.b64encode(bytes(self._box.public_key)).decode("ascii")
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def key(self) -> bytes:
        if self._key is None:
            raise GalleryLocked("the gallery is locked: waiting for the hub to send its key")
        return self._key

    def request(self) -> bytes:
        """A signed request for the key, as published on the request topic."""
        fields = {"v": 1, "device_id": self.device_id, "box_key": self._box_key}
        return messages.validate(messages.GalleryKeyRequest, signing.sign_fields(fields, self._signing_key)).to_json()

    def accept(self, answer: messages.GalleryKey) -> bool:
        """Open the hub's answer; True when the key is now held (and was not before)."""
        with self._lock:
            if self._box is None:
                return False  # already held: a second answer to a repeated request
            if answer.box_key != self._box_key:
                log.warning("gallery key sealed to another box key ignored (an answer to an older process)")
                return False
            key = open_sealed_key(answer.sealed, self._box)
            self._key, self._box = key, None
        self.ready.set()
        log.info("gallery key received from the hub; held in memory only")
        return True


def open_sealed_key(sealed_b64: str, box: PrivateKey) -> bytes:
    """Open a sealed gallery key; GalleryKeyError when it is not for ``box`` or not a key."""
    try:
        key = SealedBox(box).decrypt(base64.b64decode(sealed_b64, validate=True))
    except (binascii.Error, CryptoError, ValueError) as exc:
        raise GalleryKeyError(f"the sealed gallery key does not open with this kiosk's box key: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise GalleryKeyError(f"the hub sent a {len(key)}-byte gallery key, expected {KEY_BYTES}")
    return key
