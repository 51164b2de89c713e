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
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(MessageInvalid) as err:
        m.parse(m.Punch, payload)
    assert err.value.reason.startswith(reason)


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
