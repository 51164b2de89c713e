"""GET /metrics: Prometheus text exposition of the hub (hub/metrics.py).

Not public: device names, sites and backlogs are the fleet's inventory.
Readable by an admin (session or the machine token), or by a scraper that
holds the token in ``metrics.token_file``, which opens /metrics and nothing
else, so Prometheus never needs the admin token. Prometheus config:

    scrape_configs:
      - job_name: attendance-hub
        authorization: {credentials_file: /etc/prometheus/hub-metrics.token}
        static_configs: [{targets: ["hub.example.org:8080"]}]
"""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub import metrics
from hub.accounts.principal import ADMIN
from hub.api.deps import SessionDep, authenticate, now, require_role

PREFIX = ""
router = APIRouter(tags=["metrics"])

_bearer = HTTPBearer(auto_error=False)
_admin = require_role(ADMIN)


def metrics_reader(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The scrape token, or else whatever admits an admin (401 / 403 as on other admin routes)."""
    token: str | None = getattr(request.app.state, "metrics_token", None)
    if token and credentials is not None and hmac.compare_digest(
            credentials.credentials.encode("utf-8"), token.encode("utf-8")):
        return
    _admin(authenticate(request, session, credentials))


metrics_reader.roles = frozenset({ADMIN})  # type: ignore[attr-defined]  (the policy, as the access test reads it)


@router.get("/metrics", dependencies=[Depends(metrics_reader)], response_class=Response)
def read_metrics(request: Request, session: SessionDep) -> Response:
    body = metrics.render(session, request.app.state.config, now(request))
    return Response(body, media_type=metrics.CONTENT_TYPE)
