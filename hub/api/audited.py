"""Audit of reads and exports of personal data: one router-level dependency, no code per route.

``AuditedReads("employee")`` on a router logs each of its successful GETs
as ``employee.read`` (``employee.export`` for a ``format=csv`` download)
with the caller, the employee named in the path (else the path) and the
query (filters such as unit, dates and staff numbers; these routes take no
secrets in their query). A refused or failed read raises through the
dependency's ``yield`` and is not logged as a read.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.api.deps import authenticate

READS = frozenset({"GET"})
MAX_QUERY_VALUE = 100


def AuditedReads(kind: str):  # noqa: N802  (used like a class: ``dependencies=[AuditedReads("employee")]``)
    """A dependency for ``APIRouter(dependencies=[...])`` that audits every successful read of ``kind``."""

    def audit_read(request: Request, user: Annotated[Principal, Depends(authenticate)]) -> Iterator[None]:
        yield
        if request.method not in READS:
            return
        query = {k: v[:MAX_QUERY_VALUE] for k, v in request.query_params.items()}
        action = f"{kind}.export" if query.get("format") == "csv" else f"{kind}.read"
        employee_id = request.path_params.get("employee_id")
        target = f"employee:{employee_id}" if employee_id else request.url.path
        audit.record_apart(request.app.state.session_factory, user, action, target,
                           {"path": request.url.path, "query": query})

    return Depends(audit_read)
