"""Leave and duty entries (CL, EL, ML, CO, OD, TR and the department's own codes): by API, from a CSV
file, or pulled from Frappe HRMS. Officers enter and delete them for employees of their units; admins
for everyone. Every write is audited."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Path, Query, Request, Response, UploadFile, status
from pydantic import BaseModel

from hub.accounts import audit
from hub.accounts.principal import Principal
from hub.api.deps import MAX_ROW_ID, AdminDep, OfficerDep, SessionDep, check_employee_visible, visible_unit_ids
from hub.attendance import store
from hub.attendance.daycode import CodeBook
from hub.attendance.fields import LeaveIn
from hub.attendance.leave_import import LeaveFileRefused, import_leave
from hub.attendance.models import LeaveEntry
from hub.errors import HubError, InvalidInput, on_field
from hub.reports.config import AttendanceConfig

router = APIRouter(prefix="/leave", tags=["leave"])
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
From = Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")]
To = Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (inclusive)")]
MAX_CSV_BYTES = 5 * 1024 * 1024


class LeaveOut(BaseModel):
    id: int
    employee_id: str
    code: str
    first: date
    last: date
    half_day: bool
    note: str | None
    source: str
    source_ref: str | None
    created_by: str

    @classmethod
    def of(cls, row: LeaveEntry) -> "LeaveOut":
        return cls.model_validate({k: getattr(row, k) for k in cls.model_fields})


class LeaveList(BaseModel):
    items: list[LeaveOut]


class CodeOut(BaseModel):
    code: str
    en: str
    hi: str
    on_duty: bool


class CodeList(BaseModel):
    items: list[CodeOut]


class ImportOut(BaseModel):
    stored: int
    items: list[LeaveOut]


def settings(request: Request) -> AttendanceConfig:
    return getattr(request.app.state.config, "attendance", None) or AttendanceConfig()


def code_book(request: Request) -> CodeBook:
    return settings(request).code_book()


def _check_visible(user: Principal, session, employee_id: str) -> None:
    try:
        check_employee_visible(user, session, employee_id)
    except HubError as exc:  # NotFound / Forbidden, said beside the field
        raise on_field(exc, "employee_id") from exc


@router.get("/codes")
def list_codes(request: Request, _user: OfficerDep) -> CodeList:
    """The codes in force: the built-in ones, then the department's own (``attendance.leave_codes``)."""
    return CodeList(items=[CodeOut(code=c.code, en=c.en, hi=c.hi, on_duty=c.on_duty)
                           for c in code_book(request).codes])


@router.get("")
def list_leave(session: SessionDep, user: OfficerDep, first: From, last: To,
               employee_id: str | None = None) -> LeaveList:
    """Entries overlapping first..last, of the caller's units (or of one employee)."""
    if employee_id is not None:
        check_employee_visible(user, session, employee_id)
    rows = store.list_leave(session, first=first, last=last, employee_id=employee_id,
                            units=visible_unit_ids(user, session))
    return LeaveList(items=[LeaveOut.of(r) for r in rows])


@router.post("", status_code=status.HTTP_201_CREATED)
def add_leave(request: Request, body: LeaveIn, session: SessionDep, user: OfficerDep,
              source: Annotated[str, Query(pattern="^(api|dashboard)$", description="api or dashboard")] = "api",
              ) -> LeaveOut:
    """One entry; refused (nothing stored) when it overlaps another entry of the same employee."""
    _check_visible(user, session, body.employee_id)
    row = store.add_leave(session, body, code_book(request), source=source, by=user.username)
    audit.record(session, user, "leave.create", f"leave:{row.id}", None, audit.snapshot(row))
    session.commit()
    return LeaveOut.of(row)


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_leave(entry_id: RowId, session: SessionDep, user: OfficerDep) -> Response:
    row = store.get_leave(session, entry_id)
    check_employee_visible(user, session, row.employee_id)
    before = audit.snapshot(row)
    store.delete_row(session, LeaveEntry, entry_id, "leave entry")
    audit.record(session, user, "leave.delete", f"leave:{entry_id}", before, None)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/import", status_code=status.HTTP_201_CREATED)
def import_file(request: Request, file: Annotated[UploadFile, File(description="leave CSV: employee_id, code, "
                                                                   "first, last[, half_day, note]")],
                session: SessionDep, admin: AdminDep) -> ImportOut:
    """Every row stored, or none: a refused file answers 422 with each problem at
    ``["file", line, column]``."""
    data = file.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES} bytes; split it")
    try:
        rows = import_leave(session, data, code_book(request), by=admin.username)
    except LeaveFileRefused as exc:
        session.rollback()
        raise HTTPException(422, detail=[
            {"loc": ["file", p.line, p.column], "msg": p.message, "type": "value_error"} for p in exc.problems
        ]) from exc
    audit.record(session, admin, "leave.import", f"leave-import:{file.filename or 'upload.csv'}"[:200], None,
                 {"rows": len(rows), "ids": [r.id for r in rows]})
    session.commit()
    return ImportOut(stored=len(rows), items=[LeaveOut.of(r) for r in rows])
