"""The contract between kiosks and the hub (see ../shared/DESIGN.md).

This package is imported by both sides and depends only on pydantic and
cryptography, so a kiosk, the hub and test tools agree on one definition of
every topic and message.
"""

from protocol.errors import MessageInvalid, ProtocolError, SignatureInvalid

__all__ = ["MessageInvalid", "ProtocolError", "SignatureInvalid"]
