"""Message models of the att/v1 MQTT contract (../shared/DESIGN.md).

Every model forbids unknown fields: a message that does not match its schema
is rejected with a reason, never half-understood. Encodings travel as base64
of little-endian float32 (512 bytes per 128-d template).
"""

import base64
import json
import math
import re
import sys
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
)

from protocol.canonical import canonical_json
from protocol.errors import MessageInvalid
from protocol.ids import UUID7_PATTERN
from protocol.topics import DEVICE_ID_PATTERN

MAX_PAYLOAD_BYTES = 64 * 1024

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
PunchId = Annotated[str, StringConstraints(pattern=UUID7_PATTERN.pattern)]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_text(value: Any) -> Any:
    """Let only ISO 8601 text (or a datetime, as a kiosk builds its messages) reach the datetime
    parser, which would also read a number, or a string of digits, as a Unix time."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("Input should be an ISO 8601 date-time string")


def _not_bool(value: Any) -> Any:
    """``Literal[1]`` takes ``true`` even in strict mode (``True == 1`` in Python)."""
    if isinstance(value, bool):
        raise ValueError("Input should be an integer, not a boolean")
    return value


# A time in a kiosk's message: ISO 8601 text with its UTC offset, nothing else.
Timestamp = Annotated[AwareDatetime, Strict(False), BeforeValidator(_iso_text)]
Version1 = Annotated[Literal[1], BeforeValidator(_not_bool)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        """Compact JSON bytes as published on the wire."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")


class KioskMessage(Message):
    """A message a kiosk sends, so untrusted at the hub: strict types.

    ``"distance": true`` is not 1.0, ``"seq": "5"`` is not 5 and ``"passed": "yes"``
    is not True; a kiosk that sends them is broken or lying, and storing its
    guess as a value would hide that. Times stay ISO 8601 text (``Timestamp``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MatchInfo(KioskMessage):
    distance: float = Field(ge=0, description="distance to the best enrolled template")
    margin: float | None = Field(default=None, ge=0, description="second-best identity distance minus best")
    gallery_version: int = Field(ge=0)


class LivenessInfo(KioskMessage):
    passed: bool
    score: float | None = None
    method: str | None = Field(default=None, description="e.g. 'blink', 'head_turn'")


class Punch(KioskMessage):
    """A signed attendance event made on a kiosk. ``sig`` covers every other field."""

    v: Version1 = 1
    id: PunchId
    device_id: DeviceId
    site_id: EntityId
    employee_id: EntityId
    ts: Timestamp = Field(description="device time, with its UTC offset")
    method: Literal["face", "face+id"] = Field(
        "face", description="face: named by the face (1:N); face+id: staff number typed at the kiosk, face verified 1:1")
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


class Status(KioskMessage):
    """Retained on the status topic: the birth message, or the last will."""

    state: Literal["online", "offline"]
    ts: Timestamp | None = None
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
ALARM_ASSISTED_PENDING = "assisted_pending"  # staff-number attempts whose face did not match, for an officer
ALARM_UPDATE_ROLLED_BACK = "update_rolled_back"  # a new version failed its trial; the kiosk went back (kiosk/slots.py)


class DeviceAlarm(KioskMessage):
    """Something on a kiosk that needs a person, repeated in every health message while it lasts."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    detail: str = Field(default="", max_length=500, description="cause, failing operation, what was kept")
    since: Timestamp


HEAL_MAX_DETAIL = 300


class HealAction(KioskMessage):
    """A fault the kiosk acted on by itself (kiosk/selfheal.py): what it did, how often, and whether it is cured.

    Unlike an alarm it asks nobody to come; a fault that keeps coming back
    (a count that grows, ``recovered`` false for long) is still worth a visit.
    """

    fault: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="camera_stopped, disk_low, clock_off, link_down")
    action: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$",
                        description="the latest action: restart_camera, trim_logs, resync_time, renew_link")
    detail: str = Field(default="", max_length=HEAL_MAX_DETAIL, description="what was seen and done")
    since: Timestamp = Field(description="first action about this fault")
    at: Timestamp = Field(description="latest action about this fault")
    count: int = Field(ge=1, description="actions taken about this fault")
    recovered: bool = Field(description="the fault has cleared")


class Health(KioskMessage):
    ts: Timestamp
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
    # None (left out of the JSON) while there is nothing to report, so such a message is
    # what a hub from before self-healing accepts; update the hub before the kiosks.
    heal: list[HealAction] | None = Field(
        default=None, max_length=8, description="faults the kiosk acted on by itself within the last hour")


class GalleryRequest(KioskMessage):
    """Kiosk -> hub: the version this kiosk holds (0 when it holds nothing)."""

    v: Version1 = 1
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


class GalleryApplied(KioskMessage):
    v: Version1 = 1
    site_id: EntityId
    version: int = Field(ge=0)


BoxKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # base64 of 32 bytes


class GalleryKeyRequest(KioskMessage):
    """Kiosk -> hub: "send me my gallery key"; ``sig`` (device key) covers every other field.

    ``box_key`` is an X25519 public key the kiosk made for this request and
    holds only in memory: the hub seals the answer to it, so a replayed
    request yields nothing anyone can open (kiosk/gallery_key.py).
    """

    v: Version1 = 1
    device_id: DeviceId
    box_key: BoxKey
    sig: str = Field(min_length=1)


class GalleryKey(Message):
    """Hub -> kiosk: the 32-byte gallery key, sealed (libsodium SealedBox) to the request's ``box_key``."""

    v: Literal[1] = 1
    box_key: BoxKey = Field(description="the box key of the request this answers")
    sealed: str = Field(min_length=1, max_length=128, description="base64 SealedBox of the key")


COMMAND_NAMES = ("resync", "reboot", "config", "logs", "enrol", "update")
# A software version is also a folder name (a kiosk's slot) and a path segment of the hub's URL.
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"
SoftwareVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
MAX_ENROL_FRAMES = 10
MAX_LOG_CHARS = 32_000
Template = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{683}=$")]  # base64 of 128 float32


class Command(Message):
    """Hub -> kiosk on ``cmd``: one remote command (hub/devices/commands.py queues and sends them).

    ``expires_at``: a kiosk that gets the command later (the broker kept it
    while the kiosk was away) refuses it instead of rebooting days late.
    """

    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    name: Literal["resync", "reboot", "config", "logs", "enrol", "update"]
    args: dict[str, Any] = Field(default_factory=dict)
    expires_at: AwareDatetime | None = None


class EnrolArgs(Message):
    """``args`` of an ``enrol`` command: whose face to take, and how (kiosk/enrol_capture.py)."""

    employee_id: EntityId
    name: str = Field("", max_length=200, description="shown on the consent screen")
    frames: int = Field(5, ge=1, le=MAX_ENROL_FRAMES, description="good frames to take, one template each")
    consent_s: float = Field(5.0, ge=0, le=120, description="the consent text is shown this long before capture")
    timeout_s: float = Field(60.0, gt=0, le=600, description="give up when not enough good frames came by then")


class UpdateArgs(Message):
    """``args`` of an ``update`` command: install this release (kiosk/updater.py).

    The kiosk fetches ``manifest.json`` and the files from the hub's HTTPS API
    and installs only what the offline release key signed; nothing here is
    trusted beyond naming what to fetch.
    """

    version: SoftwareVersion
    rollout_id: int | None = Field(default=None, ge=1, description="the hub's rollout this belongs to")


class CommandResult(KioskMessage):
    """Kiosk -> hub on ``cmd/result``.

    A result with ``templates`` (an ``enrol``) must carry ``device_id`` and
    ``sig`` (Ed25519 over every other field, as a punch): the hub adds those
    templates to a person's gallery, so it believes only the kiosk's key.
    Templates, never photos, leave the kiosk.
    """

    v: Version1 = 1
    id: str
    ok: bool
    detail: str = ""
    device_id: DeviceId | None = None
    templates: list[Template] = Field(default_factory=list, max_length=MAX_ENROL_FRAMES)
    logs: str | None = Field(default=None, max_length=MAX_LOG_CHARS, description="``logs``: the kiosk's recent log")
    sig: str | None = None


M = TypeVar("M", bound=Message)


def decode_json(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """Parse a payload into a JSON object that canonical JSON can write back, or raise MessageInvalid saying why.

    Nothing else is raised, whatever the payload: a hub worker that raised on
    a message would leave it unacked, and enough such messages fill the
    broker's window of unacked messages and stop all ingest.
    """
    data = decode_object(payload, max_bytes)
    check_encodable(payload, data)
    return data


def decode_object(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """``decode_json`` without ``check_encodable``, for a caller that wants the id of an
    object it is about to refuse."""
    if len(payload) > max_bytes:
        raise MessageInvalid(f"payload too large: {len(payload)} bytes > {max_bytes}")
    try:
        # strict UTF-8 (as RFC 8259 asks): json.loads would decode encoded lone surrogates ('surrogatepass')
        data = _DECODER.decode(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageInvalid(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MessageInvalid("not JSON: nested too deeply") from exc
    except MessageInvalid:  # from _finite_float
        raise
    except ValueError as exc:  # the only other one: an integer beyond Python's limit of digits
        raise MessageInvalid(f"not JSON: a number of more than {sys.get_int_max_str_digits()} digits") from exc
    if not isinstance(data, dict):
        raise MessageInvalid(f"not a JSON object: {type(data).__name__}")
    return data


def check_encodable(payload: bytes, data: dict[str, Any]) -> None:
    """Raise MessageInvalid unless ``data``, decoded from ``payload``, has canonical JSON bytes.

    An escape such as ``"\\ud800"`` decodes to a lone surrogate, which UTF-8
    cannot write, and ``json`` reads NaN and Infinity, which are not JSON:
    nothing could have signed such a message, and neither an ack nor the
    database could hold it. Without an escape or one of those words in the
    payload there is neither (``decode_object`` takes strict UTF-8 and
    refuses numbers too large for a float), so the common message costs no
    second pass.
    """
    if not any(mark in payload for mark in _UNENCODABLE_MARKS):
        return
    try:
        canonical_json(data)
    except UnicodeEncodeError as exc:
        raise MessageInvalid("not JSON: text with a lone surrogate") from exc
    except RecursionError as exc:
        raise MessageInvalid("not JSON: nested too deeply") from exc
    except ValueError as exc:
        raise MessageInvalid("not JSON: NaN or Infinity is not a number") from exc


_UNENCODABLE_MARKS = (b"\\u", b"NaN", b"Infinity")


def _finite_float(text: str) -> float:
    """A JSON number as a float, refusing one too large for it (``1e400`` would be infinity)."""
    value = float(text)
    if math.isinf(value):
        raise MessageInvalid("not JSON: a number out of range")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite_float)


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
