"""Enrolment from a ZIP of ``<staff number>/<photo>.jpg`` (admin): checked at once, judged in the background.

The archive's shape (a ZIP, entry count, sizes, compression ratio) is checked
before the upload is answered: a refused archive is a 422 and nothing is
started. Then a job (hub/api/jobs.py) judges and encodes photo by photo with
the kiosk's quality rules and stores each person as their photos are done;
the page polls ``GET /api/v1/jobs/{job_id}`` for the bar and each verdict.
"""

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from pydantic import BaseModel

from hub.api.deps import AdminDep
from hub.api.routes.photos import encoder_of
from hub.enrolment.batch import enrol_contents
from hub.enrolment.photo_zip import ZipLimits, read_zip
from hub.enrolment.photos import store_for
from hub.errors import InvalidInput

router = APIRouter(prefix="/enrolment", tags=["enrolment"])
MAX_ZIP_BYTES = 200 * 1024 * 1024


class ZipJobOut(BaseModel):
    job_id: str
    people: int
    photos: int
    refused_entries: int


@router.post("/zip", status_code=status.HTTP_202_ACCEPTED)
def enrol_zip(
    file: Annotated[UploadFile, File(description="a ZIP of staff_number/photo.jpg")], request: Request,
    admin: AdminDep,
) -> ZipJobOut:
    config = request.app.state.config
    data = file.file.read(MAX_ZIP_BYTES + 1)
    if len(data) > MAX_ZIP_BYTES:
        raise InvalidInput(f"the ZIP is larger than {MAX_ZIP_BYTES} bytes; split it")
    contents = read_zip(data, ZipLimits(max_photo_bytes=config.enrolment.max_photo_bytes))
    encoder = encoder_of(request)
    store = store_for(config)
    session_factory = request.app.state.session_factory

    def work(job):
        return enrol_contents(contents, session_factory=session_factory, encoder=encoder, limits=config.enrolment,
                              store=store, actor=admin, report=job.add_item, progress=job.advance)

    job = request.app.state.jobs.start("enrolment_zip", admin.username, work)
    return ZipJobOut(job_id=job.job_id, people=len(contents.people), photos=contents.photo_count,
                     refused_entries=len(contents.refused))
