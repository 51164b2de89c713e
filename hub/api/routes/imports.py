"""Bulk employee import (admin): upload a CSV for a validation report, then accept it.

Nothing is written on upload. Accept validates the stored file again
against the database as it is then and writes the valid rows in one
transaction (hub.masterdata.importer).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, UploadFile, status
from pydantic import BaseModel

from hub.accounts import audit
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


@router.post("", status_code=status.HTTP_201_CREATED)
def upload(file: Annotated[UploadFile, File(description="employees CSV")], session: SessionDep,
           admin: AdminDep) -> ReportOut:
    data = file.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES} bytes; split it")
    row = EmployeeImport(uploaded_by=admin.username, filename=(file.filename or "upload.csv")[:255], content=data,
                         status="pending", uploaded_at=utcnow())
    report = importer.validate(session, data)
    session.add(row)
    session.flush()
    audit.record(session, admin, "import.upload", f"import:{row.id}", None,
                 {"filename": row.filename, "rows": report.rows_total, "valid": len(report.valid),
                  "problems": len(report.problems)})
    session.commit()
    return report_out(row, report)


@router.get("/{import_id}")
def show(import_id: ImportId, session: SessionDep, _admin: AdminDep) -> ReportOut:
    """The report, validated again against the database as it is now."""
    row = pending(session, import_id)
    return report_out(row, importer.validate(session, row.content))


@router.post("/{import_id}/accept")
def accept(import_id: ImportId, session: SessionDep, admin: AdminDep) -> AcceptOut:
    row = pending(session, import_id)
    if row.status != "pending":
        raise Conflict(f"import {import_id} was already accepted at {row.accepted_at}")
    result = importer.write(session, row.content, admin)
    if result.report.file_problems:
        raise InvalidInput("the file cannot be imported: " + "; ".join(result.report.file_problems))
    row.status, row.accepted_at = "accepted", utcnow()
    audit.record(session, admin, "import.accept", f"import:{import_id}", None,
                 {"created": result.created, "updated": result.updated, "refused": len(result.report.problems)})
    session.commit()
    return AcceptOut(**report_out(row, result.report).model_dump(), created=result.created,
                     gallery_versions=result.versions)
