"""Signed software releases of the kiosk: the manifest, its signature and the check of the files.

A release is a folder: the kiosk's wheelhouse (the wheels to install) and
``manifest.json``, which names each file with its size and SHA-256 and is
signed (``sig``, Ed25519 over the canonical JSON of every other field, as a
punch) with the OFFLINE release key. Its public half is written onto every
card at provisioning (kiosk.yaml ``update.release_key``), so a kiosk installs
only what the holder of that key released: not what a compromised hub, a
hostile network or a stolen admin token serves. The hub only stores and
serves releases; it cannot make one.

Made by ``provision release build`` (provisioning/release.py), served by the
hub (hub/devices/releases.py), checked by the kiosk (kiosk/updater.py) with
``verify_manifest`` and ``check_files`` before anything is installed.
"""

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AwareDatetime, Field, StringConstraints

from protocol import messages, signing
from protocol.errors import MessageInvalid, ProtocolError, SignatureInvalid

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_FILES = 64
CHUNK = 1 << 20

FILE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,199}$"
FileName = Annotated[str, StringConstraints(pattern=FILE_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ReleaseRefused(ProtocolError, ValueError):
    """A release that must not be installed: bad signature, a file that does not match, a bad manifest."""


class ReleaseFile(messages.Message):
    name: FileName = Field(description="file name inside the release folder (no path)")
    sha256: Sha256 = Field(description="hex SHA-256 of the file's bytes")
    size: int = Field(ge=0, description="bytes")


class Manifest(messages.Message):
    """What a release holds, signed by the release key (``sig`` covers every other field)."""

    v: messages.Version1 = 1
    version: messages.SoftwareVersion = Field(description="the kiosk software version this release installs")
    created_at: AwareDatetime
    files: list[ReleaseFile] = Field(min_length=1, max_length=MAX_FILES)
    sig: str | None = None

    def file_names(self) -> list[str]:
        return [f.name for f in self.files]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(folder: Path, version: str, created_at: datetime) -> Manifest:
    """An unsigned manifest of every file in ``folder`` (the wheelhouse), sorted by name."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    if not files:
        raise ReleaseRefused(f"{folder} holds no files to release")
    try:
        return Manifest(version=version, created_at=created_at,
                        files=[ReleaseFile(name=p.name, sha256=sha256_of(p), size=p.stat().st_size) for p in files])
    except ValueError as exc:
        raise ReleaseRefused(f"cannot describe {folder} as release {version!r}: {exc}") from exc


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> Manifest:
    fields = manifest.model_dump(mode="json", exclude_none=True)
    return Manifest.model_validate(signing.sign_fields(fields, key))


def parse_manifest(payload: bytes) -> tuple[dict[str, Any], Manifest]:
    """The decoded object (for its signature) and the model, or ReleaseRefused saying why."""
    try:
        data = messages.decode_json(payload, MAX_MANIFEST_BYTES)
        return data, messages.validate(Manifest, data)
    except MessageInvalid as exc:
        raise ReleaseRefused(f"bad manifest: {exc.reason}") from exc


def verify_manifest(payload: bytes, release_key_b64: str, *, expected_version: str | None = None) -> Manifest:
    """The manifest if the release key signed it (and it is the version asked for); else ReleaseRefused."""
    data, manifest = parse_manifest(payload)
    try:
        signing.verify_fields(data, signing.public_key_bytes(release_key_b64))
    except SignatureInvalid as exc:
        raise ReleaseRefused(f"manifest of {manifest.version} is not signed by the release key ({exc})") from exc
    if expected_version is not None and manifest.version != expected_version:
        raise ReleaseRefused(f"asked for {expected_version} but the signed manifest is of {manifest.version}")
    return manifest


def check_files(folder: Path, manifest: Manifest) -> None:
    """Raise ReleaseRefused unless each file in ``folder`` has the size and SHA-256 the manifest names."""
    for entry in manifest.files:
        path = folder / entry.name
        if not path.is_file():
            raise ReleaseRefused(f"{entry.name} is missing")
        size = path.stat().st_size
        if size != entry.size:
            raise ReleaseRefused(f"{entry.name} has {size} bytes, the signed manifest says {entry.size}")
        digest = sha256_of(path)
        if digest != entry.sha256:
            raise ReleaseRefused(f"{entry.name} has SHA-256 {digest[:16]}..., the signed manifest says "
                                 f"{entry.sha256[:16]}...")


def is_version(text: str) -> bool:
    return re.fullmatch(messages.VERSION_PATTERN, text) is not None
