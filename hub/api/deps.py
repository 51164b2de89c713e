"""Dependencies shared by the routes: a database session, who is calling, and what they may do.

Every route declares a role policy with exactly one of these (the access
test walks the app's route table and fails on a route without one):

- ``Depends(require_role("admin", ...))`` or the aliases ``AdminDep``,
  ``OfficerDep`` (admin or unit officer), ``CurrentUser`` (any role);
- ``PendingUser``: any logged-in user, even one who must still change the
  one-time password (only password change, logout and "me" use it);
- ``dependencies=[Depends(public)]``: no login (health check, login itself).

Credentials: ``Authorization: Bearer <token>`` (a session token, or the
machine token from ``admin_token_file``, which acts as role admin for
provisioning), or the ``hub_session`` cookie set by login for the dashboard.
Unit scoping for data: ``visible_unit_ids(user, session)`` (None = all units)
and ``check_employee_visible(user, session, employee_id)``.
"""

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hub.accounts import sessions, users
from hub.accounts.models import ROLES
from hub.accounts.principal import ADMIN, UNIT_OFFICER, Principal, machine
from hub.accounts.scope import check_employee_visible, visible_unit_ids  # noqa: F401  (re-exported)

SESSION_COOKIE = "hub_session"
PUBLIC = "public"
# the largest id a database integer column holds (SQLite and PostgreSQL BIGINT): a larger one in a
# path or query is refused with 422 instead of overflowing in the driver
MAX_ROW_ID = 2 ** 63 - 1

_bearer = HTTPBearer(auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def now(request: Request) -> datetime:
    """The app's clock (tests replace ``app.state.clock`` to expire sessions)."""
    return request.app.state.clock()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Whoever the bearer token or session cookie names; 401 when nobody.

    Sets ``request.state.token_sha256`` for a session login (logout and
    password change need it).
    """
    source = request.client.host if request.client else None
    request.state.token_sha256 = None
    if credentials is not None:
        token = credentials.credentials
        expected: str = request.app.state.admin_token
        if hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
            return machine(source)
    elif request.headers.get("authorization"):
        raise _unauthorized("only bearer credentials are accepted")
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
    resolved = sessions.resolve(session, token, now(request))
    if resolved is None:
        raise _unauthorized("not logged in, or the session has expired")
    user, digest = resolved
    request.state.token_sha256 = digest
    return users.principal_of(session, user, source)


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting these roles (403 for the others) once the password is the user's own."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {ROLES}")

    def dependency(user: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if user.must_change_password:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "change your one-time password first")
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role} may not do this")
        return user

    dependency.roles = frozenset(roles)  # type: ignore[attr-defined]  (read by the access test)
    return dependency


def pending_user(user: Annotated[Principal, Depends(authenticate)]) -> Principal:
    return user


pending_user.roles = frozenset(ROLES)  # type: ignore[attr-defined]
pending_user.allows_pending = True  # type: ignore[attr-defined]


def public() -> None:
    """Marks a route that needs no login."""


public.roles = frozenset({PUBLIC})  # type: ignore[attr-defined]

AdminDep = Annotated[Principal, Depends(require_role(ADMIN))]
OfficerDep = Annotated[Principal, Depends(require_role(ADMIN, UNIT_OFFICER))]
CurrentUser = Annotated[Principal, Depends(require_role(*ROLES))]
PendingUser = Annotated[Principal, Depends(pending_user)]


def route_policies(app) -> list[tuple[str, str, frozenset[str] | None]]:
    """(method, path, roles) of every API route; roles None when the route declares no policy.

    Used by the access test and for documentation; copes with FastAPI's
    lazily included routers (``iter_route_contexts``) and with older versions.
    """
    from fastapi.routing import APIRoute

    try:
        from fastapi.routing import iter_route_contexts

        routes = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)]
    except ImportError:
        routes = [(getattr(r, "path", ""), r) for r in app.routes]
    policies = []
    for path, route in routes:
        if isinstance(route, APIRoute):
            roles = _declared_roles(route.dependant)
            policies += [(method, path, roles) for method in sorted(route.methods - {"HEAD"})]
    return policies


def _declared_roles(dependant) -> frozenset[str] | None:
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "roles", None)
        if roles is not None:
            return roles
        roles = _declared_roles(sub)
        if roles is not None:
            return roles
    return None
