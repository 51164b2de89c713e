"""An employee's phone as admins see it: bound or not, since when, which browser; password set or not.

The device token itself is only ever stored hashed and is never shown; the
label is the browser's user agent, kept so an admin can recognise the phone.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.phone.models import PhoneBinding, PhoneCredential


@dataclass(frozen=True)
class PhoneState:
    bound: bool
    label: str | None
    bound_at: datetime | None
    password_set_at: datetime | None
    revoked: int  # earlier bindings, replaced by a newer activation


def phone_state(session: Session, employee_id: str) -> PhoneState:
    bindings = list(session.scalars(select(PhoneBinding).where(PhoneBinding.employee_id == employee_id)
                                    .order_by(PhoneBinding.id.desc())))
    live = next((b for b in bindings if b.revoked_at is None), None)
    credential = session.get(PhoneCredential, employee_id)
    return PhoneState(bound=live is not None, label=live.label if live else None,
                      bound_at=live.created_at if live else None,
                      password_set_at=credential.set_at if credential else None,
                      revoked=sum(1 for b in bindings if b.revoked_at is not None))
