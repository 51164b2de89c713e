"""Regularisation test helpers: a hub (``HubApi`` on a real database, ``seed_org``) whose employee
H001 (unit PHC-1) has an activated phone, and the phone API calls an employee makes.

Shared by tests/test_regularisation.py (TestClient) and the browser test.
The phone is activated the real way: code from the SMS outbox file, password.
"""

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from biometrics.encoder import FaceEncoder
from hub.api.routes.phone import configure
from hub.attendance.models import RegularisationRequest
from hub.db import Employee
from hub.phone.config import PhoneConfig
from hub.phone.service import PhoneService
from tests import phonekit
from tests.hub_api_kit import HubApi, seed_org

NOW = datetime(2026, 5, 5, 6, 0, tzinfo=timezone.utc)  # Tuesday 5 May 2026, 11:30 in India
STAFF, MOBILE = "H001", "+919812345601"
PHONE_API = "/phone/api"


def make_hub(tmp_path: Path, engine, *, clock=None, **config) -> HubApi:
    """``HubApi`` with ``seed_org``, H001 reachable by SMS, and the phone service on the same clock."""
    config.setdefault("regularisation", {}).setdefault("attachment_dir", str(tmp_path / "reg-files"))
    api = HubApi(tmp_path, engine, **config)
    clock = clock or (lambda: NOW)
    api.app.state.clock = clock
    with api.sessions.begin() as session:
        seed_org(session)
        session.get(Employee, STAFF).mobile = MOBILE
    configure(api.app, PhoneService(PhoneConfig(sms_outbox=tmp_path / "sms-outbox.jsonl"), api.sessions,
                                    encoder=FaceEncoder(), clock=clock))
    return api


def activate(client, outbox: Path) -> dict[str, str]:
    """Activate H001's phone through the phone API; returns the headers of the logged-in phone."""
    started = client.post(f"{PHONE_API}/activation", json={"staff_number": STAFF})
    assert started.status_code == 200, started.text
    activation_id = started.json()["activation_id"]
    verified = client.post(f"{PHONE_API}/activation/verify",
                           json={"activation_id": activation_id, "code": phonekit.last_code(outbox, MOBILE)})
    assert verified.status_code == 200, verified.text
    done = client.post(f"{PHONE_API}/activation/complete", json={
        "activation_id": activation_id, "setup_token": verified.json()["setup_token"], "password": phonekit.PASSWORD})
    assert done.status_code == 200, done.text
    body = done.json()
    return {"Authorization": f"Bearer {body['session_token']}", "X-Phone-Device": body["device_token"]}


def stored_requests(api: HubApi) -> list[RegularisationRequest]:
    with api.sessions() as session:
        return list(session.scalars(select(RegularisationRequest).order_by(RegularisationRequest.id)))
