"""hub.ingest.intake: every reason a punch is refused, in the order the checks run (pure, real Ed25519 keys)."""

import json
from datetime import datetime, timezone

import pytest

from hub.ingest import intake
from hub.ingest.intake import (
    Accepted,
    DeviceRecord,
    Outcome,
    Rejected,
    build_acks,
    check_punch,
)
from protocol import signing, topics
from protocol.backoff import backoff_delay
from tests.punchkit import punch_fields, signed_punch, to_payload

KEY = signing.generate_private_key()
OTHER_KEY = signing.generate_private_key()
DEVICES = {
    "kiosk-01": DeviceRecord("kiosk-01", "site-a", signing.public_key_b64(KEY)),
    "kiosk-old": DeviceRecord("kiosk-old", "site-a", signing.public_key_b64(KEY), retired=True),
    "kiosk-badkey": DeviceRecord("kiosk-badkey", "site-a", "not-a-key"),
}
ALLOWED = {("E1", "site-a")}
TOPIC = topics.device_topic("kiosk-01", topics.PUNCH)


def check(topic: str, payload: bytes, max_bytes: int = 4096):
    return check_punch(topic, payload, max_bytes=max_bytes, device_lookup=DEVICES.get,
                       is_allowed=lambda e, s: (e, s) in ALLOWED)


def good(**over):
    return signed_punch(KEY, "kiosk-01", "site-a", "E1", **over)


def resigned(mutate):
    """A punch changed by ``mutate`` and then signed again with the device key."""
    fields = punch_fields("kiosk-01", "site-a", "E1")
    mutate(fields)
    return signing.sign_fields(fields, KEY)


def without(field):
    return resigned(lambda f: f.pop(field))


CASES = [
    # (case id, topic, payload, reason (a prefix when it ends with ": "), punch id known?)
    ("too large", TOPIC, to_payload(good(pad="x" * 5000)), "payload too large: ", False),
    ("not json", TOPIC, b"\x00\xffgarbage", "not JSON: ", False),
    ("json list", TOPIC, b"[1, 2]", "not a JSON object: list", False),
    ("wrong kind", topics.device_topic("kiosk-01", topics.HEALTH), to_payload(good()), intake.BAD_TOPIC, True),
    ("bad device level", "att/v1/dev/bad id!/punch", to_payload(good()), intake.BAD_TOPIC, True),
    ("unknown device", topics.device_topic("kiosk-99", topics.PUNCH), to_payload(good()), "unknown device", True),
    ("retired device", topics.device_topic("kiosk-old", topics.PUNCH),
     to_payload(signed_punch(KEY, "kiosk-old", "site-a", "E1")), "retired device", True),
    ("topic/device mismatch", TOPIC, to_payload(signed_punch(KEY, "kiosk-02", "site-a", "E1")),
     "topic/device mismatch", True),
    ("device id missing", TOPIC, to_payload(without("device_id")), "topic/device mismatch", True),
    ("stored key unusable", topics.device_topic("kiosk-badkey", topics.PUNCH),
     to_payload(signed_punch(KEY, "kiosk-badkey", "site-a", "E1")), intake.DEVICE_KEY_INVALID, True),
    ("forged", TOPIC, to_payload(signed_punch(OTHER_KEY, "kiosk-01", "site-a", "E1")), "bad signature", True),
    ("tampered after signing", TOPIC, to_payload({**good(), "employee_id": "E2"}), "bad signature", True),
    ("unsigned", TOPIC, to_payload(punch_fields("kiosk-01", "site-a", "E1")), "bad signature: sig missing", True),
    ("sig not base64", TOPIC, to_payload({**good(), "sig": "%%%"}), "bad signature: sig is not base64", True),
    ("NaN in payload", TOPIC, b'{"id": "x", "device_id": "kiosk-01", "seq": NaN, "sig": "AAAA"}',
     "not JSON: NaN or Infinity is not a number", True),
    ("lone surrogate", TOPIC, to_payload(punch_fields("kiosk-01", "site-a", "E\udc00")),
     "not JSON: text with a lone surrogate", True),
    ("schema: ts missing", TOPIC, to_payload(without("ts")), "schema: ts: Field required", True),
    ("schema: naive ts", TOPIC, to_payload(resigned(lambda f: f.update(ts="2026-11-22T09:14:03"))),
     "schema: ts: ", True),
    ("schema: extra field", TOPIC, to_payload(resigned(lambda f: f.update(extra=1))), "schema: extra: ", True),
    ("schema: bad id", TOPIC, to_payload(resigned(lambda f: f.update(id="not-a-uuid7"))), "schema: id: ", True),
    ("schema: seq beyond 64 bits", TOPIC, to_payload(resigned(lambda f: f.update(seq=2**63))),
     "schema: seq: too large", True),
    ("site mismatch", TOPIC, to_payload(signed_punch(KEY, "kiosk-01", "site-b", "E1")), "site mismatch", True),
    ("employee not allowed", TOPIC, to_payload(signed_punch(KEY, "kiosk-01", "site-a", "E2")), "employee not allowed at site", True),
]


@pytest.mark.parametrize("topic, payload, reason, has_id", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejections_name_the_first_failed_check(topic, payload, reason, has_id):
    result = check(topic, payload)
    assert isinstance(result, Rejected), result
    if reason.endswith(": "):  # the rest names the detail, e.g. the pydantic message
        assert result.reason.startswith(reason), result.reason
    else:
        assert result.reason == reason
    assert (result.punch_id is not None) == has_id
    assert result.notify


def test_rejection_carries_the_punch_id_for_the_ack():
    forged = signed_punch(OTHER_KEY, "kiosk-01", "site-a", "E1")
    assert check(TOPIC, to_payload(forged)) == Rejected(forged["id"], "bad signature")


def test_good_punch_is_accepted_with_the_dict_as_received():
    fields = good(liveness={"passed": True, "score": 0.93})
    result = check(TOPIC, json.dumps(fields, indent=2).encode())
    assert isinstance(result, Accepted)
    assert result.raw == fields
    assert result.punch.id == fields["id"] and result.punch.liveness.passed


def test_home_site_or_membership_is_asked_with_employee_then_site():
    asked = []
    check_punch(TOPIC, to_payload(good()), max_bytes=4096, device_lookup=DEVICES.get,
                is_allowed=lambda *a: asked.append(a) or True)
    assert asked == [("E1", "site-a")]


@pytest.mark.parametrize(
    "raw, expected",
    [({"id": "abc"}, "abc"), ({"id": 5}, None), ({}, None), ({"id": ""}, None), ({"id": "x" * 65}, None),
     ({"id": "a\nb"}, None)],
)
def test_punch_id_of(raw, expected):
    assert intake.punch_id_of(raw) == expected


def test_acks_group_per_device_and_skip_what_cannot_be_answered():
    outcomes = [
        Outcome("k1", "p1", seq=7),
        Outcome("k1", "p1", seq=9),                 # duplicate within a batch: one id; the highest seq
        Outcome("k1", "p2", "bad signature"),
        Outcome("k2", "p3"),
        Outcome("k2", None, "not JSON: x"),          # no id: nothing to tell
        Outcome(None, "p4", intake.BAD_TOPIC),       # no device: nowhere to tell
        Outcome("k2", "p5", "internal error: KeyError", notify=False),
        Outcome("k3", "p6", "unknown device"),
        Outcome("k3", "p6"),                         # a good copy wins over a forged one
    ]
    hub_ts = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
    acks = build_acks(outcomes, hub_ts)
    assert set(acks) == {"k1", "k2", "k3"}
    assert {d: (a.seq, a.hub_ts) for d, a in acks.items()} == {"k1": (9, hub_ts), "k2": (None, hub_ts),
                                                               "k3": (None, hub_ts)}
    assert acks["k1"].ids == ["p1"] and [(r.id, r.reason) for r in acks["k1"].rejected] == [("p2", "bad signature")]
    assert acks["k2"].ids == ["p3"] and acks["k2"].rejected == []
    assert acks["k3"].ids == ["p6"] and acks["k3"].rejected == []


@pytest.mark.parametrize(
    "attempt, rand, expected",
    [(0, 0.0, 0.25), (0, 1.0, 0.5), (1, 1.0, 1.0), (3, 1.0, 4.0), (10, 1.0, 30.0), (10, 0.0, 15.0), (500, 1.0, 30.0)],
)
def test_commit_retry_backoff_doubles_is_capped_and_jittered(attempt, rand, expected):
    assert backoff_delay(attempt, 0.5, 30.0, rand=lambda: rand) == pytest.approx(expected)
