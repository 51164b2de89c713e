"""systemd notify protocol: readiness, status and a watchdog tied to real progress.

``kiosk.service``, ``hub-api.service`` and ``hub-ingest@.service`` are
``Type=notify`` with ``WatchdogSec=``. The kiosk says READY=1 once its camera
delivers frames and pets the watchdog only while frames keep arriving; the hub
says READY=1 once it listens (API) or is subscribed (ingest) and pets it only
while its event loop turns and its ingest worker is not stuck in one batch. A
stalled camera, a hung loop or a wedged database call stops the pings and
systemd restarts the service. Outside systemd (no ``NOTIFY_SOCKET``) every
call is a no-op, so the same code runs on a laptop.

The protocol is one AF_UNIX datagram per message, ``KEY=VALUE`` lines; a
socket path starting with ``@`` is in the abstract namespace.
"""

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class SdNotifier:
    """Sends notify messages to the socket systemd names in ``NOTIFY_SOCKET``.

    Sending never raises: a watchdog message that cannot be delivered must not
    take the kiosk down; systemd will notice the silence by itself.
    """

    def __init__(self, socket_path: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.socket_path = socket_path
        self.env = env
        self._sock: socket.socket | None = None
        self._address: str | bytes | None = None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def start(self) -> "SdNotifier":
        """Open the socket named by ``socket_path`` or ``$NOTIFY_SOCKET``; no-op without one."""
        env = os.environ if self.env is None else self.env
        path = self.socket_path or env.get("NOTIFY_SOCKET")
        if not path:
            log.debug("NOTIFY_SOCKET not set: not running under systemd notify, notifications off")
            return self
        self._address = b"\0" + path[1:].encode() if path.startswith("@") else path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        return self

    def notify(self, *lines: str) -> bool:
        """Send one message made of ``lines``; True when the socket took it."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8"), self._address)
        except OSError as exc:
            log.warning("systemd notify failed: %s", exc)
            return False
        return True

    def ready(self) -> bool:
        return self.notify("READY=1")

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify("STATUS=" + " ".join(text.splitlines()))

    def watchdog_ping(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Half of systemd's ``WATCHDOG_USEC`` in seconds, or None when no watchdog is set for us.

    Half the timeout is what sd_watchdog_enabled(3) recommends: one late ping
    is not yet a restart. ``WATCHDOG_PID``, when set, must be this process.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2 / 1_000_000


class WatchdogPetter:
    """Pings the watchdog only when the main loop has seen a frame since the last ping.

    The main loop calls ``frame_seen()`` for each frame and ``maybe_ping()``
    on every pass; a ping goes out at most once per ``interval_s``. When
    frames stop, pings stop, and systemd restarts the kiosk after
    ``WatchdogSec``. ``interval_s=None`` (no watchdog configured) disables it.
    """

    def __init__(
        self,
        notifier: SdNotifier,
        interval_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self.clock = clock
        self._last_frame: float | None = None
        self._last_ping: float | None = None

    @classmethod
    def from_env(
        cls, notifier: SdNotifier, env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> "WatchdogPetter":
        return cls(notifier, watchdog_interval_s(env), clock)

    def frame_seen(self, now: float | None = None) -> None:
        """The kiosk's progress: a camera frame reached the main loop."""
        self.alive(now)

    def alive(self, now: float | None = None) -> None:
        """Progress since the last ping: the next ``maybe_ping`` may send one."""
        self._last_frame = self.clock() if now is None else now

    def is_due(self, now: float) -> bool:
        """A frame arrived after the last ping, and the last ping is ``interval_s`` old."""
        if self.interval_s is None or self._last_frame is None:
            return False
        if self._last_ping is None:
            return True
        return self._last_frame > self._last_ping and now - self._last_ping >= self.interval_s

    def maybe_ping(self, now: float | None = None) -> bool:
        """Ping when due; True when a ping was sent."""
        now = self.clock() if now is None else now
        if not self.is_due(now):
            return False
        self._last_ping = now
        return self.notifier.watchdog_ping()
