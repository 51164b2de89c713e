"""Rate limits and lockouts for password and code guessing, and for SMS sends (pure).

A key (a staff number or a client address, per scope) may fail
``max_failures`` times within ``window_s``; the failure that reaches the
limit locks the key for ``lockout_s``, and the count starts afresh after it.
A success clears a staff number's count (the owner got in), but never an
address's: an attacker could otherwise interleave logins to their own
account to keep guessing at others.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hub.phone.config import ThrottleRule
from hub.phone.reasons import Refused


@dataclass(frozen=True)
class ThrottleState:
    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None


def retry_after_s(state: ThrottleState, now: datetime) -> float:
    """Seconds until the key may try again; 0 when it is not locked."""
    if state.locked_until is None or now >= state.locked_until:
        return 0.0
    return (state.locked_until - now).total_seconds()


def check_not_locked(state: ThrottleState, now: datetime, code: str = "locked_out") -> None:
    wait_s = retry_after_s(state, now)
    if wait_s > 0:
        raise Refused(code, retry_after_s=int(wait_s + 0.999), minutes=max(1, int(wait_s / 60 + 0.999)))


def record_failure(state: ThrottleState, rule: ThrottleRule, now: datetime) -> ThrottleState:
    """The state after one more failure (or one more SMS send) at ``now``."""
    window = timedelta(seconds=rule.window_s)
    if state.window_start is None or now - state.window_start >= window:
        state = replace(state, failures=0, window_start=now)
    failures = state.failures + 1
    if failures >= rule.max_failures:
        return ThrottleState(0, None, now + timedelta(seconds=rule.lockout_s))
    return replace(state, failures=failures)


def record_success(state: ThrottleState) -> ThrottleState:
    """A staff number's count after a success; an existing lock stays."""
    return ThrottleState(0, None, state.locked_until)
