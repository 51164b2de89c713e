"""Friendly HTML error pages for people's browsers; JSON errors stay JSON for the API.

A browser that opens ``/dashboard/no-such-page`` or a mistyped address should get a page that says
what happened and links somewhere useful, in the reader's language (the shared catalogue, chosen
from Accept-Language), not ``{"detail":"Not Found"}``. API paths and clients that do not ask for
HTML keep the JSON answers scripts rely on. The requested path is never echoed into the page.
"""

import html
import logging

from fastapi import Request
from fastapi.responses import HTMLResponse

from i18n.catalogue import available_languages, catalogue

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
API_PREFIXES = ("/api/", "/i18n/", "/metrics", "/openapi.json", "/healthz")


def wants_html(request: Request) -> bool:
    """A browser navigation (Accept names text/html) to a path that is not part of the API."""
    path = request.url.path
    return "text/html" in request.headers.get("accept", "") and not path.startswith(API_PREFIXES)


def language(request: Request) -> str:
    """The first language of Accept-Language the catalogue has (English when none)."""
    known = available_languages()
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in known:
            return code
    return "en"


def error_page(request: Request, status_code: int) -> HTMLResponse:
    """The 404 or 500 page (any other status is shown as the 500 page's wording with its number)."""
    lang = language(request)
    text = catalogue(lang).text
    kind = "not_found" if status_code == 404 else "server_error"
    title = html.escape(text(f"dashboard.errors.{kind}_title"))
    body = html.escape(text(f"dashboard.errors.{kind}_body"))
    page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard/style.css"><title>{title}</title></head>
<body data-status="{status_code}"><main><section class="card narrow error-page">
<h2>{title}</h2><p>{body}</p>
<p><a class="button" href="/dashboard/">{html.escape(text("dashboard.errors.go_dashboard"))}</a>
<a href="/phone/">{html.escape(text("dashboard.errors.go_phone"))}</a></p>
<p class="muted small">HTTP {status_code}</p>
</section></main></body></html>
"""
    return HTMLResponse(page, status_code=status_code, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})
