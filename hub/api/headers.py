"""Security headers on every answer: a Content-Security-Policy unless the page set its own.

The dashboard, phone and docs pages send policies fitted to what they load;
everything else (JSON, CSV, errors) gets ``DEFAULT_CSP``, so a response that
a browser is tricked into rendering as HTML can run no script from anywhere
and cannot be framed.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
               "base-uri 'none'; form-action 'self'")
DEFAULTS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeadersMiddleware:
    """Adds each of ``DEFAULTS`` that the response does not carry already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DEFAULTS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
