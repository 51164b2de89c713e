"""A generic webhook: each punch POSTed as JSON, signed so the receiver can trust and date it.

Headers: ``X-Attendance-Timestamp`` (Unix seconds when sent),
``X-Attendance-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
body)>``, ``X-Attendance-Delivery`` (the punch id). A receiver recomputes
the HMAC over the raw body, compares in constant time, refuses a timestamp
more than ``REPLAY_WINDOW_S`` from its own clock (a captured request cannot
be replayed later), and stores each delivery id once: a punch resent after
the pusher died answers 2xx again and changes nothing (``verify`` below is
the reference check). The body: ``id, employee_id, time`` (UTC ISO 8601),
``local_time``, ``log_type``, ``site_id``, ``device_id``.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import httpx

from hub.hrms.config import WebhookTarget
from hub.hrms.http import classify, transport_error
from hub.hrms.queue import PushPunch
from protocol.settings import read_secret

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now_s: float,
           window_s: float = REPLAY_WINDOW_S) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature."""
    try:
        fresh = abs(now_s - int(timestamp)) <= window_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), given)


class WebhookClient:
    def __init__(self, target: WebhookTarget, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.target, self.clock = target, clock
        self.tz = ZoneInfo(target.time_zone)
        self.http = http or httpx.Client(timeout=target.timeout_s)
        self._secret: str | None = None

    def body(self, punch: PushPunch) -> bytes:
        return json.dumps({"id": punch.id, "employee_id": punch.employee_id, "time": punch.ts.isoformat(),
                           "local_time": punch.ts.astimezone(self.tz).isoformat(), "log_type": punch.log_type,
                           "site_id": punch.site_id, "device_id": punch.device_id},
                          separators=(",", ":"), sort_keys=True).encode()

    def send(self, punch: PushPunch) -> str | None:
        if self._secret is None:
            self._secret = read_secret(self.target.secret_file, f"hrms target {self.target.name}: webhook secret")
        body, timestamp = self.body(punch), str(int(self.clock()))
        headers = {"Content-Type": "application/json", "X-Attendance-Timestamp": timestamp,
                   "X-Attendance-Signature": signature(self._secret, timestamp, body),
                   "X-Attendance-Delivery": punch.id}
        try:
            response = self.http.post(str(self.target.url), content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(self.target.name, exc) from exc
        classify(self.target.name, response)
        return None

    def close(self) -> None:
        self.http.close()
