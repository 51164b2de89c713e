"""Errors raised by the hub's data functions; the API and CLI translate them.

Each leaf also subclasses the matching built-in, so callers that only know
Python's own exceptions still catch them sensibly.
"""


class HubError(Exception):
    """Root of every error this package raises on purpose."""


class NotFound(HubError, LookupError):
    """A site, device or employee named in a request does not exist."""


class Conflict(HubError, ValueError):
    """The request contradicts what is stored (e.g. a device re-registered with another key)."""


class InvalidInput(HubError, ValueError):
    """A value is malformed (bad public key, bad device id)."""


class Unauthorized(HubError, PermissionError):
    """No valid credentials: wrong password, unknown user, expired or missing session."""


class Forbidden(HubError, PermissionError):
    """Valid credentials, but this user may not do or see that."""


class TooManyAttempts(HubError, PermissionError):
    """Login locked for a while after repeated failures (per user name or client address)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def on_field(error: HubError, field: str) -> HubError:
    """Name the input field ``error`` is about; the API then answers as FastAPI does for a bad field
    (``{"detail": [{"loc": ["body", field], "msg": ...}]}``, the status of the error's class), so a
    form shows the message beside that field. The message itself is unchanged (the CLI prints it)."""
    error.field = field  # type: ignore[attr-defined]
    return error
