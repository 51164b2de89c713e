"""Activation by SMS code, password, phone binding, login and sessions.

Activation: staff number -> a code to the registered mobile -> the code
entered -> a password set -> this phone bound by a device token it keeps.
Asking for a code answers the same, in the same time class (one Argon2
hash), whether the staff number exists, has left, has no mobile or gets its
SMS: the page never learns which, so it cannot list staff numbers. Sends are
limited per requesting address, per (staff number, address) and, more
generously, per staff number, so strangers cannot use up the owner's codes.
Each activation revokes the employee's earlier bindings and their sessions,
so a lost or changed phone stops working the moment a new one is bound.
Login needs the bound phone's device token *and* the password.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Employee
from hub.phone import otp, passwords
from hub.phone.config import PhoneConfig
from hub.phone.guard import charge, check, fail, succeed
from hub.phone.models import PhoneActivation, PhoneBinding, PhoneCredential, PhoneSession
from hub.phone.reasons import Refused
from hub.phone.sms import SmsFailed, SmsSender, activation_text
from hub.phone.tokens import is_plausible_token, new_token, token_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who is calling: an authenticated session on a bound phone."""

    employee_id: str
    binding_id: int
    session_id: int


@dataclass(frozen=True)
class CodeSent:
    """The answer to every code request that is not refused for its rate: no sign of whether an
    SMS went out (an unknown staff number gets an activation id that no code will ever match)."""

    activation_id: str
    expires_at: datetime


@dataclass(frozen=True)
class LoggedIn:
    employee_id: str
    session_token: str
    expires_at: datetime
    device_token: str | None = None  # only when a new binding was just made


class PhoneAccounts:
    def __init__(self, config: PhoneConfig, session_factory: sessionmaker[Session], sms: SmsSender,
                 clock: Callable[[], datetime]) -> None:
        self.config = config
        self._factory = session_factory
        self._sms = sms
        self._clock = clock

    # --- activation -------------------------------------------------------

    def start_activation(self, employee_id: str, address: str) -> CodeSent:
        """Send a new code (earlier unused codes of the employee become void); see the module doc
        for why an unknown, inactive or mobile-less staff number gets the same answer."""
        cfg, now = self.config, self._clock()
        expires_at = now + timedelta(seconds=cfg.otp_ttl_s)
        with self._factory() as session:
            charge(session, [("sms:address", address, cfg.sms_per_address)], now, code="sms_limit")
            session.commit()  # the address pays for every request, refused or not
            # charged by the number as typed, existing or not, so a refusal tells nothing either
            charge(session, [("sms:requester", f"{employee_id} {address}"[:128], cfg.sms_per_requester),
                             ("sms:employee", employee_id, cfg.sms_per_employee)], now, code="sms_limit")
            session.commit()
            employee = session.get(Employee, employee_id)
            if employee is None or not employee.active or not employee.mobile:
                otp.hash_code(otp.new_code())  # the time a real request spends hashing its code
                log.info("activation asked for a staff number that cannot receive a code")
                return CodeSent(new_token(), expires_at)
            session.execute(update(PhoneActivation).where(
                PhoneActivation.employee_id == employee_id, PhoneActivation.closed_at.is_(None)
            ).values(closed_at=now))
            code = otp.new_code()
            activation = PhoneActivation(
                public_id=new_token(), employee_id=employee_id, code_hash=otp.hash_code(code), created_at=now,
                expires_at=expires_at, attempts=0)
            session.add(activation)
            try:
                self._sms.send(employee.mobile, activation_text(code, int(cfg.otp_ttl_s // 60)), purpose="activation")
            except SmsFailed as exc:
                raise Refused("sms_failed") from exc
            session.commit()
            log.info("activation code sent for employee %s", employee_id)
            return CodeSent(activation.public_id, activation.expires_at)

    def verify_code(self, activation_id: str, code: str, address: str) -> str:
        """Check the code; returns the one-time token that allows setting the password.

        The entry is counted (against the code and the staff number from this
        address) before the code is compared, in one short transaction, so
        parallel guesses cannot outrun the attempt limit. Counted per address:
        a stranger's wrong codes must not lock the owner out; all guessing at
        one number stays bounded by codes sent (sms_per_employee) times
        otp_max_attempts.
        """
        cfg, now = self.config, self._clock()
        with self._factory() as session:
            activation = self._activation(session, activation_id)
            check(session, [("code:address", address)], now)
            if activation is None:  # also the id given for a number that got no code: it costs a guess
                fail(session, [("code:address", address, cfg.code_per_address)], now)
                session.commit()
                raise Refused("activation_invalid")
            employee_id = activation.employee_id
            requester = f"{employee_id} {address}"[:128]
            charge(session, [("code:requester", requester, cfg.code_per_employee)], now)
            attempts = session.execute(update(PhoneActivation).where(
                PhoneActivation.id == activation.id, PhoneActivation.attempts < cfg.otp_max_attempts,
                PhoneActivation.closed_at.is_(None), PhoneActivation.verified_at.is_(None),
                PhoneActivation.expires_at > now,
            ).values(attempts=PhoneActivation.attempts + 1).returning(PhoneActivation.attempts)).scalar_one_or_none()
            if attempts is None:  # not a guess: say why the code cannot be used
                session.rollback()
                activation = self._activation(session, activation_id)
                otp.check_usable(otp.CodeState(
                    activation.expires_at, activation.attempts,
                    activation.closed_at is not None or activation.verified_at is not None), now, cfg.otp_max_attempts)
                raise Refused("activation_invalid")  # reads back usable: a parallel request changed it meanwhile
            session.commit()
        if not otp.code_matches(activation.code_hash, code):
            with self._factory() as session:
                fail(session, [("code:address", address, cfg.code_per_address)], now)
                session.commit()
            raise otp.wrong_code(attempts, cfg.otp_max_attempts)
        setup_token = new_token()
        with self._factory() as session:
            won = session.execute(update(PhoneActivation).where(
                PhoneActivation.id == activation.id, PhoneActivation.verified_at.is_(None),
                PhoneActivation.closed_at.is_(None),
            ).values(verified_at=now, setup_hash=token_hash(setup_token),
                     setup_expires_at=now + timedelta(seconds=cfg.setup_ttl_s))).rowcount
            if won != 1:
                raise Refused("activation_invalid")  # verified by a parallel request a moment ago
            succeed(session, "code:requester", requester)
            session.commit()
        return setup_token

    def complete_activation(self, activation_id: str, setup_token: str, password: str, label: str | None) -> LoggedIn:
        """Set the password, bind this phone (revoking earlier ones) and log in."""
        cfg, now = self.config, self._clock()
        with self._factory() as session:
            activation = self._activation(session, activation_id)
            if (activation is None or activation.closed_at is not None or activation.setup_hash is None
                    or not is_plausible_token(setup_token) or activation.setup_hash != token_hash(setup_token)
                    or activation.setup_expires_at is None or now >= activation.setup_expires_at):
                raise Refused("setup_invalid")
            employee = self._active_employee(session, activation.employee_id)
            passwords.check_strength(password, min_length=cfg.min_password_length,
                                     identity=[employee.employee_id, employee.mobile or "", employee.name])
            credential = session.get(PhoneCredential, employee.employee_id)
            if credential is None:
                credential = PhoneCredential(employee_id=employee.employee_id)
                session.add(credential)
            credential.password_hash, credential.set_at = passwords.hash_secret(password), now
            self._revoke_bindings(session, employee.employee_id, now)
            device_token = new_token()
            binding = PhoneBinding(employee_id=employee.employee_id, token_hash=token_hash(device_token),
                                   label=(label or "")[:200] or None, created_at=now)
            session.add(binding)
            activation.closed_at = now
            session.flush()
            session_token, expires_at = self._new_session(session, employee.employee_id, binding.id, now)
            session.commit()
            log.info("phone bound for employee %s (binding %s)", employee.employee_id, binding.id)
            return LoggedIn(employee.employee_id, session_token, expires_at, device_token)

    # --- login and sessions -------------------------------------------------

    def login(self, employee_id: str, password: str, device_token: str | None, address: str) -> LoggedIn:
        """Staff number + password from the bound phone. The attempt is counted against the
        staff number before the password is checked (see ``verify_code``)."""
        cfg, now = self.config, self._clock()
        with self._factory() as session:
            check(session, [("login:employee", employee_id), ("login:address", address)], now)
            employee = session.get(Employee, employee_id)
            if employee is None:
                self._login_failure(session, address, now, "login_failed")
            if not employee.active:
                raise Refused("employee_inactive")
            binding = self._binding_by_token(session, device_token)
            if binding is None or binding.employee_id != employee_id:
                self._login_failure(session, address, now, "phone_not_bound")
            charge(session, [("login:employee", employee_id, cfg.login_per_employee)], now)
            session.commit()
            credential = session.get(PhoneCredential, employee_id)
        if credential is None or not passwords.verify_secret(credential.password_hash, password):
            with self._factory() as session:
                self._login_failure(session, address, now, "login_failed")
        with self._factory() as session:
            if passwords.needs_rehash(credential.password_hash):
                session.get(PhoneCredential, employee_id).password_hash = passwords.hash_secret(password)
            succeed(session, "login:employee", employee_id)
            session_token, expires_at = self._new_session(session, employee_id, binding.id, now)
            session.commit()
            return LoggedIn(employee_id, session_token, expires_at)

    def authenticate(self, session_token: str | None, device_token: str | None) -> Identity:
        """The caller of a punch endpoint, or a refusal saying what is wrong."""
        now = self._clock()
        if not session_token:
            raise Refused("session_missing")
        if not is_plausible_token(session_token):
            raise Refused("session_invalid")
        with self._factory() as session:
            row = session.scalars(
                select(PhoneSession).where(PhoneSession.token_hash == token_hash(session_token))).first()
            if row is None:
                raise Refused("session_invalid")
            binding = session.get(PhoneBinding, row.binding_id)
            # a revoked binding first: the phone needs activating again, not just a login
            if (binding is None or binding.revoked_at is not None or not is_plausible_token(device_token)
                    or binding.token_hash != token_hash(device_token)):
                raise Refused("phone_not_bound")
            if row.revoked_at is not None:
                raise Refused("session_invalid")
            if now >= row.expires_at:
                raise Refused("session_expired")
            self._active_employee(session, row.employee_id)
            return Identity(row.employee_id, row.binding_id, row.id)

    def profile(self, identity: Identity) -> dict[str, str]:
        with self._factory() as session:
            employee = self._active_employee(session, identity.employee_id)
            return {"employee_id": employee.employee_id, "name": employee.name, "home_site_id": employee.home_site_id}

    def logout(self, identity: Identity) -> None:
        with self._factory() as session:
            session.execute(update(PhoneSession).where(PhoneSession.id == identity.session_id)
                            .values(revoked_at=self._clock()))
            session.commit()

    # --- helpers ----------------------------------------------------------

    @staticmethod
    def _activation(session: Session, activation_id: str) -> PhoneActivation | None:
        if not is_plausible_token(activation_id):
            return None
        return session.scalars(
            select(PhoneActivation).where(PhoneActivation.public_id == activation_id).with_for_update()).first()

    @staticmethod
    def _active_employee(session: Session, employee_id: str) -> Employee:
        employee = session.get(Employee, employee_id)
        if employee is None:
            raise Refused("employee_unknown")
        if not employee.active:
            raise Refused("employee_inactive")
        return employee

    @staticmethod
    def _binding_by_token(session: Session, device_token: str | None) -> PhoneBinding | None:
        if not is_plausible_token(device_token):
            return None
        binding = session.scalars(
            select(PhoneBinding).where(PhoneBinding.token_hash == token_hash(device_token))).first()
        return binding if binding is not None and binding.revoked_at is None else None

    def _login_failure(self, session: Session, address: str, now: datetime, code: str) -> NoReturn:
        fail(session, [("login:address", address, self.config.login_per_address)], now)
        session.commit()
        raise Refused(code)

    @staticmethod
    def _revoke_bindings(session: Session, employee_id: str, now: datetime) -> None:
        live = select(PhoneBinding.id).where(PhoneBinding.employee_id == employee_id, PhoneBinding.revoked_at.is_(None))
        session.execute(update(PhoneSession).where(PhoneSession.binding_id.in_(live), PhoneSession.revoked_at.is_(None))
                        .values(revoked_at=now))
        session.execute(update(PhoneBinding).where(PhoneBinding.employee_id == employee_id,
                                                   PhoneBinding.revoked_at.is_(None)).values(revoked_at=now))

    def _new_session(self, session: Session, employee_id: str, binding_id: int, now: datetime) -> tuple[str, datetime]:
        token = new_token()
        expires_at = now + timedelta(seconds=self.config.session_ttl_s)
        session.add(PhoneSession(token_hash=token_hash(token), employee_id=employee_id, binding_id=binding_id,
                                 created_at=now, expires_at=expires_at))
        return token, expires_at
