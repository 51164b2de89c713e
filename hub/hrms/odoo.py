"""Odoo: each punch becomes a check-in or a check-out of ``hr.attendance`` through the external XML-RPC API.

``/xmlrpc/2/common`` ``authenticate(db, login, password, {})`` gives the uid;
``/xmlrpc/2/object`` ``execute_kw(db, uid, password, model, method, args,
kwargs)`` does the rest. Times are UTC strings "YYYY-MM-DD HH:MM:SS" (Odoo
stores datetimes naive in UTC). The employee is the ``hr.employee`` whose
``employee_field`` (default ``barcode``, the badge ID) equals the hub's
employee_id.

Odoo keeps attendances, not punches, and refuses an attendance that
overlaps another or a check-in while one is open, so:
- IN (first punch of the local day): an attendance with ``check_in`` = the
  punch time already there means a resend, nothing to do. An attendance
  still open from an earlier day is closed at its own check-in (the hub's
  reports call that day a half day with no out), then one is created.
- OUT (a later punch): an attendance of that employee covering the time
  (check_in <= t <= check_out) means a resend. Otherwise the day's latest
  attendance gets ``check_out`` = t (a later out moves it on); with none
  that day (the in-punch never reached Odoo) one is created from t to t.
So a punch sent twice leaves Odoo as it was after the first: that is the
target-side dedup. Odoo's own refusals (``ValidationError`` faults) refuse
the punch for good; an unknown employee too.
"""

import logging
import xmlrpc.client
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hub.hrms import TargetRefused, TargetUnavailable
from hub.hrms.config import OdooTarget
from hub.hrms.queue import PushPunch
from protocol.settings import read_secret

log = logging.getLogger(__name__)

ODOO_TIME = "%Y-%m-%d %H:%M:%S"
ATTENDANCE = "hr.attendance"


class _Timeout:
    """An XML-RPC transport whose connections time out (ServerProxy has no timeout of its own)."""

    timeout_s: float = 15.0

    def make_connection(self, host: Any) -> Any:
        conn = super().make_connection(host)  # type: ignore[misc]
        conn.timeout = self.timeout_s
        return conn


class _HttpTransport(_Timeout, xmlrpc.client.Transport):
    pass


class _HttpsTransport(_Timeout, xmlrpc.client.SafeTransport):
    pass


def _transport(timeout_s: float, secure: bool) -> xmlrpc.client.Transport:
    transport = _HttpsTransport() if secure else _HttpTransport()
    transport.timeout_s = timeout_s
    return transport


def odoo_time(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime(ODOO_TIME)


class OdooClient:
    def __init__(self, target: OdooTarget) -> None:
        self.target = target
        self.tz = ZoneInfo(target.time_zone)
        base = str(target.url).rstrip("/")
        secure = base.startswith("https:")
        self.common = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/common", allow_none=True,
                                                transport=_transport(target.timeout_s, secure))
        self.models = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/object", allow_none=True,
                                                transport=_transport(target.timeout_s, secure))
        self._uid: int | None = None
        self._password: str | None = None
        self._employees: dict[str, int] = {}

    def _call(self, model: str, method: str, args: list, kwargs: dict | None = None) -> Any:
        if self._uid is None:
            self._password = read_secret(self.target.password_file, f"hrms target {self.target.name}: Odoo password")
            uid = self._rpc(self.common.authenticate, self.target.database, self.target.login, self._password, {})
            if not uid:
                raise TargetUnavailable(f"{self.target.name}: Odoo refused the login {self.target.login!r} "
                                        f"to database {self.target.database!r}")
            self._uid = int(uid)
        return self._rpc(self.models.execute_kw, self.target.database, self._uid, self._password, model, method,
                         args, kwargs or {})

    def _rpc(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except xmlrpc.client.Fault as exc:
            if "AccessDenied" in exc.faultString or "Access Denied" in exc.faultString:
                self._uid = None
                raise TargetUnavailable(f"{self.target.name}: Odoo denied access: {exc.faultString[:300]}") from exc
            raise TargetRefused(f"{self.target.name}: Odoo refused: {exc.faultString[:300]}") from exc
        except (OSError, xmlrpc.client.ProtocolError) as exc:
            raise TargetUnavailable(f"{self.target.name}: {type(exc).__name__}: {exc}") from exc

    def employee(self, employee_id: str) -> int:
        if employee_id not in self._employees:
            found = self._call("hr.employee", "search_read", [[[self.target.employee_field, "=", employee_id]]],
                               {"fields": ["id"], "limit": 2})
            if len(found) != 1:
                raise TargetRefused(f"{self.target.name}: {len(found)} Odoo employees have "
                                    f"{self.target.employee_field} = {employee_id!r}")
            self._employees[employee_id] = int(found[0]["id"])
        return self._employees[employee_id]

    def _attendances(self, domain: list, limit: int = 1) -> list[dict]:
        return self._call(ATTENDANCE, "search_read", [domain],
                          {"fields": ["id", "check_in", "check_out"], "order": "check_in desc", "limit": limit})

    def send(self, punch: PushPunch) -> str | None:
        emp, at = self.employee(punch.employee_id), odoo_time(punch.ts)
        if punch.log_type == "IN":
            return self._check_in(emp, at)
        return self._check_out(emp, at, punch.ts)

    def _check_in(self, emp: int, at: str) -> str | None:
        if self._attendances([["employee_id", "=", emp], ["check_in", "=", at]]):
            return None  # a resend
        for stale in self._attendances([["employee_id", "=", emp], ["check_out", "=", False]]):
            self._call(ATTENDANCE, "write", [[stale["id"]], {"check_out": stale["check_in"]}])
        return str(self._call(ATTENDANCE, "create", [{"employee_id": emp, "check_in": at}]))

    def _check_out(self, emp: int, at: str, ts: datetime) -> str | None:
        if self._attendances([["employee_id", "=", emp], ["check_in", "<=", at], ["check_out", ">=", at]]):
            return None  # a resend
        day_start = odoo_time(ts.astimezone(self.tz).replace(hour=0, minute=0, second=0, microsecond=0))
        latest = self._attendances([["employee_id", "=", emp], ["check_in", ">=", day_start], ["check_in", "<=", at]])
        if latest:
            self._call(ATTENDANCE, "write", [[latest[0]["id"]], {"check_out": at}])
            return str(latest[0]["id"])
        return str(self._call(ATTENDANCE, "create", [{"employee_id": emp, "check_in": at, "check_out": at}]))

    def close(self) -> None:
        for proxy in (self.common, self.models):
            proxy("close")()
