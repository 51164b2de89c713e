"""Signed releases (protocol/release.py, provisioning/release.py) and signed kiosk requests (protocol/device_auth.py)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from protocol import device_auth, release, signing
from protocol.errors import SignatureInvalid
from provisioning.cli import main as provision

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def built(tmp_path):
    key = tmp_path / "release.key"
    assert provision(["release", "keygen", "--key", str(key)]) == 0
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "kiosk-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    out = tmp_path / "rel"
    assert provision(["release", "build", "--wheelhouse", str(wheels), "--version", "1.0", "--key", str(key),
                      "--out", str(out)]) == 0
    return out, (tmp_path / "release.key.pub").read_text().strip(), key


def test_a_built_release_verifies_with_the_public_key_and_names_each_file(built, capsys):
    out, public, _ = built
    manifest = release.verify_manifest((out / release.MANIFEST).read_bytes(), public, expected_version="1.0")
    assert manifest.file_names() == ["kiosk-1.0-py3-none-any.whl"] and manifest.files[0].size == 11
    release.check_files(out, manifest)
    assert provision(["release", "verify", str(out), "--release-key", str(out.parent / "release.key.pub")]) == 0


def test_another_key_a_changed_field_or_another_version_is_refused(built, tmp_path):
    out, public, _ = built
    payload = (out / release.MANIFEST).read_bytes()
    stranger = signing.public_key_b64(signing.generate_private_key())
    with pytest.raises(release.ReleaseRefused, match="not signed by the release key"):
        release.verify_manifest(payload, stranger)
    data = json.loads(payload)
    data["files"][0]["sha256"] = "0" * 64   # pointing the signed manifest at other bytes
    with pytest.raises(release.ReleaseRefused, match="not signed by the release key"):
        release.verify_manifest(json.dumps(data).encode(), public)
    with pytest.raises(release.ReleaseRefused, match="asked for 2.0 but the signed manifest is of 1.0"):
        release.verify_manifest(payload, public, expected_version="2.0")
    with pytest.raises(release.ReleaseRefused, match="bad manifest"):
        release.verify_manifest(b"{not json", public)


def test_a_file_changed_after_signing_is_refused_by_its_hash(built):
    out, public, _ = built
    manifest = release.verify_manifest((out / release.MANIFEST).read_bytes(), public)
    wheel = out / manifest.files[0].name
    wheel.write_bytes(b"wheel bytez")   # same size, other bytes
    with pytest.raises(release.ReleaseRefused, match="has SHA-256"):
        release.check_files(out, manifest)
    wheel.write_bytes(b"short")
    with pytest.raises(release.ReleaseRefused, match="has 5 bytes"):
        release.check_files(out, manifest)
    wheel.unlink()
    with pytest.raises(release.ReleaseRefused, match="is missing"):
        release.check_files(out, manifest)
    assert provision(["release", "verify", str(out), "--release-key", str(out.parent / "release.key.pub")]) == 1


def test_build_refuses_a_bad_version_an_empty_wheelhouse_and_an_existing_release(built, tmp_path, capsys):
    out, _, key = built
    wheels = tmp_path / "wheels"
    for argv, why in (
        (["--wheelhouse", str(wheels), "--version", "../x", "--out", str(tmp_path / "a")], "bad version"),
        (["--wheelhouse", str(tmp_path / "none"), "--version", "2", "--out", str(tmp_path / "b")], "no wheels"),
        (["--wheelhouse", str(wheels), "--version", "2", "--out", str(out)], "not empty"),
    ):
        assert provision(["release", "build", "--key", str(key), *argv]) == 1
        assert why in capsys.readouterr().err
    assert provision(["release", "keygen", "--key", str(key)]) == 1
    assert "orphan every card" in capsys.readouterr().err


def test_the_release_key_goes_onto_the_card_in_kiosk_yaml(tmp_path):
    from provisioning import bundle

    config = bundle.kiosk_config("K1", "S1", "broker", 8883, tls=True, release_key="abc", hub_url="https://hub")
    assert config["update"] == {"release_key": "abc", "hub_url": "https://hub"}
    assert "update" not in bundle.kiosk_config("K1", "S1", "broker", 8883, tls=True)


def test_a_signed_request_is_good_for_its_path_and_device_and_a_few_minutes_only():
    key = signing.generate_private_key()
    raw = signing.public_key_bytes(signing.public_key_b64(key))
    path = "/api/v1/device/releases/1.0/manifest.json"
    headers = device_auth.sign_request(key, "K1", "GET", path, NOW)
    device_auth.verify_request(headers, "GET", path, raw, NOW + timedelta(seconds=60))
    for method, other_path, at, why in (
        ("GET", "/api/v1/device/releases/2.0/manifest.json", NOW, "bad signature"),
        ("POST", path, NOW, "bad signature"),
        ("GET", path, NOW + timedelta(seconds=device_auth.MAX_SKEW_S + 1), "from the hub's time"),
    ):
        with pytest.raises(SignatureInvalid, match=why):
            device_auth.verify_request(headers, method, other_path, raw, at)
    with pytest.raises(SignatureInvalid, match="bad signature"):
        device_auth.verify_request({**headers, device_auth.DEVICE_HEADER: "K2"}, "GET", path, raw, NOW)
    with pytest.raises(SignatureInvalid, match="missing"):
        device_auth.verify_request({}, "GET", path, raw, NOW)
