"""The phone fallback assembled: accounts, punching, and the audit of refusals.

Constructing it does no I/O; dlib's models load on the first selfie and the
SMS outbox file is opened per message.
"""

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from biometrics.encoder import FaceEncoder
from hub.db import utcnow
from hub.phone.accounts import PhoneAccounts
from hub.phone.config import PhoneConfig
from hub.phone.guard import Context, record_refusal
from hub.phone.punching import KioskStatus, PhonePunching, unknown_kiosk_status
from hub.phone.reasons import Refused
from hub.phone.sms import OutboxFileSender, SmsSender


class PhoneService:
    def __init__(
        self,
        config: PhoneConfig,
        session_factory: sessionmaker[Session],
        *,
        encoder: FaceEncoder | None = None,
        sms: SmsSender | None = None,
        clock: Callable[[], datetime] = utcnow,
        kiosk_status: KioskStatus = unknown_kiosk_status,
        kiosk_stale_after_s: float = 180.0,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._factory = session_factory
        self._clock = clock
        self.accounts = PhoneAccounts(config, session_factory, sms or OutboxFileSender(config.sms_outbox), clock)
        self.punching = PhonePunching(config, session_factory, encoder or FaceEncoder(), clock, kiosk_status,
                                      kiosk_stale_after_s, rng)  # rng: the challenge draw (SystemRandom)

    @contextmanager
    def audited(self, step: str, address: str | None, employee_id: str | None = None) -> Iterator[Context]:
        """Run a step; a refusal leaves an audit row (with what the step learnt) and propagates."""
        context = Context(step, address, employee_id)
        try:
            yield context
        except Refused as refused:
            record_refusal(self._factory, context, refused, self._clock())
            raise
