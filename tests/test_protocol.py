"""The shared contract: topics, message schemas, canonical JSON and signatures."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from protocol import MessageInvalid, SignatureInvalid
from protocol import messages as m
from protocol import signing, topics
from protocol.canonical import canonical_json
from protocol.ids import is_punch_id, new_punch_id


def _fields(**over):
    base = {
        "v": 1,
        "id": new_punch_id(),
        "device_id": "kiosk-01",
        "site_id": "site-hq",
        "employee_id": "E1001",
        "ts": m.device_time(datetime(2026, 11, 22, 9, 14, 3, 512000, tzinfo=ZoneInfo("Asia/Kolkata"))),
        "method": "face",
        "match": {"distance": 0.38, "margin": 0.12, "gallery_version": 42},
        "seq": 1234,
    }
    base.update(over)
    return base


def test_device_time_keeps_offset_and_milliseconds():
    assert _fields()["ts"] == "2026-11-22T09:14:03.512+05:30"


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_punch_ids_are_uuid7_and_time_ordered():
    ids = [new_punch_id(now_s=1_700_000_000 + i) for i in range(5)]
    assert all(is_punch_id(i) for i in ids)
    assert ids == sorted(ids)
    assert len({new_punch_id() for _ in range(1000)}) == 1000


def test_signed_punch_verifies_after_a_json_round_trip():
    key = signing.generate_private_key()
    signed = signing.sign_fields(_fields(), key)
    received = m.decode_json(json.dumps(signed, indent=2).encode())
    signing.verify_fields(received, signing.load_public_key(signing.public_key_b64(key)))
    punch = m.validate(m.Punch, received)
    assert punch.employee_id == "E1001" and punch.liveness is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(employee_id="E9999"),
        lambda d: d["match"].update(distance=0.1),
        lambda d: d.update(sig=d["sig"][:-4] + "AAA="),
        lambda d: d.update(sig="not base64!"),
        lambda d: d.pop("sig"),
    ],
)
def test_tampered_punch_fails_verification(tamper):
    key = signing.generate_private_key()
    signed = json.loads(json.dumps(signing.sign_fields(_fields(), key)))
    tamper(signed)
    with pytest.raises(SignatureInvalid):
        signing.verify_fields(signed, key.public_key())


def test_other_devices_key_fails_verification():
    signed = signing.sign_fields(_fields(), signing.generate_private_key())
    with pytest.raises(SignatureInvalid):
        signing.verify_fields(signed, signing.generate_private_key().public_key())


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b"{" + b" " * 70000 + b"}", "payload too large"),
        (json.dumps(_fields(id="123", sig="x")).encode(), "schema: id"),
        (json.dumps(_fields(ts="2026-11-22T09:14:03", sig="x")).encode(), "schema: ts"),
        (json.dumps(_fields(device_id="a/b", sig="x")).encode(), "schema: device_id"),
        (json.dumps(_fields(extra=1, sig="x")).encode(), "schema: extra"),
        (json.dumps(_fields(seq=-1, sig="x")).encode(), "schema: seq"),
        (json.dumps(_fields(method="assisted", sig="x")).encode(), "schema: method"),  # an assisted attempt is no punch
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(MessageInvalid) as err:
        m.parse(m.Punch, payload)
    assert err.value.reason.startswith(reason)


@pytest.mark.parametrize("method", ["face", "face+id"])
def test_punch_methods(method):
    """face: named 1:N; face+id: staff number typed at the kiosk and the face verified 1:1 (kiosk/fallback.py)."""
    assert m.parse(m.Punch, json.dumps(_fields(method=method, sig="x")).encode()).method == method


def test_topics_build_and_parse():
    t = topics.device_topic("kiosk-01", topics.PUNCH)
    assert t == "att/v1/dev/kiosk-01/punch"
    assert topics.parse_device_topic("att/v1/dev/kiosk-01/gallery/delta") == ("kiosk-01", "gallery/delta")
    assert topics.subscription(topics.PUNCH, "hub") == "$share/hub/att/v1/dev/+/punch"
    for bad in ("a/b", "+", "#", "", "x" * 65):
        with pytest.raises(ValueError):
            topics.device_topic(bad, topics.PUNCH)
    for bad in ("att/v1/dev/", "att/v2/dev/k/punch", "att/v1/dev/k"):
        with pytest.raises(ValueError):
            topics.parse_device_topic(bad)


def test_templates_travel_as_float32_base64():
    vec = np.linspace(-0.3, 0.3, 128)
    b64 = m.encode_template(vec)
    assert len(b64) == 684
    np.testing.assert_allclose(m.decode_template(b64), vec.astype(np.float32))
    with pytest.raises(MessageInvalid):
        m.decode_template(m.encode_template(vec[:64]))


def test_every_message_model_round_trips():
    samples = [
        m.Ack(ids=["a"], rejected=[m.Rejection(id="b", reason="bad signature")]),
        m.Status(state="offline"),
        m.Health(ts=datetime.now(ZoneInfo("UTC")), uptime_s=1.0, outbox_depth=0, gallery_version=3, sw_version="0.1.0"),
        m.GalleryRequest(site_id="s", have_version=0),
        m.GalleryDelta(site_id="s", from_version=0, to_version=2, full=True,
                       upserts=[m.GalleryPerson(employee_id="E1", name="A", encodings=[m.encode_template(np.zeros(128))])]),
        m.GalleryApplied(site_id="s", version=2),
        m.Command(id="c1", name="resync"),
        m.CommandResult(id="c1", ok=True),
    ]
    for sample in samples:
        assert m.parse(type(sample), sample.to_json()) == sample


DIGITS = "9" * 5000


def _spliced(fields: dict, marker: str, text: str) -> bytes:
    """``fields`` as JSON with the string ``marker`` replaced by raw JSON ``text`` (json cannot write it)."""
    return json.dumps(fields).encode().replace(json.dumps(marker).encode(), text.encode())


@pytest.mark.parametrize(
    "payload, reason",
    [
        (DIGITS.encode(), "not JSON: a number of more than 4300 digits"),
        (_spliced(_fields(seq="S"), "S", DIGITS), "not JSON: a number of more than 4300 digits"),
        (_spliced(_fields(match={"distance": "D", "gallery_version": 1}), "D", DIGITS),
         "not JSON: a number of more than 4300 digits"),
        (b'{"a": ' + b"[" * 32_000 + b"]" * 32_000 + b"}", "not JSON: nested too deeply"),
        (b"[" * 100_000, "not JSON: nested too deeply"),
        (json.dumps(_fields(id="\ud800")).encode(), "not JSON: text with a lone surrogate"),
        (json.dumps(_fields(employee_id="E\udfff")).encode(), "not JSON: text with a lone surrogate"),
        (json.dumps({"\ud83d": 1}).encode(), "not JSON: text with a lone surrogate"),
        (b'{"a": "\xed\xa0\x80"}', "not JSON: 'utf-8' codec can't decode"),  # an encoded surrogate
        (_spliced(_fields(match={"distance": "N", "gallery_version": 1}), "N", "NaN"), "not JSON: NaN or Infinity"),
        (b'{"a": -Infinity}', "not JSON: NaN or Infinity"),
        (b'{"a": 1e400}', "not JSON: a number out of range"),
        (b'{"a": 1' + b"0" * 400 + b'.5}', "not JSON: a number out of range"),
        ('{"a": 1}'.encode("utf-16"), "not JSON: 'utf-8' codec can't decode"),
    ],
)
def test_hostile_payloads_become_message_invalid_with_a_reason(payload, reason):
    with pytest.raises(MessageInvalid) as err:
        m.decode_json(payload, max_bytes=1 << 20)
    assert err.value.reason.startswith(reason)


def test_only_text_without_canonical_bytes_is_refused_and_its_object_can_still_be_read():
    whole = json.dumps({"name": "\ud83d\ude00 Ré", "note": "NaN Infinity"}).encode()  # an escaped surrogate pair
    assert m.decode_json(whole) == {"name": "\U0001F600 Ré", "note": "NaN Infinity"}
    lone = json.dumps(_fields(employee_id="E\udc00")).encode()
    raw = m.decode_object(lone)  # for the id a rejection names
    assert raw["seq"] == 1234
    with pytest.raises(MessageInvalid, match="lone surrogate"):
        m.check_encodable(lone, raw)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda d: d["match"].update(distance=True), "schema: match.distance: Input should be a valid number"),
        (lambda d: d["match"].update(gallery_version="3"), "schema: match.gallery_version: Input should"),
        (lambda d: d.update(seq="5"), "schema: seq: Input should be a valid integer"),
        (lambda d: d.update(seq=5.0), "schema: seq: Input should be a valid integer"),
        (lambda d: d.update(seq=True), "schema: seq: Input should be a valid integer"),
        (lambda d: d.update(liveness={"passed": "yes"}), "schema: liveness.passed: Input should be a valid bool"),
        (lambda d: d.update(liveness={"passed": 1}), "schema: liveness.passed: Input should be a valid boolean"),
        (lambda d: d.update(liveness={"passed": True, "score": "0.9"}), "schema: liveness.score"),
        (lambda d: d.update(v=True), "schema: v: Value error, Input should be an integer, not a boolean"),
        (lambda d: d.update(ts=1_700_000_000), "schema: ts: Value error, Input should be an ISO 8601"),
        (lambda d: d.update(ts="1700000000"), "schema: ts: Value error, Input should be an ISO 8601"),
    ],
)
def test_punch_types_are_strict(change, reason):
    fields = _fields(sig="x")
    change(fields)
    with pytest.raises(MessageInvalid) as err:
        m.validate(m.Punch, fields)
    assert err.value.reason.startswith(reason)


def test_a_json_integer_is_a_number_but_true_is_not():
    punch = m.validate(m.Punch, _fields(sig="x", match={"distance": 0, "gallery_version": 1},
                                        liveness={"passed": True, "score": 1}))
    assert punch.match.distance == 0.0 and punch.liveness.score == 1.0
    assert punch.ts.utcoffset().total_seconds() == 5.5 * 3600
    with pytest.raises(MessageInvalid, match="liveness.score"):
        m.validate(m.Punch, _fields(sig="x", liveness={"passed": True, "score": True}))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"uptime_s": True}, "schema: uptime_s: Input should be a valid number"),
        ({"outbox_depth": "3"}, "schema: outbox_depth: Input should be a valid integer"),
        ({"gallery_version": 2.0}, "schema: gallery_version: Input should be a valid integer"),
        ({"ts": 0}, "schema: ts: Value error, Input should be an ISO 8601"),
        ({"alarms": [{"kind": "clock_step", "since": 5}]}, "schema: alarms.0.since: Value error"),
    ],
)
def test_health_types_are_strict(change, reason):
    fields = {"ts": "2026-11-22T09:14:03Z", "uptime_s": 1.5, "outbox_depth": 0, "gallery_version": 1,
              "sw_version": "0.1.0", **change}
    with pytest.raises(MessageInvalid) as err:
        m.validate(m.Health, fields)
    assert err.value.reason.startswith(reason)


@pytest.mark.parametrize(
    "model, fields, reason",
    [
        (m.Status, {"state": "online", "gallery_version": "7"}, "schema: gallery_version: Input should be"),
        (m.GalleryRequest, {"site_id": "s", "have_version": True}, "schema: have_version: Input should be"),
        (m.GalleryApplied, {"site_id": "s", "version": 2.0}, "schema: version: Input should be"),
        (m.GalleryKeyRequest, {"v": True, "device_id": "kiosk-01", "box_key": "A" * 43 + "=", "sig": "x"},
         "schema: v: Value error"),
        (m.CommandResult, {"id": "c1", "ok": "yes"}, "schema: ok: Input should be"),
    ],
)
def test_every_message_a_kiosk_sends_is_strict(model, fields, reason):
    with pytest.raises(MessageInvalid) as err:
        m.validate(model, fields)
    assert err.value.reason.startswith(reason)
