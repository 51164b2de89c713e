"""Message models of the att/v1 MQTT contract (../shared/DESIGN.md).

Every model forbids unknown fields: a message that does not match its schema
is rejected with a reason, never half-understood. Encodings travel as base64
of little-endian float32 (512 bytes per 128-d template).
"""

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from protocol.errors import MessageInvalid
from protocol.ids import UUID7_PATTERN
from protocol.topics import DEVICE_ID_PATTERN

MAX_PAYLOAD_BYTES = 64 * 1024

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
PunchId = Annotated[str, StringConstraints(pattern=UUID7_PATTERN.pattern)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        """Compact JSON bytes as published on the wire."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")


class MatchInfo(Message):
    distance: float = Field(ge=0, description="distance to the best enrolled template")
    margin: float | None = Field(default=None, ge=0, description="second-best identity distance minus best")
    gallery_version: int = Field(ge=0)


class LivenessInfo(Message):
    passed: bool
    score: float | None = None
    method: str | None = Field(default=None, description="e.g. 'blink', 'head_turn'")


class Punch(Message):
    """A signed attendance event made on a kiosk. ``sig`` covers every other field."""

    v: Literal[1] = 1
    id: PunchId
    device_id: DeviceId
    site_id: EntityId
    employee_id: EntityId
    ts: AwareDatetime = Field(description="device time, with its UTC offset")
    method: Literal["face"] = "face"
    match: MatchInfo
    liveness: LivenessInfo | None = Field(default=None, description="None: liveness not checked")
    seq: int = Field(ge=0, description="per-device counter, for gap detection")
    sig: str = Field(min_length=1)


class Rejection(Message):
    id: str
    reason: str


class Ack(Message):
    """Sent by the hub only after the database commit.

    ``seq`` and ``hub_ts`` let a kiosk that lost its outbox continue its
    counter from what the hub holds (never reusing a ``seq``), and check its
    own clock against the hub's.
    """

    ids: list[str] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    seq: int | None = Field(default=None, ge=0, description="highest seq the hub has stored from this device")
    hub_ts: AwareDatetime | None = Field(default=None, description="hub time when the ack was sent")


class Status(Message):
    """Retained on the status topic: the birth message, or the last will."""

    state: Literal["online", "offline"]
    ts: AwareDatetime | None = None
    sw_version: str | None = None
    gallery_version: int | None = None


# Kinds of DeviceAlarm a kiosk raises; the field is free text (pattern-checked) so a
# newer kiosk's new kind still reaches an older hub.
ALARM_STORAGE_ERROR = "storage_error"        # a write to the state directory failed (disk full, I/O error)
ALARM_OUTBOX_RECOVERED = "outbox_recovered"  # the outbox was damaged: quarantined, punches salvaged
ALARM_CLOCK_UNSET = "clock_unset"            # the clock is not trustworthy: punching refused
ALARM_CLOCK_STEP = "clock_step"              # the wall clock jumped while running
ALARM_THREAD_ERROR = "thread_error"          # a background thread (housekeeping, health, sender) hit an error
ALARM_LAST_EXIT = "last_exit"                # the previous run ended with an error (from the state directory)


class DeviceAlarm(Message):
    """Something on a kiosk that needs a person, repeated in every health message while it lasts."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    detail: str = Field(default="", max_length=500, description="cause, failing operation, what was kept")
    since: AwareDatetime


class Health(Message):
    ts: AwareDatetime
    uptime_s: float
    cpu_temp_c: float | None = None
    load1: float | None = None
    mem_free_mb: float | None = None
    disk_free_mb: float | None = None
    camera_fps: float | None = None
    outbox_depth: int = Field(ge=0)
    oldest_unacked_s: float | None = None
    gallery_version: int = Field(ge=0)
    sw_version: str
    alarms: list[DeviceAlarm] = Field(default_factory=list, max_length=16)


class GalleryRequest(Message):
    """Kiosk -> hub: the version this kiosk holds (0 when it holds nothing)."""

    v: Literal[1] = 1
    site_id: EntityId
    have_version: int = Field(ge=0)


class GalleryPerson(Message):
    employee_id: EntityId
    name: str = ""
    encodings: list[str] = Field(description="base64 float32 128-d templates")


class GalleryDelta(Message):
    """Hub -> kiosk: what changed after ``from_version`` up to ``to_version``.

    ``full`` means: drop what you hold and take exactly this content.
    """

    v: Literal[1] = 1
    site_id: EntityId
    from_version: int = Field(ge=0)
    to_version: int = Field(ge=0)
    full: bool = False
    upserts: list[GalleryPerson] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class GalleryApplied(Message):
    v: Literal[1] = 1
    site_id: EntityId
    version: int = Field(ge=0)


BoxKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # base64 of 32 bytes


class GalleryKeyRequest(Message):
    """Kiosk -> hub: "send me my gallery key"; ``sig`` (device key) covers every other field.

    ``box_key`` is an X25519 public key the kiosk made for this request and
    holds only in memory: the hub seals the answer to it, so a replayed
    request yields nothing anyone can open (kiosk/gallery_key.py).
    """

    v: Literal[1] = 1
    device_id: DeviceId
    box_key: BoxKey
    sig: str = Field(min_length=1)


class GalleryKey(Message):
    """Hub -> kiosk: the 32-byte gallery key, sealed (libsodium SealedBox) to the request's ``box_key``."""

    v: Literal[1] = 1
    box_key: BoxKey = Field(description="the box key of the request this answers")
    sealed: str = Field(min_length=1, max_length=128, description="base64 SealedBox of the key")


class Command(Message):
    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    name: Literal["resync", "reboot", "config"]
    args: dict[str, Any] = Field(default_factory=dict)


class CommandResult(Message):
    v: Literal[1] = 1
    id: str
    ok: bool
    detail: str = ""


M = TypeVar("M", bound=Message)


def decode_json(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """Parse a payload into a JSON object, or raise MessageInvalid saying why."""
    if len(payload) > max_bytes:
        raise MessageInvalid(f"payload too large: {len(payload)} bytes > {max_bytes}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageInvalid(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MessageInvalid(f"not a JSON object: {type(data).__name__}")
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate a decoded object; the error names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(message)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise MessageInvalid(f"schema: {where}: {first['msg']}{more}") from exc


def parse(model: type[M], payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    return validate(model, decode_json(payload, max_bytes))


def encode_template(values: Any) -> str:
    """A 128-d encoding (any float sequence) as base64 float32 little-endian."""
    import numpy as np  # only the sides that hold encodings need numpy

    arr = np.asarray(values, dtype="<f4").reshape(-1)
    return base64.b64encode(arr.tobytes()).decode("ascii")


def decode_template(b64: str, dims: int = 128) -> Any:
    import numpy as np

    raw = base64.b64decode(b64, validate=True)
    arr = np.frombuffer(raw, dtype="<f4")
    if arr.shape != (dims,):
        raise MessageInvalid(f"template has {arr.size} values, expected {dims}")
    return arr.astype(np.float32)


def device_time(ts: datetime) -> str:
    """ISO 8601 with milliseconds and offset, as the punch ``ts`` field carries."""
    return ts.isoformat(timespec="milliseconds")
