"""``hub purge``: delete what is past its retention period and say how many of each.

Each kind is one DELETE on its own time column (indexed), so a nightly run
stays short on a state-sized database. Enrolment photos go through
``hub.enrolment.photos.purge`` (files before rows). Consent records are
deleted only once withdrawn (the person was erased) and the period has run
since the withdrawal; an active consent is never purged. The audit log
gets one entry naming the counts (after the audit purge, so it is kept).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.models import AuditEntry, LoginFailure
from hub.accounts.principal import Principal
from hub.config import HubConfig
from hub.db import DeviceHealthSample, RejectedMessage
from hub.enrolment import photos
from hub.enrolment.models import ConsentRecord
from hub.phone.models import PhoneFrameHash, PhoneRefusal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    name: str        # what ``hub purge`` prints
    days: float      # the period
    deleted: int


def purge(session: Session, config: HubConfig, *, now: datetime, actor: Principal,
          store: photos.PhotoStore | None = None) -> list[Kind]:
    """Delete every record past its period (as of ``now``); the caller commits. ``store``: also the photos."""
    r = config.retention
    tables = [
        ("audit log entries", r.audit_days, AuditEntry, AuditEntry.at, ()),
        ("failed logins", r.login_failures_days, LoginFailure, LoginFailure.at, ()),
        ("phone refusals", r.phone_refusals_days, PhoneRefusal, PhoneRefusal.at, ()),
        ("phone frame hashes", r.phone_frame_hashes_days, PhoneFrameHash, PhoneFrameHash.at, ()),
        ("rejected messages", r.rejected_messages_days, RejectedMessage, RejectedMessage.received_at, ()),
        ("kiosk health samples", config.health.history_days, DeviceHealthSample, DeviceHealthSample.received_at, ()),
        ("consent records of erased people", r.consent_days, ConsentRecord, ConsentRecord.withdrawn_at,
         (ConsentRecord.withdrawn_at.is_not(None),)),
    ]
    kinds = []
    for name, days, model, column, extra in tables:
        result = session.execute(delete(model).where(column < now - timedelta(days=days), *extra)
                                 .execution_options(synchronize_session=False))
        kinds.append(Kind(name, days, result.rowcount or 0))
    if store is not None:
        days = config.enrolment.photo_retention_days
        kinds.append(Kind("enrolment photos", days, photos.purge(session, store, retention_days=days, now=now)))
    counts = {k.name: k.deleted for k in kinds}
    if any(counts.values()):
        audit.record(session, actor, "retention.purge", "retention", None, counts)
    log.info("purge: %s", ", ".join(f"{k.name} {k.deleted}" for k in kinds))
    return kinds
