"""Phone test helpers: a hub with sites, an enrolled employee (real photos), a clock, activation.

Shared by the phone API tests, the browser tests and ``benchmarks/phone.py``.
Nothing here fakes the hub: the app is ``create_app`` on a real database,
faces are real photos from ``../shared/faces/dev`` encoded by the real
encoder, and activation codes are read from the real SMS outbox file.
"""

import math
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine

from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.api import create_app
from hub.api.routes.phone import configure
from hub.config import HubConfig
from hub.db import Employee, EmployeeAllowedSite, FaceTemplate, Site, make_session_factory
from hub.phone.config import PhoneConfig
from hub.phone.service import PhoneService
from hub.phone.sms import read_outbox

# The employee is enrolled from photos 2.. of SELF and takes selfies from 1.jpg;
# OTHER is a different person. Both folders have 4+ photos with one face each.
SELF = "Barack_Obama"
OTHER = "Holly_Hunter"

HOME = (26.8467, 80.9462)  # a district office
STAFF = "UP1001"
MOBILE = "+919812345612"
PASSWORD = "Ghar-ka-rasta-42"


def offset(point: tuple[float, float], north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """A point ``north_m``/``east_m`` metres from ``point`` (small distances)."""
    lat, lon = point
    return lat + north_m / 111_195.0, lon + east_m / (111_195.0 * math.cos(math.radians(lat)))


ANNEX = offset(HOME, north_m=300)      # an allowed site next door (within the travel tolerance)
FAR = offset(HOME, north_m=80_000)     # an allowed site 80 km away
FOREIGN = offset(HOME, east_m=2_000)   # a site the employee is NOT allowed at


class Clock:
    """A UTC clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def photo(faces_dir: Path, identity: str, n: int) -> Path:
    return next(p for p in (faces_dir / "dev" / identity).iterdir() if p.stem == str(n))


def encodings(encoder: FaceEncoder, paths: list[Path]) -> list[bytes]:
    out = []
    for path in paths:
        found = encoder.encode_largest(load_image_rgb(path))
        assert found is not None, f"no face in {path}"
        out.append(found[1].astype("<f4").tobytes())
    return out


def encodings_of(encoder: FaceEncoder, images: list) -> list[bytes]:
    """Template blobs of RGB arrays (e.g. frames of the real video), one face each."""
    out = []
    for i, rgb in enumerate(images):
        found = encoder.encode_largest(rgb)
        assert found is not None, f"no face in image {i}"
        out.append(found[1].astype("<f4").tobytes())
    return out


def build_world(engine: Engine, templates: list[bytes], *, home_policy: str = "always") -> None:
    """Sites HOME (the employee's), ANNEX and FAR (allowed), FOREIGN (not allowed); employee STAFF
    enrolled with ``templates``; a second employee NOFACE with no templates; a leaver GONE."""
    sites = [("home", "District Office", HOME, home_policy), ("annex", "Block Office", ANNEX, "always"),
             ("far", "Tehsil Office", FAR, "always"), ("foreign", "Other Office", FOREIGN, "always")]
    with make_session_factory(engine)() as session:
        for site_id, name, (lat, lon), policy in sites:
            session.add(Site(site_id=site_id, name=name, lat=lat, lon=lon, radius_m=100.0, phone_policy=policy))
        session.flush()
        session.add_all([
            Employee(employee_id=STAFF, name="Asha Verma", home_site_id="home", mobile=MOBILE),
            Employee(employee_id="UP1002", name="No Face Yet", home_site_id="home", mobile="+919800000002"),
            Employee(employee_id="UP1003", name="Left Already", home_site_id="home", mobile="+919800000003",
                     active=False),
            Employee(employee_id="UP1004", name="No Mobile", home_site_id="home"),
        ])
        session.flush()
        session.add_all([EmployeeAllowedSite(employee_id=STAFF, site_id=s) for s in ("annex", "far")])
        session.add_all([FaceTemplate(employee_id=STAFF, encoding=t, source=f"{i}.jpg")
                         for i, t in enumerate(templates)])
        session.commit()


def make_app(tmp_path: Path, engine: Engine, encoder: FaceEncoder, clock=None, kiosk_status=None, rng=None,
             **phone_settings) -> FastAPI:
    """``create_app`` on ``engine`` with a phone config whose SMS outbox is in ``tmp_path``.

    The liveness challenge is off unless ``challenge="required"`` is passed: these helpers serve the
    tests of every other phone rule, which send one selfie (test_phone_proxy.py tests the challenge).
    """
    phone_settings.setdefault("challenge", "off")
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32) + "\n")
    app = create_app(HubConfig(admin_token_file=token, database_url=str(engine.url)), engine)
    phone_settings.setdefault("sms_outbox", tmp_path / "sms-outbox.jsonl")
    extra = {"kiosk_status": kiosk_status} if kiosk_status else {}
    if rng is not None:
        extra["rng"] = rng  # draws the challenge (e.g. one that always asks for a blink)
    configure(app, PhoneService(PhoneConfig(**phone_settings), app.state.session_factory, encoder=encoder,
                                clock=clock or (lambda: datetime.now(timezone.utc)), **extra))
    return app


def last_code(outbox: Path, mobile: str = MOBILE) -> str:
    """The code of the newest SMS to ``mobile`` in the outbox file."""
    texts = [m["text"] for m in read_outbox(outbox) if m["to"] == mobile]
    assert texts, f"no SMS to {mobile} in {outbox}"
    return re.search(r"\b(\d{6})\b", texts[-1]).group(1)
