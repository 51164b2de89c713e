"""Whether a received punch is stored or rejected, and why (pure: no MQTT, no DB).

The checks run in a fixed order, cheapest and least trusting first, so the
reason a kiosk gets back names the first thing that is wrong:

size -> JSON -> topic -> unknown/retired device -> topic vs payload device
-> signature -> schema -> site of the device -> employee allowed at the site
-> plausibility (match, time, seq: ``hub.ingest.plausibility``, which may also flag).

The signature is checked over the dict *as received*, before the schema,
so nothing of an unsigned message is interpreted beyond what routing needs.
Reasons are short stable texts; they go into the ack and the audit table.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.ingest.plausibility import Flag
from protocol.errors import MessageInvalid, SignatureInvalid
from protocol.messages import (
    Ack,
    Punch,
    Rejection,
    check_encodable,
    decode_object,
    validate,
)
from protocol.signing import public_key_bytes, verify_many
from protocol.topics import PUNCH, parse_device_topic

BAD_TOPIC = "not a punch topic"
UNKNOWN_DEVICE = "unknown device"
RETIRED_DEVICE = "retired device"
TOPIC_DEVICE_MISMATCH = "topic/device mismatch"
DEVICE_KEY_INVALID = "device key invalid"
SITE_MISMATCH = "site mismatch"
NOT_ALLOWED = "employee not allowed at site"

MAX_ID_CHARS = 64
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class DeviceRecord:
    """What intake needs to know about a registered kiosk."""

    device_id: str
    site_id: str
    public_key_b64: str
    retired: bool = False


@dataclass(frozen=True)
class Accepted:
    """A punch to store; ``flags`` say what an admin should review."""

    punch: Punch
    raw: dict[str, Any]
    flags: tuple[Flag, ...] = ()


# The plausibility step: a refusal reason, or the flags of a punch to store.
Assess = Callable[[Punch], str | tuple[Flag, ...]]


def trust_all(_punch: Punch) -> tuple[Flag, ...]:
    """An ``Assess`` that finds nothing to doubt (callers that judge plausibility elsewhere, or not at all)."""
    return ()


@dataclass(frozen=True)
class Rejected:
    """``punch_id`` is set when the payload carried a usable id, so the kiosk
    can be told; ``notify`` is False for a hub-side failure the kiosk should
    not act on (it keeps the punch and sends it again)."""

    punch_id: str | None
    reason: str
    notify: bool = True


@dataclass(frozen=True)
class Outcome:
    """What happened to one punch message: ``reason`` None means stored (or already stored).

    ``seq`` is the highest seq the hub holds from ``device_id`` once the batch is
    committed (None: none), which the kiosk's ack carries.
    """

    device_id: str | None
    punch_id: str | None
    reason: str | None = None
    notify: bool = True
    seq: int | None = None


@dataclass(frozen=True)
class PunchMessage:
    """A message that is a JSON object on a device's punch topic: not yet trusted.

    What the later checks need, and what a batch looks up in advance (its
    kiosks and employees), so each payload is parsed once.
    """

    raw: dict[str, Any]
    device_id: str  # from the topic
    punch_id: str | None  # as ``punch_id_of``

    @property
    def employee_id(self) -> str | None:
        """The employee the payload names, if it names one as a string (unchecked)."""
        value = self.raw.get("employee_id")
        return value if isinstance(value, str) else None


def check_punch(
    topic: str,
    payload: bytes,
    *,
    max_bytes: int,
    device_lookup: Callable[[str], DeviceRecord | None],
    is_allowed: Callable[[str, str], bool],
    assess: Assess = trust_all,
) -> Accepted | Rejected:
    """Decide one punch; ``is_allowed(employee_id, site_id)``."""
    message = parse_punch_message(topic, payload, max_bytes=max_bytes)
    if isinstance(message, Rejected):
        return message
    return judge_punch(message, device_lookup=device_lookup, is_allowed=is_allowed, assess=assess)


def parse_punch_message(topic: str, payload: bytes, *, max_bytes: int) -> PunchMessage | Rejected:
    """The first checks (size, JSON, topic), which need nothing looked up.

    They never raise: whatever the payload, the result is a message or a
    rejection with a reason, which names the payload's id when it has one
    fit to echo (``punch_id_of``), even if the rest cannot be read back.
    """
    try:
        raw = decode_object(payload, max_bytes)
    except MessageInvalid as exc:
        return Rejected(None, exc.reason)
    punch_id = punch_id_of(raw)
    try:
        check_encodable(payload, raw)
    except MessageInvalid as exc:
        return Rejected(punch_id, exc.reason)
    try:
        where = parse_device_topic(topic)
    except ValueError:
        return Rejected(punch_id, BAD_TOPIC)
    if where.kind != PUNCH:
        return Rejected(punch_id, BAD_TOPIC)
    return PunchMessage(raw, where.device_id, punch_id)


@dataclass(frozen=True)
class Screened:
    """A punch message from a known, active kiosk, on its own topic: its signature is checked next."""

    message: PunchMessage
    device: DeviceRecord
    public_key: bytes  # the kiosk's raw Ed25519 key


def judge_punch(
    message: PunchMessage,
    *,
    device_lookup: Callable[[str], DeviceRecord | None],
    is_allowed: Callable[[str, str], bool],
    assess: Assess = trust_all,
) -> Accepted | Rejected:
    """The remaining checks of ``check_punch``, in its order, on a parsed message.

    In three steps, so a batch can check its signatures together
    (``protocol.signing.verify_many``) between the first and the last.
    """
    screened = screen_punch(message, device_lookup=device_lookup)
    if isinstance(screened, Rejected):
        return screened
    [result] = verify_many([(message.raw, screened.public_key)])
    return finish_punch(screened, result, is_allowed=is_allowed, assess=assess)


def screen_punch(
    message: PunchMessage,
    *,
    device_lookup: Callable[[str], DeviceRecord | None],
    key_of: Callable[[str], bytes] = public_key_bytes,
) -> Screened | Rejected:
    """The checks before the signature: the kiosk is known and active, the payload names it, its key is usable.

    ``key_of`` turns a stored base64 key into raw bytes (a batch passes a
    cached one: a kiosk sends many punches); it raises ValueError for a bad key.
    """
    punch_id = message.punch_id
    device = device_lookup(message.device_id)
    if device is None:
        return Rejected(punch_id, UNKNOWN_DEVICE)
    if device.retired:
        return Rejected(punch_id, RETIRED_DEVICE)
    if message.raw.get("device_id") != message.device_id:
        return Rejected(punch_id, TOPIC_DEVICE_MISMATCH)
    try:
        public_key = key_of(device.public_key_b64)
    except ValueError:
        return Rejected(punch_id, DEVICE_KEY_INVALID)
    return Screened(message, device, public_key)


def finish_punch(
    screened: Screened,
    signature: Exception | None,
    *,
    is_allowed: Callable[[str, str], bool],
    assess: Assess = trust_all,
) -> Accepted | Rejected:
    """The checks after the signature: schema, site, employee, then ``assess`` (plausibility).

    ``signature`` is what ``verify_many`` said of this punch: None (good),
    SignatureInvalid (refused), or the exception that checking it raised,
    which is raised here, as if the check had run here.
    """
    raw, punch_id, device = screened.message.raw, screened.message.punch_id, screened.device
    if isinstance(signature, SignatureInvalid):  # also NaN/Infinity, which canonical JSON cannot sign
        return Rejected(punch_id, signature.reason)
    if signature is not None:
        raise signature
    try:
        punch = validate(Punch, raw)
    except MessageInvalid as exc:
        return Rejected(punch_id, exc.reason)
    too_large = out_of_range(punch)
    if too_large:
        return Rejected(punch_id, too_large)
    if punch.site_id != device.site_id:
        return Rejected(punch_id, SITE_MISMATCH)
    if not is_allowed(punch.employee_id, punch.site_id):
        return Rejected(punch_id, NOT_ALLOWED)
    verdict = assess(punch)
    if isinstance(verdict, str):
        return Rejected(punch_id, verdict)
    return Accepted(punch, raw, verdict)


def out_of_range(punch: Punch) -> str | None:
    """The schema allows any integer; the database stores 64 bits. A value it
    cannot store would fail every retry of the batch, so it is refused here."""
    for where, value in (("seq", punch.seq), ("match.gallery_version", punch.match.gallery_version)):
        if value > INT64_MAX:
            return f"schema: {where}: too large"
    return None


def punch_id_of(raw: dict[str, Any]) -> str | None:
    """The payload's ``id`` when it is fit to echo in an ack, even if the schema fails.

    A kiosk keeps a punch until the hub answers for its id, so a malformed
    punch must still be answered, or it would be resent forever. An id that
    cannot be echoed is None: control characters, and lone surrogates
    (``"\\ud800"``), which are not printable and which UTF-8, so an ack,
    cannot carry. No kiosk makes such an id (they are UUIDv7), so none waits
    for an answer; the message is kept for audit, PUBACKed to the broker and
    counted (``hub_punches_unanswered_total``).
    """
    value = raw.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable():
        return value
    return None


def build_acks(outcomes: Iterable[Outcome], hub_ts: datetime) -> dict[str, Ack]:
    """One Ack per device: stored (and duplicate) ids, rejections with an id, the
    highest seq the hub holds from the device and the hub's time ``hub_ts``.

    The seq lets a kiosk that lost its outbox go on counting without reusing one;
    ``hub_ts`` lets it check its own clock.
    """
    ids: dict[str, dict[str, None]] = {}
    rejected: dict[str, dict[str, str]] = {}
    seqs: dict[str, int] = {}
    for out in outcomes:
        if out.device_id is None or out.punch_id is None or not out.notify:
            continue
        ids.setdefault(out.device_id, {})
        rejected.setdefault(out.device_id, {})
        if out.seq is not None:
            seqs[out.device_id] = max(out.seq, seqs.get(out.device_id, out.seq))
        if out.reason is None:
            ids[out.device_id][out.punch_id] = None
        else:
            rejected[out.device_id].setdefault(out.punch_id, out.reason)
    return {
        device: Ack(
            ids=list(ids[device]),
            rejected=[Rejection(id=i, reason=r) for i, r in rejected[device].items() if i not in ids[device]],
            seq=seqs.get(device),
            hub_ts=hub_ts,
        )
        for device in ids
    }
