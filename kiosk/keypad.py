"""The numeric keypad a person types their staff number on when the face alone fails.

A ``Keypad`` is polled from the frame loop and returns the keys pressed since
the last poll as plain names: ``"0"``-``"9"``, ``"enter"``, ``"back"`` and
``"cancel"``. Polling (never a callback thread) keeps the kiosk's decisions on
one thread, timed by the frame clock like everything else in an attempt.

Shipped here, like gpiozero's mock pins:
- ``FakeKeypad``: keys a test (or a bench) types; it behaves, it does not record calls;
- ``EvdevKeypad``: a USB keypad (or keyboard) seen by Linux as an input device,
  read with ``python-evdev``, imported only when one is opened (a Pi extra);
- ``KeypadEntry``: the digits typed so far (pure), so the screen can echo them.

A touchscreen keypad is one more ``Keypad`` that turns touches into the same
key names; the kiosk screen (kscreen) can add it without changing the fallback.
"""

import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

KEYS = frozenset("0123456789") | {"enter", "back", "cancel"}

# Linux key codes (linux/input-event-codes.h) -> our key names: the main row and the keypad block.
EVDEV_KEYS: dict[int, str] = {
    **{code: str(d) for code, d in zip(range(2, 11), range(1, 10))}, 11: "0",        # KEY_1..KEY_9, KEY_0
    **{71: "7", 72: "8", 73: "9", 75: "4", 76: "5", 77: "6", 79: "1", 80: "2", 81: "3", 82: "0"},  # KEY_KP*
    28: "enter", 96: "enter",                     # KEY_ENTER, KEY_KPENTER
    14: "back", 111: "back", 83: "back",          # KEY_BACKSPACE, KEY_DELETE, KEY_KPDOT
    1: "cancel", 74: "cancel", 69: "cancel",      # KEY_ESC, KEY_KPMINUS, KEY_NUMLOCK
}


class KeypadError(OSError):
    """The keypad cannot be opened or read (device gone, no permission, evdev missing)."""


@runtime_checkable
class Keypad(Protocol):
    def open(self) -> None:
        """Acquire the device; raises KeypadError with the reason."""

    def poll(self) -> list[str]:
        """Keys pressed since the last call, oldest first; never blocks."""

    def close(self) -> None:
        """Release the device; safe to call twice."""


class FakeKeypad:
    """Keys typed by a test: ``type("1001", "enter")``; thread-safe, as a real one would be."""

    def __init__(self) -> None:
        self._keys: deque[str] = deque()
        self._lock = threading.Lock()
        self.opened = False

    def type(self, *keys: str) -> None:
        """Queue keys: each argument is a key name, or a string of digits typed one by one."""
        expanded = [k for key in keys for k in ([*key] if key.isdigit() else [key])]
        unknown = [k for k in expanded if k not in KEYS]
        if unknown:
            raise ValueError(f"not keypad keys: {unknown}")
        with self._lock:
            self._keys.extend(expanded)

    def open(self) -> None:
        self.opened = True

    def poll(self) -> list[str]:
        with self._lock:
            keys = list(self._keys)
            self._keys.clear()
        return keys

    def close(self) -> None:
        self.opened = False


class EvdevKeypad:
    """A Linux input device (``/dev/input/event*``, or a stable ``/dev/input/by-id/...`` link).

    Grabbed on open so the key presses do not also reach a console. Not
    tested on hardware here: the key mapping (``key_name``) is.
    """

    def __init__(self, device: Path) -> None:
        self.device = device
        self._dev = None

    def open(self) -> None:
        try:
            import evdev  # a Pi extra: pip install evdev
        except ImportError as exc:
            raise KeypadError("keypad.kind evdev needs the 'evdev' package (pip install evdev)") from exc
        try:
            self._dev = evdev.InputDevice(str(self.device))
            self._dev.grab()
        except OSError as exc:
            raise KeypadError(f"cannot open keypad {self.device}: {exc}") from exc
        log.info("keypad %s open: %s", self.device, self._dev.name)

    def poll(self) -> list[str]:
        if self._dev is None:
            return []
        try:
            events = list(self._dev.read())
        except BlockingIOError:
            return []
        except OSError as exc:
            raise KeypadError(f"reading keypad {self.device}: {exc}") from exc
        return keys_of((e.code, e.value) for e in events if e.type == 1)  # EV_KEY

    def close(self) -> None:
        if self._dev is not None:
            try:
                self._dev.ungrab()
            except OSError:
                pass
            self._dev.close()
            self._dev = None


def key_name(code: int) -> str | None:
    """Our name of a Linux key code, or None for a key the keypad does not use."""
    return EVDEV_KEYS.get(code)


def keys_of(events: Iterable[tuple[int, int]]) -> list[str]:
    """Key names of (code, value) key events: presses only (value 1), not releases (0) or repeats (2)."""
    return [name for code, value in events if value == 1 and (name := key_name(code)) is not None]


@dataclass
class KeypadEntry:
    """The staff number being typed: digits, ``back`` deletes one, ``cancel`` clears, ``enter`` ends."""

    max_digits: int = 12
    digits: str = ""

    def press(self, key: str) -> str | None:
        """Apply one key; the number when ``enter`` ends a non-empty entry (which then starts over)."""
        if key.isdigit() and len(key) == 1:
            if len(self.digits) < self.max_digits:
                self.digits += key
        elif key == "back":
            self.digits = self.digits[:-1]
        elif key == "cancel":
            self.digits = ""
        elif key == "enter" and self.digits:
            number, self.digits = self.digits, ""
            return number
        return None
