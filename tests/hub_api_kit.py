"""A hub API on a real database for tests: the app, its database, and clients logged in as each role.

Users are made the way an admin makes them (one-time password) and then
choose their own password through the API, so every client here went
through the real login.
"""

import secrets
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.accounts import users
from hub.api import create_app
from hub.config import HubConfig
from hub.db import PunchRecord, make_session_factory
from hub.masterdata import employees, sites, units
from hub.masterdata.fields import DdoIn, EmployeeIn, SiteIn, UnitIn

PASSWORD = "correct horse battery"


class HubApi:
    def __init__(self, tmp_path: Path, engine: Engine, **config) -> None:
        self.token = secrets.token_urlsafe(32)
        (tmp_path / "admin.token").write_text(self.token)
        config.setdefault("auth", {})["cookie_secure"] = False  # the test client speaks plain HTTP
        config.setdefault("enrolment", {}).setdefault("photo_dir", str(tmp_path / "photos"))
        self.config = HubConfig.model_validate({"admin_token_file": str(tmp_path / "admin.token"), **config})
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.app = create_app(self.config, engine)
        self._clients: list[TestClient] = []

    def client(self, token: str | None = None, address: str = "testclient") -> TestClient:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        client = TestClient(self.app, headers=headers, client=(address, 50000))
        self._clients.append(client)
        return client

    @property
    def machine(self) -> TestClient:
        return self.client(self.token)

    def add_user(self, username: str, role: str, **kw) -> str:
        """Create a user and return their one-time password."""
        with self.sessions() as session:
            _, password = users.create_user(session, username, role, **kw)
            session.commit()
        return password

    def login(self, username: str, password: str = PASSWORD, address: str = "testclient") -> TestClient:
        client = self.client(address=address)
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['token']}"
        return client

    def user_client(self, username: str, role: str, **kw) -> TestClient:
        """A user who logged in with the one-time password and chose PASSWORD."""
        one_time = self.add_user(username, role, **kw)
        client = self.login(username, one_time)
        changed = client.post("/api/v1/auth/password", json={"current_password": one_time, "new_password": PASSWORD})
        assert changed.status_code == 204, changed.text
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def seed_org(session) -> None:
    """Two departments with offices, DDOs, sites and a few employees (no faces)."""
    units.create_unit(session, UnitIn(unit_id="HEALTH", name="Health", kind="department"))
    units.create_unit(session, UnitIn(unit_id="PHC-1", name="PHC One", parent_id="HEALTH"))
    units.create_unit(session, UnitIn(unit_id="PHC-2", name="PHC Two", parent_id="HEALTH"))
    units.create_unit(session, UnitIn(unit_id="EDU", name="Education", kind="department"))
    units.create_unit(session, UnitIn(unit_id="SCH-1", name="School One", parent_id="EDU"))
    units.create_ddo(session, DdoIn(ddo_id="DDO-H", name="Health pay", unit_id="HEALTH"))
    units.create_ddo(session, DdoIn(ddo_id="DDO-E", name="Education pay", unit_id="EDU"))
    for site_id, unit_id in (("S-PHC1", "PHC-1"), ("S-PHC2", "PHC-2"), ("S-SCH1", "SCH-1")):
        sites.create_site(session, SiteIn(site_id=site_id, name=site_id, unit_id=unit_id))
    for employee_id, site_id, unit_id, ddo_id in (
        ("H001", "S-PHC1", "PHC-1", "DDO-H"), ("H002", "S-PHC2", "PHC-2", "DDO-H"),
        ("E001", "S-SCH1", "SCH-1", "DDO-E"), ("E002", "S-SCH1", "SCH-1", "DDO-E"),
    ):
        employees.create_employee(session, EmployeeIn(employee_id=employee_id, name=f"Person {employee_id}",
                                                      home_site_id=site_id, unit_id=unit_id, ddo_id=ddo_id))


REPORT_DAY = date(2026, 4, 7)
IST = ZoneInfo("Asia/Kolkata")


def punch_record(employee_id: str, site_id: str, hhmm: str, reason: str | None = None,
                 day: date = REPORT_DAY) -> PunchRecord:
    """A stored kiosk punch at ``hhmm`` IST on ``day``, as the reports read them."""
    ts = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=IST)
    return PunchRecord(id=str(uuid.uuid4()), device_id="kiosk-1", site_id=site_id, employee_id=employee_id,
                       device_ts=ts, device_utc_offset_min=330, received_at=ts + timedelta(seconds=2), method="face",
                       distance=0.4, margin=0.2, gallery_version=1, liveness_passed=True, liveness_score=0.9, seq=0,
                       payload="{}", reason=reason)
