"""Local stand-ins for Frappe HRMS, Odoo and a webhook receiver that check what the real ones require.

Each refuses, as loudly as the real system would, a request the real one
would refuse: Frappe wants ``Authorization: token key:secret``, the
``Employee Checkin`` path, known employees, ``time`` as "YYYY-MM-DD
HH:MM:SS", ``log_type`` IN/OUT, no unknown fields, and refuses a second
checkin of one employee at one time (HTTP 417, as HRMS's
``validate_duplicate_log``). Odoo speaks XML-RPC on /xmlrpc/2/common and
/xmlrpc/2/object, wants a uid from ``authenticate`` with the password,
integer employee ids, UTC "YYYY-MM-DD HH:MM:SS" strings, and refuses
overlapping attendances, a second open one and a check-out before the
check-in (``ValidationError`` faults). The webhook receiver checks the
HMAC over timestamp + "." + body, a timestamp within 300 s of its clock,
and stores each delivery id once.

A ``Trap`` lets a test stop one server in the middle of a request, after it
stored the punch and before it answers, so the pusher can be killed exactly
there.
"""

import hashlib
import hmac
import json
import re
import threading
import time
import xmlrpc.client
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from xmlrpc.server import MultiPathXMLRPCServer, SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Trap:
    """Blocks the ``at``-th matching request after its effect, until released."""

    def __init__(self) -> None:
        self.at: int | None = None
        self.seen = 0
        self.sprung = threading.Event()
        self.release = threading.Event()

    def arm(self, at: int) -> None:
        self.at, self.seen = at, 0
        self.sprung.clear()
        self.release.clear()

    def hit(self) -> None:
        if self.at is None:
            return
        self.seen += 1
        if self.seen == self.at:
            self.at = None
            self.sprung.set()
            self.release.wait(60)


def _serve(server: Any) -> Any:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeFrappe:
    def __init__(self, employees: set[str], token: str) -> None:
        self.employees, self.token = employees, token
        self.checkins: list[dict] = []
        self.leave_applications: list[dict] = []  # as Frappe stores them (status, docstatus, dates as text)
        self.duplicates = 0
        self.unavailable_next = 0  # answer 503 to this many requests first
        self.trap = Trap()
        self.lock = threading.Lock()
        frappe = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the pusher was killed while we held the request

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                status, body = frappe.handle(self.path, self.headers, raw)
                self.answer(status, body)

            def do_GET(self) -> None:  # noqa: N802
                self.answer(*frappe.list_leave(self.path, self.headers))

        self.server = _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict]:
        if unquote(urlsplit(path).path) != "/api/resource/Employee Checkin":
            return 404, {"exc_type": "DoesNotExistError", "path": path}
        if headers.get("Authorization") != f"token {self.token}":
            return 401, {"exc_type": "AuthenticationError"}
        with self.lock:
            if self.unavailable_next:
                self.unavailable_next -= 1
                return 503, {"exc_type": "ServiceUnavailable"}
        if not headers.get("Content-Type", "").startswith("application/json"):
            return 417, {"exc_type": "ValidationError", "message": "expected a JSON body"}
        doc = json.loads(raw)
        unknown = set(doc) - {"employee", "time", "log_type", "device_id", "skip_auto_attendance"}
        if unknown:
            return 417, {"exc_type": "ValidationError", "message": f"unknown fields {sorted(unknown)}"}
        if doc.get("employee") not in self.employees:
            return 417, {"exc_type": "LinkValidationError", "message": f"Could not find Employee: {doc.get('employee')}"}
        if not isinstance(doc.get("time"), str) or not TIME_RE.match(doc["time"]):
            return 417, {"exc_type": "ValidationError", "message": f"bad time {doc.get('time')!r}"}
        if doc.get("log_type") not in ("IN", "OUT", None):
            return 417, {"exc_type": "ValidationError", "message": f"Log Type cannot be {doc.get('log_type')!r}"}
        with self.lock:
            if any(c["employee"] == doc["employee"] and c["time"] == doc["time"] for c in self.checkins):
                self.duplicates += 1
                return 417, {"exc_type": "ValidationError", "_server_messages": json.dumps([json.dumps(
                    {"message": "This employee already has a log with the same timestamp."})])}
            name = f"EMP-CKIN-{len(self.checkins) + 1:05d}"
            self.checkins.append({**doc, "name": name})
        self.trap.hit()
        return 200, {"data": {**doc, "name": name, "doctype": "Employee Checkin"}}

    LEAVE_FIELDS = {"name", "employee", "leave_type", "from_date", "to_date", "half_day", "half_day_date", "status",
                    "docstatus"}

    def list_leave(self, path: str, headers: Any) -> tuple[int, dict]:
        """Frappe's list API: ``fields`` and ``filters`` JSON-encoded, [field, operator, value] filters."""
        from urllib.parse import parse_qs

        parts = urlsplit(path)
        if unquote(parts.path) != "/api/resource/Leave Application":
            return 404, {"exc_type": "DoesNotExistError"}
        if headers.get("Authorization") != f"token {self.token}":
            return 401, {"exc_type": "AuthenticationError"}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            fields, filters = json.loads(query["fields"]), json.loads(query["filters"])
        except (KeyError, ValueError):
            return 417, {"exc_type": "ValidationError", "message": "fields and filters must be JSON"}
        if set(fields) - self.LEAVE_FIELDS or any(f[0] not in self.LEAVE_FIELDS for f in filters):
            return 417, {"exc_type": "DataError", "message": f"unknown column in {fields} / {filters}"}
        ops = {"=": lambda a, b: a == b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
        found = [d for d in self.leave_applications if all(ops[op](d[f], v) for f, op, v in filters)]
        start, length = int(query.get("limit_start", 0)), int(query.get("limit_page_length", 20))
        return 200, {"data": [{f: d[f] for f in fields} for d in found[start:start + length]]}

    def close(self) -> None:
        self.trap.release.set()
        self.server.shutdown()
        self.server.server_close()


class FakeOdoo:
    def __init__(self, database: str, login: str, password: str, employees: dict[str, int]) -> None:
        self.database, self.login, self.password = database, login, password
        self.employees = employees  # barcode -> id
        self.attendances: list[dict] = []
        self.trap = Trap()
        self.lock = threading.Lock()
        class Handler(SimpleXMLRPCRequestHandler):
            rpc_paths = ("/xmlrpc/2/common", "/xmlrpc/2/object")

        self.server = MultiPathXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler,
                                            allow_none=True, logRequests=False)
        common = SimpleXMLRPCDispatcher(allow_none=True)
        common.register_function(self.authenticate, "authenticate")
        common.register_function(lambda: {"server_version": "17.0"}, "version")
        objects = SimpleXMLRPCDispatcher(allow_none=True)
        objects.register_function(self.execute_kw, "execute_kw")
        self.server.add_dispatcher("/xmlrpc/2/common", common)
        self.server.add_dispatcher("/xmlrpc/2/object", objects)
        _serve(self.server)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def authenticate(self, db: str, login: str, password: str, env: dict) -> int | bool:
        return 2 if (db, login, password) == (self.database, self.login, self.password) else False

    @staticmethod
    def fault(message: str) -> xmlrpc.client.Fault:
        return xmlrpc.client.Fault(2, f"odoo.exceptions.ValidationError: {message}")

    def _time(self, value: Any) -> datetime:
        if not isinstance(value, str) or not TIME_RE.match(value):
            raise self.fault(f"bad datetime {value!r}: expected UTC '%Y-%m-%d %H:%M:%S'")
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")

    def _match(self, record: dict, domain: list) -> bool:
        for field, op, value in domain:
            have = record.get(field)
            if op == "=" and have != value:
                return False
            if op in ("<=", ">=") and (have is False or have is None or not (have <= value if op == "<=" else have >= value)):
                return False
        return True

    def execute_kw(self, db: str, uid: int, password: str, model: str, method: str, args: list,
                   kwargs: dict | None = None) -> Any:
        if (db, uid, password) != (self.database, 2, self.password):
            raise xmlrpc.client.Fault(3, "odoo.exceptions.AccessDenied: Access Denied")
        kwargs = kwargs or {}
        with self.lock:
            if model == "hr.employee" and method == "search_read":
                [[field, op, value]] = args[0]
                if field != "barcode" or op != "=":
                    raise self.fault(f"unexpected employee domain {args[0]}")
                return [{"id": self.employees[value]}] if value in self.employees else []
            if model != "hr.attendance":
                raise self.fault(f"unexpected model {model}")
            if method == "search_read":
                found = [r for r in self.attendances if self._match(r, args[0])]
                found.sort(key=lambda r: r["check_in"], reverse=kwargs.get("order") == "check_in desc")
                return [{k: r[k] for k in ("id", "check_in", "check_out")} for r in found[:kwargs.get("limit")]]
            if method == "create":
                result = self._create(args[0])
            elif method == "write":
                result = self._write(args[0], args[1])
            else:
                raise self.fault(f"unexpected method {method}")
        self.trap.hit()
        return result

    def _check(self, record: dict) -> None:
        """Odoo's constraints: check-out not before check-in, one open attendance, no overlap."""
        far = datetime.max
        start = self._time(record["check_in"])
        end = self._time(record["check_out"]) if record.get("check_out") else None
        if end is not None and end < start:
            raise self.fault('"Check Out" time cannot be earlier than "Check In" time.')
        for other in self.attendances:
            if other["id"] == record["id"] or other["employee_id"] != record["employee_id"]:
                continue
            if not other["check_out"] and end is None:
                raise self.fault("Cannot create new attendance record, the employee hasn't checked out")
            o_start = self._time(other["check_in"])
            o_end = self._time(other["check_out"]) if other["check_out"] else far
            if start < o_end and o_start < (end or far):
                raise self.fault("Cannot create new attendance record, the employee was already checked in")

    def _create(self, vals: dict) -> int:
        if set(vals) - {"employee_id", "check_in", "check_out"} or not isinstance(vals.get("employee_id"), int):
            raise self.fault(f"bad values {vals}")
        record = {"id": len(self.attendances) + 1, "check_out": False, **vals}
        self._check(record)
        self.attendances.append(record)
        return record["id"]

    def _write(self, ids: list[int], vals: dict) -> bool:
        if set(vals) != {"check_out"}:
            raise self.fault(f"bad values {vals}")
        for record in self.attendances:
            if record["id"] in ids:
                self._check({**record, **vals})
                record.update(vals)
        return True

    def close(self) -> None:
        self.trap.release.set()
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver:
    def __init__(self, secret: str, clock: Any = time.time, window_s: float = 300) -> None:
        self.secret, self.clock, self.window_s = secret, clock, window_s
        self.received: dict[str, dict] = {}
        self.deliveries = 0
        self.refused: list[str] = []
        self.trap = Trap()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.handle(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/attendance"

    def handle(self, headers: Any, body: bytes) -> int:
        timestamp = headers.get("X-Attendance-Timestamp", "")
        given = headers.get("X-Attendance-Signature", "")
        delivery = headers.get("X-Attendance-Delivery", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            self.refused.append("signature")
            return 401
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > self.window_s:
            self.refused.append("stale")
            return 401
        doc = json.loads(body)
        if doc.get("id") != delivery:
            self.refused.append("delivery id")
            return 400
        with self.lock:
            self.deliveries += 1
            self.received.setdefault(delivery, doc)  # a delivery id is stored once
        self.trap.hit()
        return 200

    def close(self) -> None:
        self.trap.release.set()
        self.server.shutdown()
        self.server.server_close()
