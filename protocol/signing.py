"""Ed25519 signatures over canonical JSON.

A kiosk owns its private key (made at provisioning, never leaves the device);
the hub keeps the public key as 32 raw bytes in base64. ``sig`` covers every
other field of the message.
"""

import base64
import binascii
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from protocol.canonical import canonical_json
from protocol.errors import SignatureInvalid

SIG_FIELD = "sig"


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


def sign_fields(fields: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of ``fields`` with ``sig`` over all the others."""
    body = {k: v for k, v in fields.items() if k != SIG_FIELD}
    signature = key.sign(canonical_json(body))
    return {**body, SIG_FIELD: base64.b64encode(signature).decode("ascii")}


def verify_fields(fields: dict[str, Any], public_key: Ed25519PublicKey) -> None:
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
        public_key.verify(signature, canonical_json(body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid("bad signature") from exc
