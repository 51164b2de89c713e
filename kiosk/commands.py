"""Remote commands from the hub (``cmd``) and their signed results (``cmd/result``).

- ``resync``: ask the hub for the full gallery;
- ``reboot``: ``systemctl reboot`` (the result goes out first);
- ``logs``: the last lines this kiosk logged (``RecentLog``), in ``logs``;
- ``enrol``: consent and capture (kiosk/enrol_capture.py); the result, with
  the templates, follows when the capture ends;
- ``update``: fetch, verify and install a signed release (kiosk/updater.py);
  the result follows, and after an install the kiosk exits for systemd to
  start the new version.

Every result is signed with the device key like a punch, since an enrol
result changes whom the hub's galleries recognise. A command seen before
(the broker may deliver one twice) is not run again, and one past its
``expires_at`` is refused rather than run late.
"""

import logging
import subprocess
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.enrol_capture import EnrolCapture
from kiosk.updater import Updater
from protocol import messages, signing
from protocol.errors import MessageInvalid

log = logging.getLogger(__name__)

SEEN_IDS = 200          # command ids remembered against a second delivery
LOG_LINES = 300         # lines ``logs`` sends back, at most
UPDATE_RESULT_WAIT_S = 10.0  # an update's result is waited for this long before the kiosk restarts


class RecentLog(logging.Handler):
    """The last ``LOG_LINES`` log lines of this process, for the ``logs`` command (never encodings:
    the kiosk does not log them)."""

    def __init__(self, lines: int = LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)

    def text(self, max_chars: int = messages.MAX_LOG_CHARS) -> str:
        """The newest lines that fit ``max_chars``, oldest first."""
        kept: list[str] = []
        size = 0
        for line in reversed(self.lines):
            size += len(line) + 1
            if size > max_chars:
                break
            kept.append(line)
        return "\n".join(reversed(kept))


def system_reboot() -> tuple[bool, str]:
    proc = subprocess.run(["systemctl", "reboot"], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0, "rebooting" if proc.returncode == 0 else (proc.stderr.strip() or "reboot failed")


class CommandRunner:
    """Runs the hub's commands on this kiosk; ``handle`` is the link's command handler.

    ``publish(result)`` sends a result later; ``publish(result, wait_s)`` also waits for the broker's
    acknowledgement (an update's result, before the kiosk exits).
    """

    def __init__(self, *, device_id: str, key: Ed25519PrivateKey, request_full_gallery: Callable[[], bool],
                 enrolment: EnrolCapture, publish: Callable[..., bool],
                 recent_log: RecentLog, reboot: Callable[[], tuple[bool, str]] = system_reboot,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 updater: Updater | None = None, restart: Callable[[], None] = lambda: None) -> None:
        self.device_id = device_id
        self._key = key
        self._request_full_gallery = request_full_gallery
        self.enrolment = enrolment
        self._publish = publish
        self._recent_log = recent_log
        self._reboot = reboot
        self._clock = clock
        self.updater = updater
        self._restart = restart
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)

    def handle(self, command: messages.Command) -> messages.CommandResult | None:
        """The result now, or None: already handled, or an enrolment whose result comes later."""
        if command.id in self._seen:
            log.info("command %s (%s) delivered again; already handled", command.id, command.name)
            return None
        self._seen.append(command.id)
        log.info("command %s: %s", command.id, command.name)
        if command.expires_at is not None and self._clock() > command.expires_at:
            return self.result(command.id, False, f"expired at {command.expires_at.isoformat()}; not run")
        if command.name == "resync":
            sent = self._request_full_gallery()
            return self.result(command.id, sent, "asked the hub for the full gallery" if sent else
                               "not connected to the broker; send the command again when the kiosk is online")
        if command.name == "logs":
            return self.result(command.id, True, f"last {len(self._recent_log.lines)} log lines",
                               logs=self._recent_log.text())
        if command.name == "enrol":
            return self._enrol(command)
        if command.name == "reboot":
            ok, detail = self._reboot()
            return self.result(command.id, ok, detail)
        if command.name == "update" and self.updater is not None:
            return self._update(command)
        return self.result(command.id, False, f"command {command.name!r} is not supported on this kiosk; "
                                              "change kiosk.yaml and restart")

    def _enrol(self, command: messages.Command) -> messages.CommandResult | None:
        try:
            args = messages.validate(messages.EnrolArgs, command.args)
        except MessageInvalid as exc:
            return self.result(command.id, False, f"bad enrol arguments: {exc.reason}")
        busy = self.enrolment.begin(command.id, args)
        return self.result(command.id, False, busy) if busy else None

    def _update(self, command: messages.Command) -> messages.CommandResult | None:
        assert self.updater is not None
        try:
            args = messages.validate(messages.UpdateArgs, command.args)
        except MessageInvalid as exc:
            return self.result(command.id, False, f"bad update arguments: {exc.reason}")
        busy = self.updater.begin(command.id, args)
        return self.result(command.id, False, busy) if busy else None

    def update_done(self, command_id: str, ok: bool, detail: str, restart: bool) -> None:
        """``Updater``'s ``on_done``: send the result, then (after an install) restart into the new version.

        The result is waited for (a few seconds at most) before the kiosk
        exits; were it lost, the hub still sees the new version in health.
        """
        if not self._publish(self.result(command_id, ok, detail), UPDATE_RESULT_WAIT_S):
            log.warning("update result %s not confirmed by the broker before the restart", command_id)
        if restart:
            log.info("restarting into the new version: %s", detail)
            self._restart()

    def enrolment_done(self, command_id: str, ok: bool, detail: str, templates: list[str]) -> None:
        """``EnrolCapture``'s ``on_done``: publish the signed result with the templates."""
        if not self._publish(self.result(command_id, ok, detail, templates=templates)):
            log.warning("enrolment result %s waits for the broker (not connected); paho sends it on reconnect",
                        command_id)

    def result(self, command_id: str, ok: bool, detail: str, **extra: object) -> messages.CommandResult:
        """A result signed with the device key (``sig`` covers every other field)."""
        fields = messages.CommandResult(id=command_id, ok=ok, detail=detail[:2000], device_id=self.device_id,
                                        **extra).model_dump(mode="json", exclude_none=True)
        return messages.validate(messages.CommandResult, signing.sign_fields(fields, self._key))
