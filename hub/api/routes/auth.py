"""Login (session token as JSON for API clients and as a cookie for the dashboard), logout,
password change, and who am I."""

from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from hub.accounts import audit, sessions, users
from hub.api.deps import SESSION_COOKIE, PendingUser, SessionDep, now, public
from hub.errors import Forbidden, Unauthorized

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    username: str
    role: str
    must_change_password: bool


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    username: str
    role: str
    employee_id: str | None
    unit_ids: list[str]
    must_change_password: bool


@router.post("/login", dependencies=[Depends(public)])
def login(body: LoginIn, request: Request, response: Response, session: SessionDep) -> LoginOut:
    """401 for a wrong user name or password (the same answer for both); 429 with Retry-After when
    this address guessed too often, or for a few seconds while the account is under attack."""
    config = request.app.state.config.auth
    source = request.client.host if request.client else "unknown"  # the real client behind trusted proxies
    try:
        result = sessions.login(session, body.username, body.password, source=source, now=now(request),
                                config=config, security=request.app.state.config.security)
    except Unauthorized:
        audit.record_login(session, body.username.strip().lower(), ok=False, source=source)
        session.commit()  # the failure counts towards the lockout
        raise
    audit.record_login(session, result.user.username, ok=True, source=source, user_id=result.user.user_id)
    session.commit()
    response.set_cookie(SESSION_COOKIE, result.token, max_age=config.session_ttl_s, httponly=True,
                        secure=config.cookie_secure, samesite="lax", path="/")
    return LoginOut(token=result.token, expires_at=result.expires_at, username=result.user.username,
                    role=result.user.role, must_change_password=result.user.must_change_password)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(user: PendingUser, request: Request, response: Response, session: SessionDep) -> None:
    if request.state.token_sha256 is not None:
        sessions.logout(session, request.state.token_sha256)
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordIn, user: PendingUser, request: Request, session: SessionDep) -> None:
    """The only call a user with a one-time password may make (besides logout and me).
    Other sessions of the user end; this one stays."""
    if user.user_id is None:
        raise Forbidden("the machine token has no password")
    users.change_password(session, user.user_id, body.current_password, body.new_password,
                          keep_session=request.state.token_sha256, now=now(request))
    session.commit()


@router.get("/me")
def me(user: PendingUser) -> MeOut:
    return MeOut(username=user.username, role=user.role, employee_id=user.employee_id,
                 unit_ids=sorted(user.unit_ids), must_change_password=user.must_change_password)
