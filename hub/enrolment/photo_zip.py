"""A ZIP of enrolment photos, ``<staff number>/<photo>.jpg``, read within bounds (pure: bytes in).

An office sends the photos of a whole batch of staff in one file. A ZIP is
also the classic way to hurt a server: thousands of entries, a few KB that
inflate to gigabytes, names like ``../../etc/cron.d/x``. So the archive is
refused as a whole, before any photo is judged, when it is not a ZIP, holds
too many entries, declares more uncompressed bytes than allowed, or has an
entry compressed more than ``MAX_RATIO`` to one (photos are already
compressed: a JPEG barely shrinks). Sizes are enforced on the bytes actually
inflated, not only the sizes the archive declares, which can lie. A bad
*name* (absolute, ``..``, deeper or shallower than ``staff/photo``, not a
photo) refuses that entry with a reason and keeps the rest; nothing is ever
written under an entry's name (the hub keeps photos by content hash).
"""

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from hub.devices.registry import check_entity_id
from hub.enrolment.enrol import PHOTO_SUFFIXES
from hub.errors import InvalidInput

MAX_ENTRIES = 2000
MAX_RATIO = 20  # uncompressed / compressed bytes of one entry
IGNORED_PREFIXES = ("__MACOSX/",)  # macOS Finder's resource forks


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = MAX_ENTRIES
    max_photo_bytes: int = 8 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024  # held in memory while the job runs
    max_ratio: float = MAX_RATIO


@dataclass(frozen=True)
class ZipPhoto:
    employee_id: str
    file: str  # the photo's name inside the person's folder
    data: bytes


@dataclass
class ZipContents:
    """Photos grouped by staff number (in archive order), and entries refused by name or size."""

    people: dict[str, list[ZipPhoto]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (entry name, reason)

    @property
    def photo_count(self) -> int:
        return sum(len(p) for p in self.people.values())


def read_zip(data: bytes, limits: ZipLimits) -> ZipContents:
    """The photos of ``data``; raises ``InvalidInput`` when the archive as a whole is refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"not a ZIP file ({exc})") from exc
    with archive:
        entries = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith(IGNORED_PREFIXES)]
        check_archive(entries, limits)
        contents = ZipContents()
        for info, reason in judge_names(entries):
            if reason is not None:
                contents.refused.append((info.filename, reason))
                continue
            person, name = PurePosixPath(info.filename).parts
            try:
                photo = _inflate(archive, info, limits.max_photo_bytes)
            except InvalidInput as exc:
                contents.refused.append((info.filename, str(exc)))
                continue
            contents.people.setdefault(person, []).append(ZipPhoto(person, name, photo))
    if not contents.people and not contents.refused:
        raise InvalidInput("the ZIP holds no photos: put each person's photos in a folder named by "
                           "their staff number (E1001/front.jpg)")
    return contents


def check_archive(entries: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    """Refuse the whole archive on its declared shape (count, total size, compression ratio)."""
    if len(entries) > limits.max_entries:
        raise InvalidInput(f"the ZIP holds {len(entries)} files; at most {limits.max_entries} per upload")
    declared = sum(i.file_size for i in entries)
    if declared > limits.max_total_bytes:
        raise InvalidInput(f"the ZIP would unpack to {declared} bytes; at most {limits.max_total_bytes}")
    for info in entries:
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 64 * 1024:
            raise InvalidInput(f"{info.filename!r} is compressed {info.file_size // max(info.compress_size, 1)} "
                               f"to 1 (photos barely compress; at most {limits.max_ratio:.0f} to 1): refused as "
                               "a possible ZIP bomb")


def judge_names(entries: list[zipfile.ZipInfo]) -> Iterator[tuple[zipfile.ZipInfo, str | None]]:
    """Each entry with None (usable) or why its name is refused."""
    for info in entries:
        yield info, name_problem(info.filename)


def name_problem(name: str) -> str | None:
    """Why an entry name is not ``<staff number>/<photo>.jpg|jpeg|png``; None when it is."""
    if "\\" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
        return "absolute or Windows-style path refused; use staff_number/photo.jpg"
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in parts):
        return "a path with '..' is refused"
    if PurePosixPath(name).name.startswith("."):
        return "hidden file skipped"
    if len(parts) != 2:
        return "not in a staff-number folder: use staff_number/photo.jpg (one level)"
    if PurePosixPath(parts[1]).suffix.lower() not in PHOTO_SUFFIXES:
        return "not a photo: use .jpg, .jpeg or .png"
    try:
        check_entity_id(parts[0], "staff number (folder name)")
    except InvalidInput as exc:
        return str(exc)
    return None


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """The entry's bytes, reading at most ``max_bytes + 1`` whatever the header says."""
    if info.file_size > max_bytes:
        raise InvalidInput(f"larger than {max_bytes} bytes")
    try:
        with archive.open(info) as stream:
            data = stream.read(max_bytes + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:  # CRC, encryption, method
        raise InvalidInput(f"cannot be read from the ZIP ({exc})") from exc
    if len(data) > max_bytes:
        raise InvalidInput(f"larger than {max_bytes} bytes")
    return data
