"""Errors raised while decoding, validating or verifying protocol messages."""


class ProtocolError(Exception):
    """Root of every error this package raises."""


class MessageInvalid(ProtocolError, ValueError):
    """A payload is not valid JSON or does not match its schema.

    ``reason`` is a short, stable text that the hub puts into a rejection ack
    and the audit log, e.g. ``"schema: ts: Field required"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureInvalid(ProtocolError, ValueError):
    """A signed message does not verify against the sender's public key."""

    def __init__(self, reason: str = "bad signature") -> None:
        super().__init__(reason)
        self.reason = reason
