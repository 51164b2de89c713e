"""Per-punch nonces: issued by the hub, used once, expiring (pure decision).

A captured punch request replayed later carries a used or expired nonce and
is refused; a nonce issued to one employee cannot carry another's punch.
"""

from dataclasses import dataclass
from datetime import datetime

from hub.phone.reasons import Refused


@dataclass(frozen=True)
class NonceRecord:
    employee_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


def check_nonce(record: NonceRecord | None, employee_id: str, now: datetime) -> None:
    """Refuse an unknown, foreign, already used or expired nonce."""
    if record is None or record.employee_id != employee_id:
        raise Refused("nonce_invalid")
    if record.used_at is not None:
        raise Refused("nonce_reused")
    if now >= record.expires_at or now < record.issued_at:
        raise Refused("nonce_expired")
