"""The kiosk's gallery cache on disk: face templates only, encrypted, replaced atomically.

Why a cache at all: a kiosk that reboots while the hub is unreachable must
still recognise its staff. What it holds: employee ids, display names and
128-d float32 templates, never photos (DESIGN.md, "Biometric data stays in
place").

Encryption: AES-256-GCM (``cryptography``'s AESGCM) under a 32-byte key
from a ``GalleryKeySource`` (kiosk/gallery_key.py): by default the key the
hub sends at every start and the kiosk holds in memory only, so the files
of a stolen card alone do not open the cache; or, opted in with
``gallery.key_source: card``, a key derived from the device key file
(boots offline, but the card holds everything needed to read it).
The scheme a file was written under is in its header: a file of the other
scheme, or of format 1 (the old card-derived scheme), is refused with a
GalleryStoreError and the kiosk asks the hub for the full gallery.

File layout (little-endian)::

    magic "FAGALLRY" | u16 format | u8 key scheme | u64 version | u16 len + site_id utf-8
    | 12-byte nonce | ciphertext+tag

Everything before the nonce is the GCM associated data, so the scheme,
version and site cannot be altered or swapped between files. The plaintext is a compact
binary payload (counts, ids, names, a float32 matrix) that numpy reads in one
step: 10,000 people x 3 templates load in milliseconds (BENCHMARKS-hardware.md).

What the kiosk does with a GalleryStoreError (tampered or damaged file,
another key or key scheme, unknown format): treat it as "no gallery", log it,
and ask the hub for the full gallery (``GalleryRequest`` with
``have_version=0``); the next save replaces the bad file. A save is atomic:
a crash or a full disk mid-save leaves the previous file intact.
"""

import logging
import os
import struct
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.gallery_key import SCHEME_NAMES, GalleryKeySource

log = logging.getLogger(__name__)

MAGIC = b"FAGALLRY"
FORMAT_VERSION = 2  # 1: no key scheme in the header, always the card-derived key
DIMS = 128
NONCE_BYTES = 12

People = dict[str, tuple[str, list[np.ndarray]]]  # employee_id -> (name, templates)

_FIXED = struct.Struct("<8sHBQH")  # magic, format, key scheme, version, len(site_id)
_COUNTS = struct.Struct("<III")   # people, templates, dims


class GalleryStoreError(ValueError):
    """The cache file is damaged, was altered, was written with another key or scheme, or has an unknown format."""


def _header(scheme: int, version: int, site_id: str) -> bytes:
    site = site_id.encode("utf-8")
    return _FIXED.pack(MAGIC, FORMAT_VERSION, scheme, version, len(site)) + site


def _pack_strings(values: Sequence[str]) -> bytes:
    encoded = [v.encode("utf-8") for v in values]
    return np.asarray([len(e) for e in encoded], dtype="<u4").tobytes() + b"".join(encoded)


def encode_payload(people: Mapping[str, tuple[str, Sequence[np.ndarray]]]) -> bytes:
    """counts | id lengths + ids | name lengths + names | template counts | float32 matrix.

    Refuses what could not be matched later; messages never show template values.
    """
    ids = list(people)
    for employee_id in ids:
        name, templates = people[employee_id]
        if not isinstance(employee_id, str) or not employee_id:
            raise ValueError(f"employee id must be a non-empty string, got {employee_id!r}")
        if not isinstance(name, str):
            raise ValueError(f"name of {employee_id} must be a string")
        if any(np.size(t) != DIMS for t in templates):
            raise ValueError(f"a template of {employee_id} does not have {DIMS} values")
    counts = np.asarray([len(people[i][1]) for i in ids], dtype="<u4")
    rows = [np.asarray(t, dtype="<f4").reshape(DIMS) for i in ids for t in people[i][1]]
    matrix = np.stack(rows) if rows else np.zeros((0, DIMS), "<f4")
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        owner = int(np.searchsorted(np.cumsum(counts), int(np.argmin(finite)), side="right"))
        raise ValueError(f"a template of {ids[owner]} holds NaN or infinity")
    return b"".join([
        _COUNTS.pack(len(ids), len(rows), DIMS),
        _pack_strings(ids),
        _pack_strings([people[i][0] for i in ids]),
        counts.tobytes(),
        matrix.tobytes(),
    ])


class _Reader:
    """Reads the payload front to back; any overrun is a damaged payload."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise GalleryStoreError("gallery payload is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype=dtype)

    def strings(self, count: int) -> list[str]:
        lengths = self.array("<u4", count)
        blob = bytes(self.take(int(lengths.sum(dtype=np.int64))))
        ends = np.cumsum(lengths, dtype=np.int64).tolist()
        starts = [0] + ends[:-1]
        return [blob[a:b].decode("utf-8") for a, b in zip(starts, ends)]


def decode_payload(data: bytes) -> People:
    r = _Reader(data)
    n_people, n_rows, dims = _COUNTS.unpack(r.take(_COUNTS.size))
    if dims != DIMS:
        raise GalleryStoreError(f"gallery payload has {dims}-d templates, expected {DIMS}")
    ids = r.strings(n_people)
    names = r.strings(n_people)
    counts = r.array("<u4", n_people)
    if int(counts.sum(dtype=np.int64)) != n_rows:
        raise GalleryStoreError("gallery payload template counts do not add up")
    matrix = r.array("<f4", n_rows * DIMS).reshape(n_rows, DIMS).astype(np.float32)  # one writable copy
    if r.pos != len(r.data):
        raise GalleryStoreError("gallery payload has trailing bytes")
    people: People = {}
    start = 0
    for employee_id, name, count in zip(ids, names, counts.tolist()):
        people[employee_id] = (name, list(matrix[start:start + count]))
        start += count
    return people


class EncryptedGalleryStore:
    """One gallery cache file at ``path``, encrypted under the key of ``key_source``.

    Saving or loading before a hub key has come raises ``GalleryLocked``
    (kiosk/gallery_key.py), and leaves the file as it is.
    """

    def __init__(self, path: Path, key_source: GalleryKeySource) -> None:
        self.path = Path(path)
        self.key_source = key_source
        self._lock = threading.Lock()

    @property
    def temp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    def save(self, version: int, site_id: str, people: Mapping[str, tuple[str, Sequence[np.ndarray]]]) -> None:
        """Encrypt and atomically replace the cache. The old file stays whole if this fails."""
        if not 0 <= version < 2**64:
            raise ValueError(f"gallery version must be 0..2^64-1, got {version}")
        header = _header(self.key_source.scheme, version, site_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key_source.key()).encrypt(nonce, encode_payload(people), header)
        with self._lock:
            self._replace(header + nonce + sealed)
        log.info("gallery cache saved: version %s, site %s, %d people", version, site_id, len(people))

    def _replace(self, blob: bytes) -> None:
        tmp = self.temp_path
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OSError(exc.errno, f"cannot save the gallery cache {self.path}: {exc.strerror or exc}") from exc
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def load(self) -> tuple[int, str, People] | None:
        """``(version, site_id, people)``; None when there is no cache yet."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        version, site_id, header_len = self._parse_header(blob)
        nonce = blob[header_len:header_len + NONCE_BYTES]
        if len(nonce) != NONCE_BYTES:
            raise GalleryStoreError(f"gallery cache {self.path} is truncated")
        try:
            payload = AESGCM(self.key_source.key()).decrypt(nonce, blob[header_len + NONCE_BYTES:], blob[:header_len])
        except InvalidTag as exc:
            raise GalleryStoreError(
                f"gallery cache {self.path} failed authentication: it was altered or damaged, "
                "or written with another key (another device, or a re-provisioned one)"
            ) from exc
        return version, site_id, decode_payload(payload)

    def _parse_header(self, blob: bytes) -> tuple[int, str, int]:
        if len(blob) < _FIXED.size or blob[:len(MAGIC)] != MAGIC:
            raise GalleryStoreError(f"{self.path} is not a gallery cache file")
        fmt = struct.unpack_from("<H", blob, len(MAGIC))[0]
        if fmt == 1:
            raise GalleryStoreError(f"gallery cache {self.path} was written under the old card-derived key "
                                    "scheme (format 1); it is not read any more")
        if fmt != FORMAT_VERSION:
            raise GalleryStoreError(f"gallery cache {self.path} has format {fmt}; this kiosk reads format {FORMAT_VERSION}")
        _, _, scheme, version, site_len = _FIXED.unpack_from(blob)
        if scheme != self.key_source.scheme:
            raise GalleryStoreError(
                f"gallery cache {self.path} was written under the {SCHEME_NAMES.get(scheme, scheme)!r} key "
                f"scheme; this kiosk's gallery.key_source is {SCHEME_NAMES[self.key_source.scheme]!r}")
        end = _FIXED.size + site_len
        try:
            site_id = blob[_FIXED.size:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GalleryStoreError(f"gallery cache {self.path} has a damaged header") from exc
        return version, site_id, end
