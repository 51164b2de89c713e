"""Each kiosk's gallery key: derivation at the hub, the signed request, the sealed answer, the hub secret.

Pure: no broker, no database. tests/test_stolen_card.py runs the same over
a real Mosquitto with the real ingest worker and kiosk link.
"""

import base64
import json
import stat

import pytest
from nacl.public import PrivateKey

from hub.config import HubConfig
from hub.enrolment.gallery_keys import (
    GalleryKeySecretError,
    answer,
    check_request,
    device_gallery_key,
    load_or_create_secret,
    secret_path,
)
from hub.ingest.intake import DeviceRecord
from kiosk.gallery_key import GalleryKeyError, HubGalleryKey, open_sealed_key
from protocol import messages, signing
from protocol.errors import MessageInvalid, SignatureInvalid

SECRET = bytes(range(32))
MAX = 64 * 1024


def registered(device_id: str, key, retired: bool = False) -> DeviceRecord:
    return DeviceRecord(device_id=device_id, site_id="S1", public_key_b64=signing.public_key_b64(key), retired=retired)


def raw(key) -> bytes:
    return signing.public_key_bytes(signing.public_key_b64(key))


def test_the_key_is_stable_for_one_identity_and_differs_for_any_other():
    a, b = signing.generate_private_key(), signing.generate_private_key()
    key = device_gallery_key(SECRET, "K-1", raw(a))
    assert len(key) == 32 and key == device_gallery_key(SECRET, "K-1", raw(a))
    others = {
        device_gallery_key(SECRET, "K-2", raw(a)),              # another device id
        device_gallery_key(SECRET, "K-1", raw(b)),              # re-provisioned: a new key pair
        device_gallery_key(bytes(32), "K-1", raw(a)),           # another hub secret
        device_gallery_key(SECRET, "K-1" + "\0", raw(a)[:-1]),  # the labels cannot slide into each other
    }
    assert key not in others and len(others) == 4


def test_the_hub_answers_its_own_kiosk_and_only_that_process_opens_the_answer():
    device_key = signing.generate_private_key()
    kiosk = HubGalleryKey("K-1", device_key)
    request = check_request("K-1", kiosk.request(), registered("K-1", device_key), max_bytes=MAX)
    reply = answer(SECRET, registered("K-1", device_key), request)
    assert not kiosk.ready.is_set()
    with pytest.raises(GalleryKeyError, match="does not open"):
        open_sealed_key(reply.sealed, PrivateKey.generate())         # anyone else, e.g. the broker
    # the same kiosk restarted (a thief with the card: the same device key) holds another box key
    restarted = HubGalleryKey("K-1", device_key)
    assert restarted.accept(reply) is False and not restarted.ready.is_set()
    assert kiosk.accept(reply) is True and kiosk.ready.is_set()
    assert kiosk.key() == device_gallery_key(SECRET, "K-1", raw(device_key))
    assert kiosk.accept(reply) is False                               # a second answer changes nothing


def test_the_request_names_no_secret_and_the_answer_is_not_the_key():
    device_key = signing.generate_private_key()
    kiosk = HubGalleryKey("K-1", device_key)
    payload = kiosk.request()
    request = check_request("K-1", payload, registered("K-1", device_key), max_bytes=MAX)
    key = device_gallery_key(SECRET, "K-1", raw(device_key))
    reply = answer(SECRET, registered("K-1", device_key), request).to_json()
    assert key not in base64.b64decode(messages.parse(messages.GalleryKey, reply).sealed)
    assert base64.b64encode(key) not in reply and key.hex().encode() not in reply


@pytest.mark.parametrize("case, error, reason", [
    ("signed by another device's key", SignatureInvalid, "bad signature"),
    ("sent on another device's topic", MessageInvalid, "does not match the topic"),
    ("from a retired device", MessageInvalid, "retired device"),
    ("from an unknown device", MessageInvalid, "unknown device"),
    ("with a box key changed in transit", SignatureInvalid, "bad signature"),
])
def test_requests_the_hub_refuses(case, error, reason):
    device_key, thief_key = signing.generate_private_key(), signing.generate_private_key()
    topic_device, device = "K-1", registered("K-1", device_key)
    payload = HubGalleryKey("K-1", device_key).request()
    if case == "signed by another device's key":
        payload = HubGalleryKey("K-1", thief_key).request()
    elif case == "sent on another device's topic":
        topic_device = "K-2"
    elif case == "from a retired device":
        device = registered("K-1", device_key, retired=True)
    elif case == "from an unknown device":
        device = None
    else:
        fields = messages.decode_json(payload)
        fields["box_key"] = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
        payload = json.dumps(fields).encode()
    with pytest.raises(error, match=reason):
        check_request(topic_device, payload, device, max_bytes=MAX)


def test_the_secret_is_made_once_with_mode_0600_and_read_again(tmp_path):
    path = tmp_path / "hub" / "gallery-key.secret"
    first = load_or_create_secret(path)
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["gallery-key.secret"]   # no temporary left
    path.write_text("not hex\n")
    with pytest.raises(GalleryKeySecretError, match="64 hex digits"):
        load_or_create_secret(path)


def test_the_secret_lives_beside_a_sqlite_database_or_where_configured(tmp_path):
    def config(**kw) -> HubConfig:
        return HubConfig.model_validate({"admin_token_file": str(tmp_path / "t"), **kw})

    assert secret_path(config(database_url="sqlite:////srv/hub/hub.sqlite")).as_posix() == "/srv/hub/gallery-key.secret"
    assert secret_path(config(database_url="postgresql+psycopg://hub@db/hub",
                              gallery_key_secret_file="/etc/hub/g.secret")).as_posix() == "/etc/hub/g.secret"
    with pytest.raises(GalleryKeySecretError, match="gallery_key_secret_file is not set"):
        secret_path(config(database_url="postgresql+psycopg://hub@db/hub"))


def test_init_db_makes_the_secret_and_check_config_names_a_bad_one(tmp_path, capsys):
    from hub.cli import main

    (tmp_path / "admin.token").write_text("an-admin-token-0123456789\n")
    (tmp_path / "admin.token").chmod(0o600)  # a secret: check-config refuses one others may read
    config = tmp_path / "hub.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'db' / 'hub.sqlite'}\n"
                      f"admin_token_file: {tmp_path / 'admin.token'}\n")
    secret = tmp_path / "db" / "gallery-key.secret"
    assert main(["check-config", str(config)]) == 0                      # not made yet: made at first use
    assert main(["init-db", "--config", str(config)]) == 0
    assert f"gallery keys derive from {secret}" in capsys.readouterr().out
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(load_or_create_secret(secret)) == 32
    kept = secret.read_text()
    assert main(["init-db", "--config", str(config)]) == 0 and secret.read_text() == kept   # never replaced

    secret.write_text("0123\n")
    assert main(["check-config", str(config)]) == 1
    assert "gallery_key_secret_file: " in capsys.readouterr().err
    config.write_text(f"database_url: postgresql+psycopg://hub@db/hub\nadmin_token_file: {tmp_path / 'admin.token'}\n")
    assert main(["check-config", str(config)]) == 1
    assert "gallery_key_secret_file is not set" in capsys.readouterr().err
