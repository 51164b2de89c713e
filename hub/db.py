"""Database schema and engine set-up (SQLAlchemy 2, SQLite or PostgreSQL).

Times are stored as UTC and always come back timezone-aware, on SQLite too
(see ``UTCDateTime``). The schema is created and changed only by the Alembic
migrations in ``hub/migrations`` (``init_db`` runs them); a model change here
needs a migration (see hub/migrations/README). Constraint names follow
``NAMING``, so SQLite batch migrations can refer to them.
"""

import logging
import os
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    create_engine,
    event,
    func,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from hub.enrolment import template_cipher

log = logging.getLogger(__name__)

ID_LEN = 64
PRIVATE_FILE_MODE = 0o600


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in, UTC-aware datetimes out, on every backend.

    SQLite has no timezone type and returns naive values; a naive value going
    *in* is refused, because guessing its zone is how attendance gets shifted
    by five and a half hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; give it a timezone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class EncryptedTemplate(TypeDecorator[bytes]):
    """A face template, AES-GCM encrypted in the database and plain in Python (hub/enrolment/template_cipher.py).

    The key comes from the engine (``make_engine(..., template_key_file=)``),
    so every reader and writer stays as it was and no plain encoding is
    ever written. The database type is a plain binary column.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else template_cipher.for_dialect(dialect).seal(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else template_cipher.for_dialect(dialect).open(value)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrgUnit(Base):
    """A department, or an office/unit inside one (``parent_id`` points up)."""

    __tablename__ = "org_units"

    unit_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="office", doc="'department' or 'office'")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None)


class Ddo(Base):
    """A drawing and disbursing (pay) officer, who receives payroll days."""

    __tablename__ = "ddos"

    ddo_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None)


class Site(Base):
    """A duty site: its geofence, the shift rules punches there are judged by,
    and whether staff may punch there from a phone."""

    __tablename__ = "sites"

    site_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    gallery_version: Mapped[int] = mapped_column(Integer, default=0)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    radius_m: Mapped[float | None] = mapped_column(Float, default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Kolkata")
    shift_start: Mapped[time] = mapped_column(Time, default=time(10, 0), doc="punch-in after this is late")
    cutoff: Mapped[time] = mapped_column(Time, default=time(12, 0), doc="no punch-in by this time: missing")
    min_gap_min: Mapped[int] = mapped_column(Integer, default=30, doc="minimum minutes between in and out")
    half_day_hours: Mapped[float] = mapped_column(Float, default=4.0, doc="present for less than this: half day")
    phone_policy: Mapped[str] = mapped_column(String(16), default="never", doc="'always', 'kiosk_down' or 'never'")
    phone_networks: Mapped[list[str] | None] = mapped_column(
        JSON, default=None, doc="CIDR networks a phone punch here is expected from (hub.phone.network); None: no check")


class Employee(Base):
    __tablename__ = "employees"

    employee_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    home_site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"))
    category: Mapped[str] = mapped_column(
        String(16), default="permanent", doc="'permanent', 'contract', 'outsourced' or 'security'"
    )
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.unit_id"), default=None, index=True)
    ddo_id: Mapped[str | None] = mapped_column(ForeignKey("ddos.ddo_id"), default=None, index=True)
    mobile: Mapped[str | None] = mapped_column(String(16), default=None, unique=True, doc="E.164, e.g. +919812345678")
    active: Mapped[bool] = mapped_column(Boolean, default=True, doc="False once the employee has left")
    joined_on: Mapped[date | None] = mapped_column(Date, default=None, doc="date of joining service here")
    left_on: Mapped[date | None] = mapped_column(Date, default=None, doc="date of leaving; not before joined_on")

    # The staff search (hub.masterdata.employees) on PostgreSQL at state scale: a staff-number
    # prefix from a pattern-ops b-tree (the primary key's collation cannot serve LIKE), any part
    # of the name from a trigram index. SQLite scans 100,000 rows fast enough without them.
    __table_args__ = (
        Index("ix_employees_employee_id_pattern", "employee_id",
              postgresql_ops={"employee_id": "varchar_pattern_ops"}).ddl_if(dialect="postgresql"),
        Index("ix_employees_name_trgm", func.lower(name), postgresql_using="gin",
              postgresql_ops={"lower_1": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )


class EmployeeAllowedSite(Base):
    """A site other than the home site where the employee may punch (with a reason)."""

    __tablename__ = "employee_allowed_sites"

    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)


class FaceTemplate(Base):
    """One 128-d encoding of one enrolment photo (512 bytes, float32 little-endian; encrypted at rest)."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), index=True)
    encoding: Mapped[bytes] = mapped_column(EncryptedTemplate)
    source: Mapped[str] = mapped_column(String(255), doc="photo file name it came from")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    photo_file: Mapped[str | None] = mapped_column(
        String(255), default=None, doc="the kept photo, relative to enrolment.photo_dir; None once purged"
    )
    photo_stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)


class GalleryMember(Base):
    """Who a site's kiosks should recognise. ``version`` is the site's gallery
    version at which this row last changed, so a delta since X is ``version > X``."""

    __tablename__ = "gallery_members"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"))
    public_key_b64: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    gallery_version: Mapped[int | None] = mapped_column(Integer, default=None, doc="last version the kiosk confirmed")
    gallery_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PunchRecord(Base):
    """A stored punch. ``payload`` keeps the signed message exactly as received,
    so the signature can be checked again at any audit."""

    __tablename__ = "punches"
    __table_args__ = (
        Index("ix_punches_employee_ts", "employee_id", "device_ts"),
        Index("ix_punches_site_ts", "site_id", "device_ts"),
        Index("ix_punches_device_seq", "device_id", "seq"),  # seq reuse and gaps at intake, the seq in acks
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(ID_LEN))
    site_id: Mapped[str] = mapped_column(String(ID_LEN))
    employee_id: Mapped[str] = mapped_column(String(ID_LEN))
    device_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    device_utc_offset_min: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(16))
    distance: Mapped[float] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    gallery_version: Mapped[int] = mapped_column(BigInteger)
    liveness_passed: Mapped[bool | None] = mapped_column(Boolean)
    liveness_score: Mapped[float | None] = mapped_column(Float)
    seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, default=None, doc="why at a non-home site (phone page asks)")
    flags: Mapped[str | None] = mapped_column(Text, default=None, doc="comma-separated: clock_skew, low_margin, ...")
    flag_detail: Mapped[str | None] = mapped_column(
        Text, default=None, doc="why intake flagged it, for the admin's review (hub/ingest/plausibility.py)")
    lat: Mapped[float | None] = mapped_column(Float, default=None, doc="phone punches: reported position")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    site_distance_m: Mapped[float | None] = mapped_column(Float, default=None)


class EmployeeImport(Base):
    """An uploaded employee CSV waiting for the admin's accept (nothing is written before)."""

    __tablename__ = "employee_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending", doc="'pending' or 'accepted'")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class RejectedMessage(Base):
    """A message the hub refused, kept for audit (never silently dropped)."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    topic: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(ID_LEN), doc="from the topic, when it parses")
    punch_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    reason: Mapped[str] = mapped_column(Text)
    payload_size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="the first max_payload_bytes bytes")


# Ingest-lag metrics (hub/metrics.py) read the punches received in the last minutes.
Index("ix_punches_received_at", PunchRecord.received_at)


class DeviceHealth(Base):
    """What the hub last heard from a kiosk (hub/devices/health.py): the retained status
    (birth / last will), when it was last heard from, its latest telemetry and
    its clock skew. One row per kiosk, made on its first status or health."""

    __tablename__ = "device_health"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(16), default=None, doc="'online' or 'offline' (last will)")
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, doc="hub time the status came")
    last_seen_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="hub time of the last message the kiosk itself sent (birth or health)")
    health_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    telemetry: Mapped[str | None] = mapped_column(Text, default=None, doc="the latest health sample, JSON")
    clock_skew_s: Mapped[float | None] = mapped_column(Float, default=None, doc="of the latest health message")
    sw_version: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None, doc="why its last refused status/health was refused")
    error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class DeviceHealthSample(Base):
    """One health message of a kiosk; kept for ``health.history_days`` (pruned at ingest)."""

    __tablename__ = "device_health_samples"
    __table_args__ = (Index("ix_device_health_samples_device_id_id", "device_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    device_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    clock_skew_s: Mapped[float] = mapped_column(Float, doc="device time minus hub receive time, this sample")
    uptime_s: Mapped[float] = mapped_column(Float)
    cpu_temp_c: Mapped[float | None] = mapped_column(Float, default=None)
    load1: Mapped[float | None] = mapped_column(Float, default=None)
    mem_free_mb: Mapped[float | None] = mapped_column(Float, default=None)
    disk_free_mb: Mapped[float | None] = mapped_column(Float, default=None)
    camera_fps: Mapped[float | None] = mapped_column(Float, default=None)
    outbox_depth: Mapped[int] = mapped_column(BigInteger)
    oldest_unacked_s: Mapped[float | None] = mapped_column(Float, default=None)
    gallery_version: Mapped[int] = mapped_column(BigInteger)
    sw_version: Mapped[str] = mapped_column(String(64))
    alarms: Mapped[str | None] = mapped_column(Text, default=None, doc="the kiosk's alarms (JSON list); None: none")
    heal: Mapped[str | None] = mapped_column(
        Text, default=None, doc="faults the kiosk acted on by itself (JSON list of HealAction); None: none")


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cur.close()

    return on_connect


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False,
                template_key_file: Path | None = None) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, FULL sync, foreign keys and a busy timeout.

    Face templates are encrypted with the key in ``template_key_file``
    (default: ``template-key.secret`` beside a SQLite database file; none
    for PostgreSQL, where template reads and writes then fail with why).

    FULL rather than NORMAL: a punch is acked to the kiosk right after the
    commit, and the kiosk then deletes its copy, so the commit must survive
    a power cut.
    """
    engine = create_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
    key_path, why_none = template_cipher.default_path(url, template_key_file)
    template_cipher.register(engine.dialect, template_cipher.TemplateCipher(key_path, reason_missing=why_none))
    if engine.dialect.name == "sqlite":
        database = make_url(url).database
        if database not in (None, "", ":memory:") and not database.startswith("file:"):
            create_private_file(Path(database))
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
    return engine


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (its folder must exist).

    The SQLite file holds face templates, password hashes and phone numbers;
    SQLite would create it with the process umask (often world-readable) and
    gives its -wal and -shm files the database file's mode, so creating the
    database first, owner-only, covers all three. An existing file is left
    as it is (``hub check-config`` reports one readable by others).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return
    os.close(fd)
    log.info("created %s (mode 0600)", path)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def init_db(engine: Engine) -> None:
    """Bring the schema up to the newest migration (idempotent; see hub/migrations)."""
    from hub.migrations import (
        upgrade,  # alembic is imported only by the commands that need it
    )

    upgrade(engine)
