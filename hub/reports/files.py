"""A month report (muster roll, payroll days) rendered to a temporary file and streamed out in chunks.

The workbook or PDF is written to an unnamed temporary file on disk, not to
a bytes buffer, and the HTTP response reads it back 64 kB at a time, so a
10,000-employee download costs the server the report's rows, not the
rows plus the whole file in memory. The file disappears when closed.
"""

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from hub.reports.config import ExportConfig
from hub.reports.heading import Heading
from hub.reports.queries import Muster

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MONTH_FORMATS = ("xlsx", "pdf")


@dataclass(frozen=True)
class RenderedFile:
    """An open temporary file holding the report, positioned at its start."""

    file: BinaryIO
    media_type: str
    extension: str
    size: int

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in chunks; closes (and so deletes) the file at the end or when abandoned."""
        try:
            while chunk := self.file.read(CHUNK_BYTES):
                yield chunk
        finally:
            self.file.close()

    def read_all(self) -> bytes:
        """The whole file (for e-mail attachments), closing it."""
        try:
            return self.file.read()
        finally:
            self.file.close()


def render_month(fmt: str, heading: Heading, roll: Muster, config: ExportConfig | None = None) -> RenderedFile:
    """``roll`` as ``fmt`` ("xlsx" or "pdf") in a temporary file."""
    if fmt == "xlsx":
        from hub.reports.xlsx import XLSX_MEDIA_TYPE, write_muster_xlsx  # openpyxl only when asked for

        media_type, write = XLSX_MEDIA_TYPE, lambda out: write_muster_xlsx(heading, roll, out)
    elif fmt == "pdf":
        from hub.reports.pdf import PDF_MEDIA_TYPE, write_muster_pdf  # fpdf2 only when asked for

        media_type, write = PDF_MEDIA_TYPE, lambda out: write_muster_pdf(heading, roll, out, config)
    else:
        raise ValueError(f"no file format {fmt!r}: one of {', '.join(MONTH_FORMATS)}")
    out = tempfile.TemporaryFile()
    try:
        write(out)
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return RenderedFile(out, media_type, fmt, size)
