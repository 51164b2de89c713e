"""A fake of the hub's device-registration API (hub/api/routes/devices.py), for tests.

It behaves like the real routes: 201 registered, 200 the same again, 409
active with another key or site, 404 unknown site, 422 invalid, a retired
device kept in the list with ``retired_at`` and registrable again; so tests
assert on what the hub ends up holding. tests/test_provision.py runs the
same flows against the real hub app, so the two cannot drift apart unseen.
Use it as ``httpx.Client(transport=FakeHub(...).transport())``.
"""

import json
import re

import httpx

from protocol.topics import is_device_id

_RETIRE = re.compile(r"^/api/v1/devices/([^/]+)/retire$")


class FakeHub:
    def __init__(self, sites: tuple[str, ...] = ("S1",), token: str = "fake-admin-token-0123") -> None:
        self.sites = set(sites)
        self.token = token
        self.devices: dict[str, dict] = {}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"detail": "not authenticated"})
        path, method = request.url.path, request.method
        if path == "/api/v1/devices" and method == "GET":
            return httpx.Response(200, json={"items": list(self.devices.values())})
        if path == "/api/v1/devices" and method == "POST":
            body = json.loads(request.content)
            if not is_device_id(str(body.get("device_id"))) or not body.get("public_key"):
                return httpx.Response(422, json={"detail": "invalid device"})
            if body.get("site_id") not in self.sites:
                return httpx.Response(404, json={"detail": "unknown site"})
            known = self.devices.get(body["device_id"])
            if known and not known["retired_at"]:
                if (known["public_key"], known["site_id"]) == (body["public_key"], body["site_id"]):
                    return httpx.Response(200, json=known)
                return httpx.Response(409, json={"detail": "active with another key or site; retire it first"})
            self.devices[body["device_id"]] = {**body, "retired_at": None}
            return httpx.Response(201, json=self.devices[body["device_id"]])
        match = _RETIRE.match(path)
        if match and method == "POST":
            found = self.devices.get(match.group(1))
            if found is None:
                return httpx.Response(404, json={"detail": "unknown device"})
            found["retired_at"] = found["retired_at"] or "2026-01-01T00:00:00Z"
            return httpx.Response(200, json=found)
        return httpx.Response(404, json={"detail": "not found"})
