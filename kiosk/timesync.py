"""Is the system clock synchronised by the network? Read from the system, behind ``TimeSync``.

Two readers, asked in this order:
- ``timedatectl show -p NTPSynchronized``: systemd-timedated's answer over
  D-Bus. It works inside kiosk.service, whose ``ProtectClock=yes`` forbids
  the process the ``adjtimex`` call (seccomp, even for reading).
- the kernel's own flag: ``adjtimex`` with no modes returns ``TIME_ERROR``
  while ``STA_UNSYNC`` is set; every NTP client (systemd-timesyncd, chrony,
  ntpd) clears it once synchronised. Works without systemd.
None when neither answers: the caller cannot tell, and does not refuse for it.

``FakeTimeSync`` is the test double: a flag the test sets.

Resyncing (kiosk/selfheal.py, a clock unfit to punch for long): the kiosk
may not set the clock itself (``ProtectClock=yes``), so ``TimesyncdResync``
asks systemd to restart ``systemd-timesyncd``, which then queries its NTP
servers at once instead of at its next, possibly 34-minute, poll. First boot
installs the polkit rule that lets the kiosk user restart that one unit
(provisioning/firstboot.py). ``FakeResync`` counts the requests.
"""

import ctypes
import ctypes.util
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kiosk.clock import TimeSync

log = logging.getLogger(__name__)

TIME_ERROR = 5           # adjtimex(2): clock not synchronised
TIMEX_BYTES = 512        # larger than struct timex on every architecture; modes=0 leaves it unread
TIMEDATECTL_TIMEOUT_S = 5.0
TIMESYNCD_UNIT = "systemd-timesyncd.service"


class TimedatectlSync:
    """systemd-timedated's ``NTPSynchronized`` property; None without systemd or D-Bus."""

    def __init__(self, command: Sequence[str] = ("timedatectl", "show", "-p", "NTPSynchronized", "--value")) -> None:
        self.command = list(command)

    def synchronized(self) -> bool | None:
        try:
            proc = subprocess.run(self.command, capture_output=True, text=True, timeout=TIMEDATECTL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("timedatectl unavailable: %s", exc)
            return None
        answer = proc.stdout.strip()
        if proc.returncode != 0 or answer not in ("yes", "no"):
            log.debug("timedatectl gave no answer (rc %s): %s", proc.returncode, proc.stderr.strip())
            return None
        return answer == "yes"


class KernelSync:
    """The kernel's ``STA_UNSYNC`` via ``adjtimex``; None where the call is refused (seccomp) or missing."""

    def __init__(self) -> None:
        self._libc: ctypes.CDLL | None = None    # loaded on first use: find_library runs ldconfig

    def synchronized(self) -> bool | None:
        try:
            if self._libc is None:
                self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            buf = ctypes.create_string_buffer(TIMEX_BYTES)   # zeroed: modes=0 only reads
            state = self._libc.adjtimex(buf)
        except (OSError, AttributeError) as exc:
            log.debug("adjtimex unavailable: %s", exc)
            return None
        if state < 0:
            log.debug("adjtimex refused: errno %s", ctypes.get_errno())
            return None
        return state != TIME_ERROR


class FirstAnswer:
    """Asks each source in turn; the first that can tell answers."""

    def __init__(self, *sources: TimeSync) -> None:
        self.sources = sources

    def synchronized(self) -> bool | None:
        for source in self.sources:
            answer = source.synchronized()
            if answer is not None:
                return answer
        return None


class TimeResync(Protocol):
    """Asks the system to synchronise its clock now; returns what it did, raises OSError when refused."""

    def resync(self) -> str: ...


class TimesyncdResync:
    """``systemctl restart systemd-timesyncd.service`` (polkit lets the kiosk user do exactly this)."""

    def __init__(self, command: Sequence[str] = ("systemctl", "restart", "--no-block", TIMESYNCD_UNIT)) -> None:
        self.command = list(command)

    def resync(self) -> str:
        try:
            proc = subprocess.run(self.command, capture_output=True, text=True, timeout=TIMEDATECTL_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"{' '.join(self.command)} did not return within {TIMEDATECTL_TIMEOUT_S:.0f} s") from exc
        if proc.returncode != 0:
            raise OSError(f"{' '.join(self.command)} failed (rc {proc.returncode}): {proc.stderr.strip()[:200]}")
        return f"restarted {TIMESYNCD_UNIT}"


@dataclass
class FakeResync:
    """Counts resync requests; ``fix`` (when given) is called, as NTP would set the clock."""

    fix: Callable[[], None] | None = None
    requests: int = 0

    def resync(self) -> str:
        self.requests += 1
        if self.fix is not None:
            self.fix()
        return "fake resync"


def system_time_sync() -> FirstAnswer:
    return FirstAnswer(TimedatectlSync(), KernelSync())


@dataclass
class FakeTimeSync:
    """What a test says the system reports."""

    synced: bool | None = True

    def synchronized(self) -> bool | None:
        return self.synced
