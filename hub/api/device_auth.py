"""The kiosk as a caller of the HTTPS API: a request signed with its device key (protocol/device_auth.py).

Only the release downloads use it. A kiosk has no login; what it holds is
the Ed25519 key the hub registered at provisioning, the same key that signs
its punches, so a retired kiosk (or a card whose key was never registered)
gets nothing. A caller with a user's credentials gets 403 (users never
download releases through this door), anyone else 401.
"""

from fastapi import HTTPException, Request, status

from hub.api.deps import SessionDep, now
from hub.db import Device
from protocol import device_auth, signing
from protocol.errors import SignatureInvalid

DEVICE = "device"  # the policy name the access test and docs see


def _refused(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Device-Signature"})


def require_device(request: Request, session: SessionDep) -> Device:
    """The registered, active kiosk that signed this request; 401 (or 403 for a user) otherwise."""
    device_id = request.headers.get(device_auth.DEVICE_HEADER)
    if not device_id:
        if request.headers.get("authorization") or request.cookies:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only a kiosk, signing with its device key, may do this")
        raise _refused("a kiosk request must be signed with its device key (X-Device-* headers)")
    device = session.get(Device, device_id)
    if device is None or device.retired_at is not None:
        raise _refused(f"device {device_id!r} is unknown or retired")
    try:
        device_auth.verify_request(request.headers, request.method, request.url.path,
                                   signing.public_key_bytes(device.public_key_b64), now(request))
    except (SignatureInvalid, ValueError) as exc:
        raise _refused(f"device {device_id}: {exc}") from exc
    return device


require_device.roles = frozenset({DEVICE})  # type: ignore[attr-defined]  (read by the access test)
