"""Liveness for load balancers and the demo: no auth, checks the database answers."""

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.api.deps import SessionDep, public

log = logging.getLogger(__name__)
PREFIX = ""
router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[Depends(public)])
def healthz(session: SessionDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database does not answer: %s", type(exc).__name__)
        return JSONResponse({"status": "error", "db": "error"}, status_code=503)
    return JSONResponse({"status": "ok", "db": "ok"})
