"""The hub's HTTP API, built by ``create_app`` (no module-level settings or engine)."""

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy import Engine

from hub import __version__
from hub.api.docs import add_docs
from hub.api.error_pages import error_page, wants_html
from hub.api.headers import SecurityHeadersMiddleware
from hub.api.jobs import JobBoard
from hub.api.proxies import TrustedProxyMiddleware
from hub.api.routes import DEFAULT_PREFIX, route_modules
from hub.config import HubConfig
from hub.db import make_session_factory, utcnow
from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from protocol.settings import read_secret

log = logging.getLogger(__name__)
_STATUS = {NotFound: 404, Conflict: 409, InvalidInput: 422, Unauthorized: 401, Forbidden: 403, TooManyAttempts: 429}


def create_app(config: HubConfig, engine: Engine) -> FastAPI:
    """An app bound to ``engine``; reads the admin token now, so a bad token file stops start-up.

    ``app.state.clock`` (UTC now) and ``app.state.encoder_factory`` (the face
    encoder, built on first enrolment) may be replaced by tests.
    """
    app = FastAPI(title="Attendance hub", version=__version__, docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.session_factory = make_session_factory(engine)
    app.state.admin_token = read_secret(config.admin_token_file, "admin token")
    metrics_token_file = config.metrics.token_file  # a scrape token that opens /metrics only
    app.state.metrics_token = read_secret(metrics_token_file, "metrics token") if metrics_token_file else None
    app.state.clock = utcnow
    app.state.encoder_factory = _build_encoder
    app.state.jobs = JobBoard()  # long uploads the dashboard polls (hub/api/jobs.py)

    @app.exception_handler(HubError)
    async def hub_error(_request: Request, exc: HubError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        field = getattr(exc, "field", None)  # hub.errors.on_field: said beside that field of the form
        detail = [{"loc": ["body", field], "msg": str(exc), "type": "value_error"}] if field else str(exc)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """404s of browser pages get the friendly HTML page; the API keeps its JSON errors."""
        if exc.status_code == 404 and wants_html(request):
            return error_page(request, 404)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        """An unexpected failure: logged with its traceback; a browser gets a page, a script JSON."""
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if wants_html(request):
            return error_page(request, 500)
        return JSONResponse({"detail": "internal error; the hub's log has the details"}, status_code=500)

    for module in route_modules():
        app.include_router(module.router, prefix=getattr(module, "PREFIX", DEFAULT_PREFIX))
    add_docs(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TrustedProxyMiddleware, proxies=config.security.trusted_proxies)  # outermost: runs first
    return app


def _build_encoder():  # dlib is imported only when the first photo is enrolled
    from biometrics.encoder import FaceEncoder

    return FaceEncoder()
