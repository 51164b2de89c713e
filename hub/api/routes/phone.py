"""The phone page and its API (/phone/...), and the admin's view of refusals (/api/v1/phone/...).

Phone requests carry two bearer tokens: the session (``Authorization:
Bearer``) and the device token that binds the phone (``X-Phone-Device``),
both in headers, never cookies, so another site cannot make the browser
send them. Every refusal is JSON: ``{"ok": false, "reason", "message":
{"en", "hi"}, "details"}`` with a fitting HTTP status.
"""

import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.accounts import audit
from hub.accounts.principal import EMPLOYEE, Principal
from hub.api.deps import AdminDep, SessionDep, public
from hub.devices.health import site_kiosk_status
from hub.masterdata.employees import get_employee
from hub.enrolment import consent
from hub.phone.accounts import Identity
from hub.phone.bindings import phone_state
from hub.phone.config import PhoneConfig
from hub.phone.geofence import Fix, check_fix
from hub.phone.models import PhoneRefusal
from hub.phone.punching import PunchInput
from hub.phone.reasons import ACCEPTED, Refused, render
from hub.phone.service import PhoneService

PREFIX = ""  # the page and its API live at /phone, the admin view under /api/v1/phone
STATIC = Path(__file__).resolve().parents[2] / "static" / "phone"
ASSETS = {"app.js": "text/javascript", "regularisation.js": "text/javascript", "style.css": "text/css",
          "manifest.webmanifest": "application/manifest+json", "icon.svg": "image/svg+xml"}
LOCAL_CLIENTS = {"127.0.0.1", "::1", "localhost"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
_build_lock = threading.Lock()


def configure(app: FastAPI, service: PhoneService) -> None:
    """Use ``service`` for the phone routes (tests and benchmarks pass their own)."""
    app.state.phone = service


def _service(request: Request) -> PhoneService:
    """The app's PhoneService, built on first use from ``app.state.config.phone``."""
    state = request.app.state
    with _build_lock:
        if getattr(state, "phone", None) is None:
            hub_config = getattr(state, "config", None)
            config = getattr(hub_config, "phone", None) or PhoneConfig()
            stale_after_s = hub_config.health.stale_after_s if hub_config is not None else 180.0
            configure(request.app, PhoneService(config, state.session_factory, encoder=state.encoder_factory(),
                                                clock=lambda: state.clock(), kiosk_status=site_kiosk_status,
                                                kiosk_stale_after_s=stale_after_s))
    return state.phone


def refused_response(exc: Refused) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if "retry_after_s" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after_s"])
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


class PhoneRoute(APIRoute):
    """Turns a refusal raised anywhere in a phone route (dependencies included) into its JSON answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def refusing_handler(request: Request) -> Response:
            try:
                _check_length(request)
                return await handler(request)
            except Refused as exc:
                return refused_response(exc)

        return refusing_handler


FORM_ALLOWANCE = 64 * 1024  # the punch form's fields and multipart framing, beyond the frames


def _check_length(request: Request) -> None:
    """Refuse a phone request body larger than the largest punch from its Content-Length, before reading it
    (a body sent without one is still bounded per file by the route's reads); the TLS proxy should cap it too."""
    if request.method != "POST":
        return
    cfg = _service(request).config
    limit = (cfg.max_burst_bytes if cfg.challenge == "required" else cfg.max_selfie_bytes) + FORM_ALLOWANCE
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        raise Refused("request_invalid", detail="Content-Length is not a number") from None
    if length > limit and cfg.challenge == "required":
        raise Refused("burst_too_large", max_bytes=cfg.max_burst_bytes, max_frame_bytes=cfg.max_burst_frame_bytes)
    if length > limit:
        raise Refused("selfie_too_large", max_bytes=cfg.max_selfie_bytes)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def require_secure(request: Request, response: Response) -> None:
    """HTTPS only, unless the client is this machine itself and no proxy forwarded the request
    (a local TLS proxy sets X-Forwarded-Proto, which uvicorn turns into the scheme)."""
    response.headers["Cache-Control"] = "no-store"
    if not _service(request).config.require_https or request.url.scheme == "https":
        return
    forwarded = any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-forwarded-proto"))
    if _address(request) in LOCAL_CLIENTS and not forwarded:
        return
    raise Refused("https_required")


phone_router = APIRouter(prefix="/phone", tags=["phone"], route_class=PhoneRoute,
                         dependencies=[Depends(public), Depends(require_secure)])
admin_router = APIRouter(prefix="/api/v1/phone", tags=["phone"])
PhoneDep = Annotated[PhoneService, Depends(_service)]


def current_identity(
    request: Request, phone: PhoneDep,
    authorization: Annotated[str | None, Header()] = None,
    x_phone_device: Annotated[str | None, Header()] = None,
) -> Identity:
    """The phone's own login (session + device token), not the dashboard's."""
    scheme, _, token = (authorization or "").partition(" ")
    with phone.audited("auth", _address(request)):
        return phone.accounts.authenticate(token.strip() if scheme.lower() == "bearer" else None, x_phone_device)


IdentityDep = Annotated[Identity, Depends(current_identity)]


# --- the page -----------------------------------------------------------------

@phone_router.get("", include_in_schema=False)
def page_redirect() -> RedirectResponse:
    return RedirectResponse("/phone/")


@phone_router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@phone_router.get("/{asset}", include_in_schema=False)
def page_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise Refused("request_invalid", detail="no such file")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=PAGE_HEADERS)


# --- activation and login -------------------------------------------------------

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ActivationIn(Body):
    staff_number: str = Field(min_length=1, max_length=64)


class VerifyIn(Body):
    activation_id: str = Field(max_length=128)
    code: str = Field(max_length=16)


class CompleteIn(Body):
    activation_id: str = Field(max_length=128)
    setup_token: str = Field(max_length=128)
    password: str = Field(max_length=256)


class LoginIn(Body):
    staff_number: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=256)


@phone_router.post("/api/activation")
def start_activation(body: ActivationIn, request: Request, phone: PhoneDep) -> dict[str, Any]:
    with phone.audited("activate", _address(request), body.staff_number):
        sent = phone.accounts.start_activation(body.staff_number, _address(request))
    return {"activation_id": sent.activation_id, "expires_at": sent.expires_at}


@phone_router.post("/api/activation/verify")
def verify_code(body: VerifyIn, request: Request, phone: PhoneDep) -> dict[str, Any]:
    with phone.audited("verify", _address(request)):
        return {"setup_token": phone.accounts.verify_code(body.activation_id, body.code, _address(request))}


@phone_router.post("/api/activation/complete")
def complete_activation(body: CompleteIn, request: Request, phone: PhoneDep,
                        user_agent: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    with phone.audited("setup", _address(request)):
        done = phone.accounts.complete_activation(body.activation_id, body.setup_token, body.password, user_agent)
    return {"employee_id": done.employee_id, "device_token": done.device_token,
            "session_token": done.session_token, "expires_at": done.expires_at}


@phone_router.post("/api/login")
def login(body: LoginIn, request: Request, phone: PhoneDep,
          x_phone_device: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    try:
        with phone.audited("login", _address(request), body.staff_number):
            done = phone.accounts.login(body.staff_number, body.password, x_phone_device, _address(request))
    except Refused as refused:
        _audit_login(request, body.staff_number, refused.code)
        raise
    _audit_login(request, body.staff_number)
    return {"employee_id": done.employee_id, "session_token": done.session_token, "expires_at": done.expires_at}


def _audit_login(request: Request, staff_number: str, refusal: str | None = None) -> None:
    """A phone login or failed login in the audit log (staff number and address; never the password)."""
    with request.app.state.session_factory() as session:
        audit.record_login(session, staff_number[:64], ok=refusal is None, source=_address(request), kind="phone",
                           why=refusal)
        session.commit()


@phone_router.post("/api/logout")
def logout(identity: IdentityDep, phone: PhoneDep) -> dict[str, Any]:
    phone.accounts.logout(identity)
    return {"ok": True}


# --- punching ---------------------------------------------------------------------

@phone_router.get("/api/me")
def me(identity: IdentityDep, phone: PhoneDep) -> dict[str, Any]:
    return phone.accounts.profile(identity)


class ConsentIn(Body):
    language: Literal["en", "hi"] = Field(description="the language the notice was shown in")


@phone_router.get("/api/consent")
def phone_consent(identity: IdentityDep, request: Request, session: SessionDep) -> dict[str, Any]:
    """Whether the person's consent is on record, and what the notice shows (first phone use)."""
    return {"given": consent.active(session, identity.employee_id) is not None,
            "notice_version": consent.NOTICE_VERSION,
            "photo_retention_days": request.app.state.config.enrolment.photo_retention_days}


@phone_router.post("/api/consent")
def phone_consent_given(identity: IdentityDep, body: ConsentIn, request: Request,
                        session: SessionDep) -> dict[str, Any]:
    """The person read the notice on their phone and agreed (kept as it is when already on record)."""
    if consent.active(session, identity.employee_id) is None:
        row = consent.record(session, identity.employee_id, language=body.language, channel="phone",
                             recorded_by=identity.employee_id)
        person = Principal(username=f"phone:{identity.employee_id}", role=EMPLOYEE,
                           employee_id=identity.employee_id, source=_address(request))
        audit.record(session, person, "consent.record", f"employee:{identity.employee_id}", None,
                     audit.snapshot(row))
        session.commit()
    return phone_consent(identity, request, session)


@phone_router.get("/api/sites")
def sites(identity: IdentityDep, phone: PhoneDep, lat: float | None = None,
          lon: float | None = None, accuracy: float | None = None) -> dict[str, Any]:
    """The allowed sites; with a valid position, also distances and where a punch would count."""
    try:
        fix: Fix | None = check_fix(lat, lon, accuracy) if None not in (lat, lon, accuracy) else None
    except Refused:
        fix = None
    return phone.punching.site_list(identity, fix)


@phone_router.post("/api/nonce")
def nonce(identity: IdentityDep, phone: PhoneDep) -> dict[str, Any]:
    """A single-use nonce, the challenge the burst must show (null when the challenge is off) and the burst's shape."""
    value, expires_at, challenge = phone.punching.issue_nonce(identity)
    cfg = phone.config
    return {"nonce": value, "expires_at": expires_at, "challenge": challenge,
            "burst": None if challenge is None else {
                "frames": cfg.burst_max_frames, "interval_ms": 100,
                "max_side": cfg.burst_max_side, "max_frame_bytes": cfg.max_burst_frame_bytes}}


def _number(value: str | None) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except ValueError:
        return float("nan")


@phone_router.post("/api/punch")
def punch(
    identity: IdentityDep, request: Request, phone: PhoneDep,
    lat: Annotated[str | None, Form()] = None,
    lon: Annotated[str | None, Form()] = None,
    accuracy: Annotated[str | None, Form()] = None,
    nonce: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    selfie: Annotated[UploadFile | None, File()] = None,
    frame: Annotated[list[UploadFile] | None, File(description="the burst's JPEG frames, in order")] = None,
    frame_ms: Annotated[str | None, Form(description="each frame's time, ms since the first, comma-separated")] = None,
) -> dict[str, Any]:
    cfg = phone.config
    data = selfie.file.read(cfg.max_selfie_bytes + 1) if selfie is not None else None
    frames = tuple(f.file.read(cfg.max_burst_frame_bytes + 1) for f in (frame or [])[:cfg.burst_max_frames + 1])
    with phone.audited("punch", _address(request), identity.employee_id) as context:
        done = phone.punching.punch(identity, PunchInput(_number(lat), _number(lon), _number(accuracy), nonce, data,
                                                         reason, frames, frame_ms), context)
    details = {"site_name": done.site_name, "time": done.local_ts.strftime("%H:%M")}
    return {"ok": True, "punch_id": done.punch_id, "site_id": done.site_id, "site_name": done.site_name,
            "ts": done.local_ts, "site_distance_m": done.site_distance_m, "match_distance": done.match_distance,
            "flags": done.flags, "reason": done.reason, "message": render(ACCEPTED, details)}


# --- admin --------------------------------------------------------------------------

class RefusalOut(BaseModel):
    id: int
    at: datetime
    step: str
    reason: str
    employee_id: str | None
    address: str | None
    site_id: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    details: str | None


@admin_router.get("/refusals")
def list_refusals(session: SessionDep, _admin: AdminDep, employee_id: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, list[RefusalOut]]:
    """Refused phone requests, newest first (an audit trail for gaming attempts)."""
    query = select(PhoneRefusal).order_by(PhoneRefusal.id.desc()).limit(limit)
    if employee_id is not None:
        query = query.where(PhoneRefusal.employee_id == employee_id)
    return {"items": [RefusalOut.model_validate(r, from_attributes=True) for r in session.scalars(query)]}


class PhoneStateOut(BaseModel):
    employee_id: str
    bound: bool
    label: str | None
    bound_at: datetime | None
    password_set_at: datetime | None
    revoked: int


@admin_router.get("/bindings/{employee_id}")
def phone_binding(employee_id: str, session: SessionDep, _admin: AdminDep) -> PhoneStateOut:
    """Whether the employee has a phone bound (and which browser), and when the phone password was set."""
    get_employee(session, employee_id)
    return PhoneStateOut(employee_id=employee_id, **vars(phone_state(session, employee_id)))


router = APIRouter()
router.include_router(phone_router)
router.include_router(admin_router)
