"""Checking signatures (issue 8): libsodium behind one function, and a batch checked on threads."""

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from protocol import SignatureInvalid, signing
from protocol.canonical import canonical_json
from tests.punchkit import punch_fields

KEY = signing.generate_private_key()
RAW_KEY = signing.public_key_bytes(signing.public_key_b64(KEY))


def signed(**over):
    return signing.sign_fields(punch_fields("kiosk-01", "site-a", "E1", **over), KEY)


def test_a_key_object_and_its_raw_bytes_check_the_same_way():
    fields = signed()
    signing.verify_fields(fields, KEY.public_key())
    signing.verify_fields(fields, RAW_KEY)
    assert len(RAW_KEY) == signing.PUBLIC_KEY_BYTES
    with pytest.raises(SignatureInvalid):
        signing.verify_fields({**fields, "seq": 2}, RAW_KEY)


@pytest.mark.parametrize("change", [lambda sig: b"", lambda sig: sig[:63], lambda sig: sig + b"\x00",
                                    lambda sig: sig + sig])
def test_a_signature_of_the_wrong_length_is_refused_not_read_around(change):
    """libsodium takes the first 64 bytes it is given as the signature: a good one with junk after it
    must not pass."""
    fields = signed()
    sig = change(base64.b64decode(fields["sig"]))
    with pytest.raises(SignatureInvalid, match="bad signature"):
        signing.verify_fields({**fields, "sig": base64.b64encode(sig).decode()}, RAW_KEY)


def test_a_key_of_the_wrong_length_is_refused():
    body = canonical_json({"a": 1})
    signature = KEY.sign(body)
    signing.check_signature(signature, body, RAW_KEY)
    for key in (RAW_KEY[:31], RAW_KEY + b"\x00", b""):
        with pytest.raises(SignatureInvalid):
            signing.check_signature(signature, body, key)


def test_nan_cannot_have_been_signed():
    fields = {**signed(), "match": {"distance": float("nan"), "gallery_version": 1}}
    with pytest.raises(SignatureInvalid, match="bad signature"):
        signing.verify_fields(fields, RAW_KEY)


def test_verify_many_answers_in_order_on_threads_and_alone():
    good = [signed(seq=i) for i in range(60)]
    other_key = signing.generate_private_key()
    forged = signing.sign_fields(punch_fields("kiosk-01", "site-a", "E1"), other_key)
    items = [(f, RAW_KEY) for f in good]
    items[7] = (forged, RAW_KEY)
    items[41] = ({**good[41], "sig": "not base64!"}, RAW_KEY)
    items[55] = ({**good[55], "employee_id": {1, 2}}, RAW_KEY)  # a set: canonical JSON raises TypeError
    expected = [None] * 60
    expected[7], expected[41], expected[55] = SignatureInvalid, SignatureInvalid, TypeError
    with ThreadPoolExecutor(2) as pool:
        threaded = list(signing.verify_many(items, pool))
    alone = list(signing.verify_many(items))
    for results in (threaded, alone):
        assert [None if r is None else type(r) for r in results] == expected
    assert threaded[41].reason == "bad signature: sig is not base64"
    assert list(signing.verify_many([])) == []
