"""Ed25519 signatures over canonical JSON.

A kiosk owns its private key (made at provisioning, never leaves the device);
the hub keeps the public key as 32 raw bytes in base64. ``sig`` covers every
other field of the message.

Keys are made and messages signed with ``cryptography``; signatures are
checked with libsodium (PyNaCl), in one place (``check_signature``): on the
hub's machine it costs about 55 us against ``cryptography``'s 105 us, and
it runs without the GIL, so ``verify_many`` spreads a batch over threads and
a hub worker uses a second core. It is the same Ed25519 over the same
canonical bytes. libsodium refuses what ``cryptography`` refused, and also
small-order keys and R points, which no honest kiosk produces.
"""

import base64
import binascii
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from itertools import chain
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from protocol.canonical import canonical_json
from protocol.errors import SignatureInvalid

SIG_FIELD = "sig"
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
VERIFY_CHUNK = 25  # signatures per task of verify_many: few tasks, yet the first results come early

PublicKey = Ed25519PublicKey | bytes  # a key object, or the raw 32 bytes (``public_key_bytes``)


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PEM, readable only by its owner (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_to_pem(key))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load Ed25519 private key from {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64, the form the hub stores."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(b64: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a base64 Ed25519 public key: {exc}") from exc


def public_key_bytes(b64: str) -> bytes:
    """The raw key a stored base64 key stands for, checked as ``load_public_key`` checks it."""
    return load_public_key(b64).public_bytes_raw()


def sign_fields(fields: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of ``fields`` with ``sig`` over all the others."""
    body = {k: v for k, v in fields.items() if k != SIG_FIELD}
    signature = key.sign(canonical_json(body))
    return {**body, SIG_FIELD: base64.b64encode(signature).decode("ascii")}


def verify_fields(fields: dict[str, Any], public_key: PublicKey) -> None:
    """Raise SignatureInvalid unless ``sig`` signs the other fields."""
    sig = fields.get(SIG_FIELD)
    if not isinstance(sig, str):
        raise SignatureInvalid("bad signature: sig missing")
    try:
        signature = base64.b64decode(sig, validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("bad signature: sig is not base64") from exc
    body = {k: v for k, v in fields.items() if k != SIG_FIELD}
    try:
        signed = canonical_json(body)
    except ValueError as exc:  # NaN or Infinity: canonical JSON has no bytes for it, so nothing signed it
        raise SignatureInvalid("bad signature") from exc
    raw_key = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    check_signature(signature, signed, raw_key)


def check_signature(signature: bytes, message: bytes, public_key: bytes) -> None:
    """Raise SignatureInvalid unless ``signature`` is the Ed25519 signature of ``message`` by ``public_key``.

    The one place a signature is checked. The lengths are checked here:
    libsodium reads exactly 32 key bytes and takes the first 64 bytes of
    what it is given as the signature.
    """
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        raise SignatureInvalid("bad signature")
    try:
        sodium.crypto_sign_open(signature + message, public_key)
    except BadSignatureError as exc:
        raise SignatureInvalid("bad signature") from exc


def verify_many(
    items: Sequence[tuple[dict[str, Any], PublicKey]], executor: Executor | None = None
) -> Iterator[Exception | None]:
    """``verify_fields`` for each ``(fields, key)``, in order: None where the signature is good,
    SignatureInvalid where it is not, any other exception where checking it failed (for the
    caller to treat as that item's failure alone).

    With an ``executor`` the items are checked in chunks on its threads
    (the check itself runs without the GIL), and the results come as their
    chunk is done, so the caller can use the first ones while the rest are
    still being checked.
    """
    chunks = [items[i:i + VERIFY_CHUNK] for i in range(0, len(items), VERIFY_CHUNK)]
    if executor is None or len(chunks) < 2:
        return chain.from_iterable(map(_verify_chunk, chunks))
    return chain.from_iterable(executor.map(_verify_chunk, chunks))


def _verify_chunk(items: Sequence[tuple[dict[str, Any], PublicKey]]) -> list[Exception | None]:
    results: list[Exception | None] = []
    for fields, key in items:
        try:
            verify_fields(fields, key)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, item by item
            results.append(exc)
        else:
            results.append(None)
    return results
