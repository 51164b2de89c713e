"""The real client address behind trusted reverse proxies, and nobody else's say-so.

Every limit keyed by address (logins, SMS codes) reads ``request.client``.
A client that sends its own ``X-Forwarded-For`` must not get a new address
per request, so the header is believed only when the peer that connected is
one of ``security.trusted_proxies``; then the address is the right-most
entry that is not itself a trusted proxy (entries further left were written
by the client and prove nothing). ``X-Forwarded-Proto`` from a trusted proxy
sets the scheme, so the phone page sees HTTPS behind a TLS proxy.

uvicorn's own proxy handling is switched off (``hub.app.run_api``) so that
this is the one place that decides.
"""

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

Network = IPv4Network | IPv6Network


def is_trusted(address: str | None, proxies: Sequence[Network]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str | None:
    """``peer`` unless it is a trusted proxy; then the right-most untrusted address of the
    ``X-Forwarded-For`` chain (header values in order), or ``peer`` when the chain is empty or garbled."""
    if not is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            log.warning("unreadable X-Forwarded-For entry from trusted proxy %s", peer)
            return peer
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class TrustedProxyMiddleware:
    """Rewrites the ASGI scope's client (and scheme) from headers set by a trusted proxy."""

    def __init__(self, app: ASGIApp, proxies: Sequence[Network]) -> None:
        self.app = app
        self.proxies = list(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            peer_host, peer_port = scope.get("client") or (None, 0)
            if is_trusted(peer_host, self.proxies):
                headers = [(k.lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]
                forwarded = [v for k, v in headers if k == b"x-forwarded-for"]
                scope = dict(scope, client=(client_address(peer_host, forwarded, self.proxies), peer_port))
                proto = next((v.strip().lower() for k, v in headers if k == b"x-forwarded-proto"), None)
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)
