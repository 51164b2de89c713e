"""Frappe HRMS: each punch becomes an ``Employee Checkin`` through Frappe's REST API.

``POST /api/resource/Employee Checkin`` with ``Authorization: token
<api_key>:<api_secret>`` and a JSON body of the doctype's fields:
``employee`` (the Employee's name: the hub's employee_id, with HR Settings
naming employees by their number), ``time`` (naive "YYYY-MM-DD HH:MM:SS" in
the site's system time zone, as Frappe stores datetimes), ``log_type``
("IN"/"OUT") and ``device_id``. Frappe answers 200 with ``{"data": {"name":
...}}``; a validation error is HTTP 417 with ``exc_type``.

Duplicates: HRMS's ``EmployeeCheckin.validate_duplicate_log`` refuses a
second checkin of the same employee at the same time ("This employee
already has a log with the same timestamp"). A punch resent after the
pusher died is refused that way, which here means "already there": the
punch counts as sent. Everything else Frappe refuses (unknown employee:
``LinkValidationError``) is refused for good.
"""

import logging
from zoneinfo import ZoneInfo

import httpx

from hub.hrms import TargetRefused
from hub.hrms.config import FrappeTarget
from hub.hrms.http import classify, transport_error
from hub.hrms.queue import PushPunch
from protocol.settings import read_secret

log = logging.getLogger(__name__)

DUPLICATE_TEXT = "already has a log with the same timestamp"
CHECKIN_PATH = "/api/resource/Employee Checkin"


class FrappeClient:
    def __init__(self, target: FrappeTarget, http: httpx.Client | None = None) -> None:
        self.target = target
        self.tz = ZoneInfo(target.time_zone)
        self.http = http or httpx.Client(timeout=target.timeout_s)
        self._token: str | None = None

    def auth_headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = read_secret(self.target.token_file, f"hrms target {self.target.name}: Frappe api_key:secret")
            if ":" not in self._token:
                raise TargetRefused(f"{self.target.name}: {self.target.token_file} must hold 'api_key:api_secret'")
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}

    def body(self, punch: PushPunch) -> dict[str, str]:
        return {"employee": punch.employee_id, "time": punch.ts.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S"),
                "log_type": punch.log_type, "device_id": punch.device_id}

    def send(self, punch: PushPunch) -> str | None:
        """Create the checkin; returns its Frappe name (None when it was already there)."""
        url = str(self.target.url).rstrip("/") + CHECKIN_PATH
        try:
            response = self.http.post(url, json=self.body(punch), headers=self.auth_headers())
        except httpx.HTTPError as exc:
            raise transport_error(self.target.name, exc) from exc
        if response.status_code == 417 and DUPLICATE_TEXT in response.text:
            log.info("%s: punch %s was already checked in (a resend)", self.target.name, punch.id)
            return None
        classify(self.target.name, response)
        return str(response.json()["data"]["name"])

    def close(self) -> None:
        self.http.close()
