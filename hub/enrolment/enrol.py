"""Enrolment: photos -> quality check -> 128-d templates -> galleries.

Two ways in: a folder ``<folder>/<staff number>/*.jpg|jpeg|png`` (CLI) and
uploaded photos for one employee (API). Every photo is checked
(``hub.enrolment.photo_quality``: a face, its size, sharpness, brightness,
pose: the kiosk's own measures and limits) and
refused with a reason, or becomes one template. Photos are read and encoded
first, with no database transaction open, so a long enrolment never holds
the lock that punch ingest needs; the changes are then applied in one short
transaction. Re-enrolling the same photos changes nothing (templates are
keyed by photo file name), so gallery versions only move when something did.

Employees come from the master data. A folder enrolment may create the
ones it does not know at a given ``site_id`` (name from the folder), which
is how a small office or the demo starts; it never moves a known employee
(transfers are master data).
"""

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from biometrics import ImageInvalid
from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.config import EnrolmentConfig
from hub.db import Employee, FaceTemplate, Site, utcnow
from hub.devices.registry import check_entity_id
from hub.enrolment import consent
from hub.enrolment.gallery import sync_members
from hub.enrolment.photo_quality import judge
from hub.enrolment.photos import PhotoStore
from hub.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class PhotoResult:
    file: str
    note: str = ""  # accepted: e.g. "2 faces; used the largest"; refused: the reason


@dataclass
class PersonPhotos:
    """One employee after encoding: templates as (file name, 512 bytes), and where each photo is."""

    employee_id: str
    name: str
    templates: list[tuple[str, bytes]] = field(default_factory=list)
    accepted: list[PhotoResult] = field(default_factory=list)
    refused: list[PhotoResult] = field(default_factory=list)
    problem: str | None = None  # set when the whole person is refused
    photos: dict[str, Path | bytes] = field(default_factory=dict)  # file name -> file or uploaded bytes


@dataclass
class EnrolReport:
    site_id: str | None
    people: list[PersonPhotos]
    changed: list[str]            # employee ids whose templates or name changed
    versions: dict[str, int]      # {site_id: new gallery version} of the sites that changed
    gallery_version: int | None   # ``site_id``'s version after this enrolment

    @property
    def enrolled(self) -> list[PersonPhotos]:
        return [p for p in self.people if p.templates and not p.problem]

    @property
    def photos_accepted(self) -> int:
        return sum(len(p.accepted) for p in self.enrolled)

    @property
    def photos_refused(self) -> int:
        return sum(len(p.refused) for p in self.people)


def read_folder(encoder: FaceEncoder, folder: Path, limits: EnrolmentConfig | None = None, *,
                name_from_folder: bool = True) -> list[PersonPhotos]:
    """Check and encode every employee subfolder of ``folder`` (no database access)."""
    if not folder.is_dir():
        raise NotFound(f"enrolment folder not found: {folder}")
    limits = limits or EnrolmentConfig()
    return [read_person(encoder, d, limits, name_from_folder=name_from_folder)
            for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]


def read_person(encoder: FaceEncoder, person_dir: Path, limits: EnrolmentConfig, *,
                name_from_folder: bool = True) -> PersonPhotos:
    employee_id = person_dir.name
    person = PersonPhotos(employee_id, employee_id.replace("_", " ") if name_from_folder else employee_id)
    try:
        check_entity_id(employee_id, "employee id (folder name)")
    except InvalidInput as exc:
        person.problem = str(exc)
        return person
    photos = sorted(p for p in person_dir.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not photos:
        person.problem = "no photos (.jpg, .jpeg, .png)"
    for photo in photos:
        add_photo(person, encoder, photo.name, photo, limits)
    return person


def read_uploads(encoder: FaceEncoder, employee_id: str, uploads: list[tuple[str, bytes]],
                 limits: EnrolmentConfig) -> PersonPhotos:
    """Uploaded (file name, bytes) photos of one employee (no database access)."""
    person = PersonPhotos(employee_id, employee_id)
    for name, data in uploads:
        suffix = Path(name).suffix.lower()
        if suffix not in PHOTO_SUFFIXES:
            person.refused.append(PhotoResult(name, "not a photo: use .jpg, .jpeg or .png"))
        elif len(data) > limits.max_photo_bytes:
            person.refused.append(PhotoResult(name, f"larger than {limits.max_photo_bytes} bytes"))
        else:
            add_photo(person, encoder, name, data, limits)
    return person


def add_photo(person: PersonPhotos, encoder: FaceEncoder, name: str, photo: Path | bytes,
              limits: EnrolmentConfig) -> None:
    encoding, note = encode_photo(encoder, photo, limits)
    if encoding is None:
        person.refused.append(PhotoResult(name, note))
        return
    person.templates.append((name, encoding))
    person.accepted.append(PhotoResult(name, note))
    person.photos[name] = photo


def encode_photo(encoder: FaceEncoder, photo: Path | bytes, limits: EnrolmentConfig) -> tuple[bytes | None, str]:
    """(512-byte float32 little-endian template, note), or (None, why refused)."""
    try:
        rgb = load_image_rgb(_as_file(photo))
    except ImageInvalid as exc:
        return None, f"unreadable image: {exc.__cause__ or exc}"
    boxes = encoder.detect(rgb)
    landmarks = encoder.landmarks68(rgb, max(boxes, key=lambda b: b.area)) if boxes else None
    verdict = judge(rgb, boxes, limits, landmarks)
    if verdict.refusal is not None or verdict.face is None:
        return None, verdict.refusal or "no face found"
    return encoder.encode(rgb, verdict.face).astype("<f4").tobytes(), verdict.note


def _as_file(photo: Path | bytes) -> Path | io.BytesIO:
    return io.BytesIO(photo) if isinstance(photo, bytes) else photo


def apply_enrolment(
    session: Session, site_id: str | None, people: list[PersonPhotos], *, name_from_folder: bool = True,
    store: PhotoStore | None = None, consent_taken: consent.ConsentTaken | None = None,
) -> EnrolReport:
    """Store the templates of ``people`` and bring their galleries up to date; the caller commits.

    ``site_id`` is the home site for employees not in the master data (None:
    such people are refused). ``store`` keeps the accepted photos. A person
    with no active consent record is refused and nothing of theirs is
    written, unless ``consent_taken`` says their consent was taken elsewhere
    (paper form, kiosk screen): then it is recorded as such.
    """
    site = session.get(Site, site_id) if site_id is not None else None
    if site_id is not None and site is None:
        raise NotFound(f"unknown site {site_id!r}")
    changed = []
    for person in people:
        if person.templates and not person.problem and _store_person(
                session, site_id, person, update_name=name_from_folder, store=store, consent_taken=consent_taken):
            changed.append(person.employee_id)
    versions = sync_members(session, [p.employee_id for p in people if p.templates and not p.problem],
                            content_changed=changed)
    version = versions.get(site_id, site.gallery_version) if site is not None else None
    log.info("enrolled %d people; %d changed; gallery versions now %s",
             sum(1 for p in people if p.templates and not p.problem), len(changed), versions)
    return EnrolReport(site_id, people, changed, versions, version)


def enrol_folder(
    session: Session, encoder: FaceEncoder, folder: Path, site_id: str | None, *, name_from_folder: bool = True,
    limits: EnrolmentConfig | None = None, store: PhotoStore | None = None,
    consent_taken: consent.ConsentTaken | None = None,
) -> EnrolReport:
    """Read, check, encode and store a folder of employees; the caller commits."""
    if site_id is not None and session.get(Site, site_id) is None:
        raise NotFound(f"unknown site {site_id!r}")
    people = read_folder(encoder, Path(folder), limits, name_from_folder=name_from_folder)
    return apply_enrolment(session, site_id, people, name_from_folder=name_from_folder, store=store,
                           consent_taken=consent_taken)


def _store_person(session: Session, site_id: str | None, person: PersonPhotos, *, update_name: bool,
                  store: PhotoStore | None, consent_taken: consent.ConsentTaken | None) -> bool:
    """Create or update the employee, their consent and their templates; True when anything changed."""
    changed = False
    employee = session.get(Employee, person.employee_id)
    if employee is None:
        if site_id is None:
            person.problem = "not in the master data: import the employee first (or enrol with a site)"
            return False
        if consent_taken is None:
            person.problem = consent.NO_CONSENT
            return False
        session.add(Employee(employee_id=person.employee_id, name=person.name, home_site_id=site_id))
        session.flush()
        changed = True
    elif consent_taken is None and consent.active(session, person.employee_id) is None:
        person.problem = consent.NO_CONSENT
        return False
    elif update_name and employee.name != person.name:
        employee.name, changed = person.name, True
    if consent_taken is not None:
        consent.record(session, person.employee_id, language=consent_taken.language, channel=consent_taken.channel,
                       recorded_by=consent_taken.recorded_by)
    existing = {t.source: t for t in session.scalars(
        select(FaceTemplate).where(FaceTemplate.employee_id == person.employee_id))}
    for source, encoding in person.templates:
        template = existing.get(source)
        if template is None:
            template = FaceTemplate(employee_id=person.employee_id, encoding=encoding, source=source,
                                    created_at=utcnow())
            session.add(template)
        elif template.encoding != encoding:
            template.encoding, template.created_at = encoding, utcnow()
        else:
            continue
        changed = True
        if store is not None:
            _keep_photo(store, template, person, source)
    return changed


def _keep_photo(store: PhotoStore, template: FaceTemplate, person: PersonPhotos, source: str) -> None:
    photo = person.photos.get(source)
    if photo is None:
        return
    data = photo if isinstance(photo, bytes) else photo.read_bytes()
    template.photo_file = store.keep(person.employee_id, data, Path(source).suffix)
    template.photo_stored_at = utcnow()
