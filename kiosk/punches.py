"""Signed punches, made on the kiosk from an accepted decision."""

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.decision import PunchDecision
from kiosk.liveness import liveness_info
from protocol import messages, signing
from protocol.canonical import canonical_json
from protocol.ids import new_punch_id


def punch_fields(*, punch_id: str, device_id: str, site_id: str, decision: PunchDecision, ts: datetime,
                 gallery_version: int, seq: int) -> dict[str, Any]:
    """The unsigned punch as DESIGN.md lays it out; floats rounded so their JSON is short and stable."""
    match = {"distance": round(decision.distance, 4), "gallery_version": gallery_version}
    if decision.margin is not None:
        match["margin"] = round(decision.margin, 4)
    fields: dict[str, Any] = {
        "v": 1, "id": punch_id, "device_id": device_id, "site_id": site_id,
        "employee_id": decision.employee_id, "ts": messages.device_time(ts), "method": decision.method,
        "match": match, "seq": seq,
    }
    live = liveness_info(decision.liveness)
    if live is not None:
        fields["liveness"] = live.model_dump(exclude_none=True)
    return fields


def make_signed_punch(key: Ed25519PrivateKey, **fields: Any) -> tuple[str, bytes]:
    """``(id, payload)`` of a signed punch; validated against the contract before it is stored."""
    punch_id = new_punch_id()
    signed = signing.sign_fields(punch_fields(punch_id=punch_id, **fields), key)
    messages.validate(messages.Punch, signed)
    return punch_id, canonical_json(signed)
