"""Notice and consent before biometric enrolment (India's DPDP Act 2023), and withdrawal.

Why a record per person: enrolment (photos, templates) is refused until the
person has been shown the notice (what is kept, why, how long, who sees it:
the ``notice.*`` keys of i18n/catalogues, in their language) and agreed.
The record says which notice version, in which language, how (dashboard,
kiosk screen, phone page, signed paper form) and who recorded it. A newer
``NOTICE_VERSION`` does not void older consents; it is what new ones cite.

Withdrawing consent ends the active records and erases the person's photos
and templates everywhere (hub/enrolment/erasure.py). The withdrawn records
stay as evidence until ``retention.consent_days`` after withdrawal
(``hub purge``).
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.db import Employee, utcnow
from hub.enrolment.erasure import ErasureReport, erase_employee
from hub.enrolment.models import ConsentRecord
from hub.enrolment.photos import PhotoStore
from hub.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

NOTICE_VERSION = "2026-12-v1"
LANGUAGES = ("en", "hi")
CHANNELS = ("dashboard", "kiosk", "phone", "paper")
NO_CONSENT = ("no consent on record: show the person the notice and record their consent "
              "(person page, phone page or `hub enrol --consent-given`) before enrolling")


class ConsentMissing(Conflict):
    """Enrolment asked for a person who has no active consent record."""


@dataclass(frozen=True)
class ConsentTaken:
    """Consent given away from the hub's own screens (a signed paper form, the kiosk's consent screen),
    attested by ``recorded_by``; ``apply_enrolment`` records it for each person it enrols."""

    channel: str
    recorded_by: str
    language: str = "en"


def active(session: Session, employee_id: str) -> ConsentRecord | None:
    """The person's newest consent that is not withdrawn, or None."""
    return session.scalars(select(ConsentRecord).where(
        ConsentRecord.employee_id == employee_id, ConsentRecord.withdrawn_at.is_(None))
        .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc()).limit(1)).first()


def history(session: Session, employee_id: str) -> list[ConsentRecord]:
    """Every consent record of the person, newest first."""
    return list(session.scalars(select(ConsentRecord).where(ConsentRecord.employee_id == employee_id)
                                .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())))


def require(session: Session, employee_id: str) -> ConsentRecord:
    """The active consent of ``employee_id``; ConsentMissing (with what to do) when there is none."""
    record = active(session, employee_id)
    if record is None:
        raise ConsentMissing(f"employee {employee_id}: {NO_CONSENT}")
    return record


def record(session: Session, employee_id: str, *, language: str, channel: str, recorded_by: str,
           notice_version: str = NOTICE_VERSION) -> ConsentRecord:
    """Record that ``employee_id`` agreed to the notice; the caller commits. An active consent is kept
    as it is (recording again changes nothing)."""
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    if session.get(Employee, employee_id) is None:
        raise NotFound(f"unknown employee {employee_id!r}")
    existing = active(session, employee_id)
    if existing is not None:
        return existing
    row = ConsentRecord(employee_id=employee_id, notice_version=notice_version, language=language,
                        channel=channel, recorded_by=recorded_by[:100], given_at=utcnow())
    session.add(row)
    session.flush()
    log.info("consent of employee %s recorded (%s, %s, notice %s)", employee_id, channel, language, notice_version)
    return row


def withdraw(session: Session, store: PhotoStore, employee_id: str, *, actor: Principal,
             reason: str) -> ErasureReport:
    """End the person's consent and erase their photos and templates everywhere; the caller commits."""
    records = [r for r in history(session, employee_id) if r.withdrawn_at is None]
    if not records:
        raise ConsentMissing(f"employee {employee_id} has no active consent to withdraw")
    now = utcnow()
    for row in records:
        row.withdrawn_at, row.withdrawn_by = now, actor.username[:100]
    report = erase_employee(session, store, employee_id, actor=actor, reason=f"consent withdrawn: {reason}")
    audit.record(session, actor, "consent.withdraw", f"employee:{employee_id}", None,
                 {"records": [r.id for r in records], "reason": " ".join(reason.split())})
    return report
