"""Background jobs of the caller (ZIP enrolment, staff-list checks): poll for progress and result."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from hub.api.deps import AdminDep

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}")
def show_job(
    job_id: Annotated[str, Path(max_length=64)], request: Request, admin: AdminDep,
    since: Annotated[int, Query(ge=0, le=1_000_000, description="items the caller already has")] = 0,
) -> dict[str, Any]:
    """``state`` running/done/failed, ``done`` of ``total`` in ``stage``, the ``items`` after ``since``
    (e.g. each photo's verdict), and at the end ``result`` or ``error`` (hub/api/jobs.py)."""
    return request.app.state.jobs.get(job_id, admin.username).snapshot(since)
