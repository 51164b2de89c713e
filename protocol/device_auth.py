"""A kiosk's HTTPS requests to the hub, signed with its device key.

A kiosk has no password for the hub's API; it proves who it is as it does
for punches: an Ed25519 signature by the key made at provisioning, whose
public half the hub holds. The signature covers the device id, the method,
the path and the time, so a captured request is good for ``MAX_SKEW_S``
only and for that one path. The hub checks it in hub/api/device_auth.py;
kiosk/updater.py signs its release downloads with it.
"""

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import signing
from protocol.canonical import canonical_json
from protocol.errors import SignatureInvalid

DEVICE_HEADER = "X-Device-Id"
TIME_HEADER = "X-Device-Time"
SIGNATURE_HEADER = "X-Device-Signature"
MAX_SKEW_S = 300.0


def signed_bytes(device_id: str, method: str, path: str, ts: str) -> bytes:
    return canonical_json({"device_id": device_id, "method": method.upper(), "path": path, "ts": ts})


def sign_request(key: Ed25519PrivateKey, device_id: str, method: str, path: str, now: datetime) -> dict[str, str]:
    """The headers that authenticate one request for ``path`` (no query string) at ``now``."""
    ts = now.isoformat(timespec="seconds")
    signature = key.sign(signed_bytes(device_id, method, path, ts))
    return {DEVICE_HEADER: device_id, TIME_HEADER: ts,
            SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii")}


def verify_request(headers: Mapping[str, str], method: str, path: str, public_key: bytes, now: datetime,
                   max_skew_s: float = MAX_SKEW_S) -> None:
    """Raise SignatureInvalid (with why) unless the headers sign this request by ``public_key`` near ``now``."""
    device_id, ts, sig = (headers.get(h) for h in (DEVICE_HEADER, TIME_HEADER, SIGNATURE_HEADER))
    if not device_id or not ts or not sig:
        raise SignatureInvalid("device signature headers missing")
    try:
        when = datetime.fromisoformat(ts)
    except ValueError as exc:
        raise SignatureInvalid(f"{TIME_HEADER} is not an ISO 8601 time") from exc
    if when.tzinfo is None:
        raise SignatureInvalid(f"{TIME_HEADER} has no UTC offset")
    if abs(now - when) > timedelta(seconds=max_skew_s):
        raise SignatureInvalid(f"{TIME_HEADER} is {abs((now - when).total_seconds()):.0f} s from the hub's time "
                               f"(at most {max_skew_s:.0f} s): check the kiosk's clock")
    try:
        signature = base64.b64decode(sig, validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("bad signature: not base64") from exc
    signing.check_signature(signature, signed_bytes(device_id, method, path, ts), public_key)
