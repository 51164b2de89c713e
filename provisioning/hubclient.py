"""The hub's device-registration API, as the provisioning CLI uses it.

Takes an ``httpx.Client``: the CLI passes a network client, tests pass
``tests.fake_hub_api`` behind ``httpx.MockTransport`` or the real hub app's
FastAPI ``TestClient`` (tests/test_provision.py checks both).

The hub's semantics: 201 registered, 200 already registered with the same key
and site, 409 active with another key or site, 404 unknown site; a retired
device may be registered again (a deliberate replacement).
"""

import enum
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from provisioning.errors import HubError

log = logging.getLogger(__name__)

API = "/api/v1"


class Registration(enum.Enum):
    CREATED = "created"
    ALREADY = "already registered"


@dataclass(frozen=True)
class HubDevice:
    device_id: str
    site_id: str
    public_key: str
    retired: bool


class HubClient:
    """Admin calls to ``{base_url}/api/v1/devices``; the token goes in a bearer header."""

    def __init__(self, http: httpx.Client, base_url: str, token: str | None) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base_url}{API}{path}"
        try:
            response = self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise HubError(f"cannot reach the hub at {self.base_url}: {exc}") from exc
        if response.status_code in (401, 403):
            raise HubError(
                f"the hub refused the admin token ({response.status_code}); pass the right --token-file"
            )
        return response

    def register_device(self, device_id: str, site_id: str, public_key: str) -> Registration:
        """Register the device and its public key; a rerun with the same key is not an error."""
        body = {"device_id": device_id, "site_id": site_id, "public_key": public_key}
        response = self._request("POST", "/devices", json=body)
        if response.status_code == 201:
            return Registration.CREATED
        if response.status_code == 200:
            return Registration.ALREADY
        if response.status_code == 409:
            existing = self.get_device(device_id)
            if existing is not None and (existing.public_key, existing.site_id) == (public_key, site_id):
                return Registration.ALREADY
            raise HubError(
                f"device {device_id} is registered at the hub with another public key or site; "
                "retire it first, or rerun with its original bundle"
            )
        if response.status_code == 404:
            raise HubError(f"the hub does not know site {site_id!r}: {_detail(response)}")
        raise HubError(f"registering {device_id} failed ({response.status_code}): {_detail(response)}")

    def retire_device(self, device_id: str) -> None:
        response = self._request("POST", f"/devices/{device_id}/retire")
        if response.status_code == 404:
            raise HubError(f"the hub does not know device {device_id}")
        if response.status_code not in (200, 204):
            existing = self.get_device(device_id)
            if existing is not None and existing.retired:
                return  # retired before: a rerun is not an error
            raise HubError(f"retiring {device_id} failed ({response.status_code}): {_detail(response)}")

    def list_devices(self) -> list[HubDevice]:
        response = self._request("GET", "/devices")
        if response.status_code != 200:
            raise HubError(f"listing devices failed ({response.status_code}): {_detail(response)}")
        try:
            body = response.json()
            items = body["items"] if isinstance(body, dict) else body
            return [
                HubDevice(d["device_id"], d["site_id"], d["public_key"], d.get("retired_at") is not None)
                for d in items
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise HubError(f"the hub's device list is not in the expected form: {exc}") from exc

    def get_device(self, device_id: str) -> HubDevice | None:
        return next((d for d in self.list_devices() if d.device_id == device_id), None)


def _detail(response: httpx.Response) -> str:
    """FastAPI's ``detail`` when present, else the start of the body."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail is not None else response.text[:200]
