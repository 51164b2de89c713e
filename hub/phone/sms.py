"""Sending the activation code: a pluggable SMS sender.

``OutboxFileSender`` (the default) appends each message as one JSON line to a
file an admin can read and relay (or that a gateway script tails); a real
SMS gateway is another class with the same ``send``. Neither the number
nor the text is ever written to the normal log: the text holds the code.
"""

import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from hub.phone import PhoneError

log = logging.getLogger(__name__)


class SmsFailed(PhoneError, OSError):
    """The message could not be handed over for delivery."""


class SmsSender(Protocol):
    def send(self, mobile: str, text: str, *, purpose: str) -> None:
        """Hand ``text`` over for delivery to ``mobile`` or raise SmsFailed."""


class OutboxFileSender:
    """Appends ``{"ts", "to", "purpose", "text"}`` lines to ``path`` (created with mode 0600,
    its missing folders with 0700).

    Each line is written with one ``write`` call on an ``O_APPEND`` descriptor
    and fsynced, so concurrent API workers never interleave half lines and a
    sent code survives a crash of the hub.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, mobile: str, text: str, *, purpose: str) -> None:
        line = json.dumps({"ts": datetime.now(timezone.utc).isoformat(), "to": mobile, "purpose": purpose,
                           "text": text}, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            log.error("SMS outbox %s cannot be written: %s", self.path, exc.strerror)
            raise SmsFailed(f"SMS outbox {self.path} cannot be written") from exc
        log.info("SMS (%s) queued in the outbox file", purpose)


def outbox_problem(path: Path) -> str | None:
    """Why the sender could not append to ``path``, or None: an existing file must take an
    append, a missing one must be creatable (the nearest existing folder writable)."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            return f"{path} cannot be written: {exc.strerror}"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{path} cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created: {parent} is not writable by this user"
    return None


def read_outbox(path: Path) -> list[dict]:
    """Every message in an outbox file, oldest first (for admins and tests)."""
    if not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def activation_text(code: str, ttl_min: int) -> str:
    """The SMS body, English then Hindi."""
    return (f"Attendance phone activation code: {code}. Valid {ttl_min} min. Do not share it. "
            f"उपस्थिति फ़ोन सक्रियण कोड: {code}। {ttl_min} मिनट तक मान्य। किसी को न बताएँ।")
