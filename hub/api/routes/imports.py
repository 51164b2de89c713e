"""Bulk employee import (admin): upload a CSV for a validation report, then accept it.

Nothing is written on upload but the file itself. Accept validates the stored
file again against the database as it is then and writes the valid rows in one
transaction (hub.masterdata.importer).

Each step has a background twin (``.../background``) answering 202 with a job
id at once; the dashboard polls ``GET /api/v1/jobs/{job_id}`` for rows checked
(or written) of the total, and reads the same report as the plain step from
the job's ``result``. A 10,000-row file thus shows progress instead of a
request that hangs.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, Request, UploadFile, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.api.deps import MAX_ROW_ID, AdminDep, SessionDep
from hub.db import EmployeeImport, utcnow
from hub.errors import Conflict, InvalidInput, NotFound
from hub.masterdata import importer

router = APIRouter(prefix="/imports/employees", tags=["import"])
ImportId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the id the upload answered with")]
MAX_CSV_BYTES = 20 * 1024 * 1024


class ProblemOut(BaseModel):
    line: int
    staff_number: str
    reasons: list[str]


class ReportOut(BaseModel):
    import_id: int
    filename: str
    status: str
    uploaded_at: datetime
    rows_total: int
    valid_rows: int
    new: int
    updated: int
    unchanged: int
    file_problems: list[str]
    problems: list[ProblemOut]


class AcceptOut(ReportOut):
    created: int
    gallery_versions: dict[str, int]


def report_out(row: EmployeeImport, report: importer.ValidationReport) -> ReportOut:
    return ReportOut(
        import_id=row.id, filename=row.filename, status=row.status, uploaded_at=row.uploaded_at,
        rows_total=report.rows_total, valid_rows=len(report.valid), new=report.new, updated=report.updated,
        unchanged=report.unchanged, file_problems=report.file_problems,
        problems=[ProblemOut(line=p.line, staff_number=p.staff_number, reasons=list(p.reasons))
                  for p in report.problems],
    )


def pending(session, import_id: int) -> EmployeeImport:
    row = session.get(EmployeeImport, import_id)
    if row is None:
        raise NotFound(f"unknown import {import_id}")
    return row


class JobOut(BaseModel):
    job_id: str
    import_id: int


def stored(session: Session, file: UploadFile, admin: Principal) -> EmployeeImport:
    """The uploaded file kept as a pending import (flushed, not committed); too large is refused."""
    data = file.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES} bytes; split it")
    row = EmployeeImport(uploaded_by=admin.username, filename=(file.filename or "upload.csv")[:255], content=data,
                         status="pending", uploaded_at=utcnow())
    session.add(row)
    session.flush()
    return row


def check(session: Session, row: EmployeeImport, admin: Principal,
          progress: importer.Progress | None = None) -> ReportOut:
    """Validate the stored file, audit the upload and commit."""
    report = importer.validate(session, row.content, progress)
    audit.record(session, admin, "import.upload", f"import:{row.id}", None,
                 {"filename": row.filename, "rows": report.rows_total, "valid": len(report.valid),
                  "problems": len(report.problems)})
    session.commit()
    return report_out(row, report)


def accept_import(session: Session, import_id: int, admin: Principal,
                  progress: importer.Progress | None = None) -> AcceptOut:
    row = pending(session, import_id)
    if row.status != "pending":
        raise Conflict(f"import {import_id} was already accepted at {row.accepted_at}")
    result = importer.write(session, row.content, admin, progress)
    if result.report.file_problems:
        raise InvalidInput("the file cannot be imported: " + "; ".join(result.report.file_problems))
    row.status, row.accepted_at = "accepted", utcnow()
    audit.record(session, admin, "import.accept", f"import:{import_id}", None,
                 {"created": result.created, "updated": result.updated, "refused": len(result.report.problems)})
    session.commit()
    return AcceptOut(**report_out(row, result.report).model_dump(), created=result.created,
                     gallery_versions=result.versions)


def in_background(request: Request, admin: Principal, import_id: int,
                  step: Callable[[Session, Callable[[str, int, int], None]], BaseModel]) -> JobOut:
    """Run ``step(session, progress)`` as a job with a session of its own; its answer is the result."""
    session_factory = request.app.state.session_factory

    def work(job):
        with session_factory() as session:
            return step(session, job.advance).model_dump(mode="json")

    job = request.app.state.jobs.start("employee_import", admin.username, work)
    return JobOut(job_id=job.job_id, import_id=import_id)


@router.post("", status_code=status.HTTP_201_CREATED)
def upload(file: Annotated[UploadFile, File(description="employees CSV")], session: SessionDep,
           admin: AdminDep) -> ReportOut:
    return check(session, stored(session, file, admin), admin)


@router.post("/background", status_code=status.HTTP_202_ACCEPTED)
def upload_in_background(file: Annotated[UploadFile, File(description="employees CSV")], request: Request,
                         session: SessionDep, admin: AdminDep) -> JobOut:
    """As ``POST /imports/employees``; the report is the job's result."""
    row = stored(session, file, admin)
    session.commit()
    import_id = row.id
    return in_background(request, admin, import_id,
                         lambda s, progress: check(s, pending(s, import_id), admin, progress))


@router.get("/{import_id}")
def show(import_id: ImportId, session: SessionDep, _admin: AdminDep) -> ReportOut:
    """The report, validated again against the database as it is now."""
    row = pending(session, import_id)
    return report_out(row, importer.validate(session, row.content))


@router.post("/{import_id}/accept")
def accept(import_id: ImportId, session: SessionDep, admin: AdminDep) -> AcceptOut:
    return accept_import(session, import_id, admin)


@router.post("/{import_id}/accept/background", status_code=status.HTTP_202_ACCEPTED)
def accept_in_background(import_id: ImportId, request: Request, session: SessionDep, admin: AdminDep) -> JobOut:
    """As ``.../accept``; checked to exist and be pending first, so those refusals come at once."""
    if pending(session, import_id).status != "pending":
        raise Conflict(f"import {import_id} was already accepted")
    session.rollback()
    return in_background(request, admin, import_id, lambda s, progress: accept_import(s, import_id, admin, progress))
