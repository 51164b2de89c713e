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
"""

import ctypes
import ctypes.util
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from kiosk.clock import TimeSync

log = logging.getLogger(__name__)

TIME_ERROR = 5           # adjtimex(2): clock not synchronised
TIMEX_BYTES = 512        # larger than struct timex on every architecture; modes=0 leaves it unread
TIMEDATECTL_TIMEOUT_S = 5.0


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


def system_time_sync() -> FirstAnswer:
    return FirstAnswer(TimedatectlSync(), KernelSync())


@dataclass
class FakeTimeSync:
    """What a test says the system reports."""

    synced: bool | None = True

    def synchronized(self) -> bool | None:
        return self.synced
