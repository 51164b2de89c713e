"""The API's interactive docs (/docs) from locally installed Swagger UI files, with a CSP that allows them.

FastAPI's default /docs page loads its script and CSS from a CDN; a hub on a
closed network then shows a blank page, and a CDN compromise would run code
next to an admin's session. Here the files come from the PyPI package
``swagger-ui-bundle-v2`` (Swagger UI's own dist files, Apache-2.0, licence in
its dist-info), a hub dependency, so nothing is fetched at run time and no
1.7 MB bundle lives in this repository; the page's one inline script is
allowed by its SHA-256 hash, nothing else. ReDoc is not served (no package
ships its files).
"""

import base64
import hashlib
import re
from pathlib import Path

from fastapi import Depends, FastAPI
from swagger_ui_bundle import swagger_ui_path
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from hub.api.deps import public
from hub.errors import NotFound

VENDOR = Path(str(swagger_ui_path))
ASSET_PREFIX = "/docs/assets"
ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
          "favicon-32x32.png": "image/png"}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-...') for each inline script of ``html``."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'"
            for body in _INLINE_SCRIPT.findall(html)]


def docs_policy(html: str) -> str:
    # Swagger UI sets style attributes and small <style> blocks from script; images are data: URIs
    return (f"default-src 'self'; script-src 'self' {' '.join(script_hashes(html))}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")


def add_docs(app: FastAPI) -> None:
    """Serve /docs and its assets; the app must be built with ``docs_url=None, redoc_url=None``."""
    html = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API docs",
        swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PREFIX}/favicon-32x32.png",
    ).body.decode("utf-8")
    headers = {"Content-Security-Policy": docs_policy(html), "Cache-Control": "no-cache"}

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(public)])
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    @app.get(ASSET_PREFIX + "/{asset}", include_in_schema=False, dependencies=[Depends(public)])
    def docs_asset(asset: str) -> FileResponse:
        if asset not in ASSETS:
            raise NotFound(f"no docs asset {asset!r}")
        return FileResponse(VENDOR / asset, media_type=ASSETS[asset], headers={"Cache-Control": "max-age=86400"})
