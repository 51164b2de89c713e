"""What on this kiosk needs a person: alarms repeated in every health message, and the last run's fatal error.

A kiosk on a wall has no one reading its log. Whatever goes wrong without
stopping it (a full disk, a damaged outbox that was recovered, a background
thread that failed) is raised here and travels in ``Health.alarms`` until it
is cleared or its hold time has passed, so the hub's dashboard shows it even
when it happened between two health messages. The error that ends a run is
written to the state directory and becomes a ``last_exit`` alarm in the next
run: without it, the hub would only ever see "offline, then online".
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kiosk.storage import write_atomically
from protocol.messages import ALARM_LAST_EXIT, DeviceAlarm

log = logging.getLogger(__name__)

LAST_EXIT_FILE = "last_exit.json"
LAST_EXIT_HOLD_S = 3600.0
MAX_DETAIL_CHARS = 500


@dataclass
class _Raised:
    alarm: DeviceAlarm
    expires_at: float | None      # monotonic; None: until cleared


class Alarms:
    """The alarms raised now, keyed by kind and source (e.g. one ``thread_error`` per thread)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._raised: dict[tuple[str, str], _Raised] = {}

    def raise_alarm(self, kind: str, detail: str, *, source: str = "", hold_s: float | None = None,
                    since: datetime | None = None) -> None:
        """Raise or update an alarm; it keeps the ``since`` of its first raising until it ends."""
        with self._lock:
            earlier = self._live().get((kind, source))
            first = earlier.alarm.since if earlier else since or datetime.now(timezone.utc)
            alarm = DeviceAlarm(kind=kind, detail=detail[:MAX_DETAIL_CHARS], since=first)
            expires = None if hold_s is None else self._monotonic() + hold_s
            self._raised[(kind, source)] = _Raised(alarm, expires)

    def clear(self, kind: str, source: str = "") -> None:
        with self._lock:
            self._raised.pop((kind, source), None)

    def active(self) -> list[DeviceAlarm]:
        """The alarms to put into the next health message, oldest first."""
        with self._lock:
            return sorted((r.alarm for r in self._live().values()), key=lambda a: a.since)

    def _live(self) -> dict[tuple[str, str], _Raised]:
        now = self._monotonic()
        for key in [k for k, r in self._raised.items() if r.expires_at is not None and r.expires_at <= now]:
            del self._raised[key]
        return self._raised


def record_last_exit(state_dir: Path, error: BaseException) -> None:
    """Write the error ending this run for the next run's health; a failing disk only costs a log line."""
    record = {"ts": datetime.now(timezone.utc).isoformat(), "error": f"{type(error).__name__}: {error}"}
    try:
        write_atomically(state_dir / LAST_EXIT_FILE, json.dumps(record).encode())
    except OSError as exc:
        log.error("the reason for this exit could not be kept in %s: %s", state_dir, exc)


def take_last_exit(state_dir: Path, alarms: Alarms) -> None:
    """Raise the previous run's fatal error as a ``last_exit`` alarm (held an hour) and delete its record."""
    path = state_dir / LAST_EXIT_FILE
    try:
        record = json.loads(path.read_text())
        since = datetime.fromisoformat(record["ts"])
        error = str(record["error"])
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError) as exc:
        since, error = datetime.now(timezone.utc), f"unreadable record of the last exit: {exc}"
    alarms.raise_alarm(ALARM_LAST_EXIT, f"previous run ended with {error}", hold_s=LAST_EXIT_HOLD_S, since=since)
    try:
        path.unlink()
    except OSError as exc:
        log.warning("%s could not be deleted (%s); it will be reported again", path, exc)
