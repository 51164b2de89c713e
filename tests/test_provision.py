"""provision device / batch: identity, bundle, hub registration, idempotent reruns.

The hub is tests.fake_hub_api.FakeHub behind httpx.MockTransport; the
last test runs the hub client against the real hub app (FastAPI TestClient
on SQLite), so the fake and the hub cannot drift apart unseen.
"""

import json
import stat
from pathlib import Path

import httpx
import pytest

from kiosk.config import KioskConfig
from protocol import signing
from protocol.settings import load_config
from provisioning import bundle as bundles
from provisioning import tls
from provisioning.cli import main
from provisioning.errors import HubError
from tests.fake_hub_api import FakeHub
from provisioning.hubclient import HubClient, HubDevice, Registration

HUB = "https://hub.example.org"


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub(sites=("S1", "S2"))


@pytest.fixture
def token_file(tmp_path, hub) -> Path:
    path = tmp_path / "token"
    path.write_text(hub.token + "\n")
    return path


@pytest.fixture
def broker_ca(tmp_path) -> Path:
    """The CA `provision broker --out broker` leaves beside the bundles (tmp_path/bundles)."""
    (tmp_path / "broker").mkdir()
    tls.ensure_ca(tmp_path / "broker")
    return tmp_path / "broker" / tls.CA_CERT


def bundle_dir(tmp_path: Path, name: str) -> Path:
    """Where `provision device --out bundles/<name>` puts a bundle: beside it is broker/."""
    return tmp_path / "bundles" / name


def run(hub: FakeHub, *argv: str) -> int:
    return main(list(argv), transport=hub.transport())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_device_makes_identity_registers_and_writes_a_tight_tls_bundle(tmp_path, hub, token_file, broker_ca, capsys):
    out = bundle_dir(tmp_path, "K-001")
    rc = run(hub, "device", "--device-id", "K-001", "--site", "S1", "--hub", HUB, "--token-file", str(token_file),
             "--out", str(out))
    assert rc == 0, capsys.readouterr().err
    assert "K-001: created" in capsys.readouterr().out

    key = signing.load_private_key(out / "credentials/device.key")
    assert hub.devices["K-001"]["public_key"] == signing.public_key_b64(key)
    assert hub.devices["K-001"]["site_id"] == "S1"
    password = (out / "credentials/mqtt.password").read_text().strip()
    assert len(password) >= 24
    assert mode(out) == mode(out / "credentials") == 0o700
    for f in ("credentials/device.key", "credentials/mqtt.password", "kiosk.yaml", "provision.json", "ca.crt"):
        assert mode(out / f) == 0o600, f
    assert (out / "ca.crt").read_bytes() == broker_ca.read_bytes()  # broker/ beside bundles/, by default

    config = load_config(out / "kiosk.yaml", KioskConfig)
    assert (config.device_id, config.site_id) == ("K-001", "S1")
    assert config.signing_key_file == Path("/etc/kiosk/credentials/device.key")
    assert config.mqtt.password_file == Path("/etc/kiosk/credentials/mqtt.password")
    assert config.state_dir == Path("/var/lib/kiosk")
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username) == ("hub.example.org", 8883, "K-001")
    assert config.mqtt.ca_file == Path("/etc/kiosk/ca.crt") and not config.mqtt.allow_plaintext
    meta = json.loads((out / "provision.json").read_text())
    assert meta["hostname"] == "kiosk-k-001" and meta["registered_at"]
    assert password not in (out / "provision.json").read_text() + (out / "kiosk.yaml").read_text()


def test_rerun_reuses_the_key_and_reports_already_registered(tmp_path, hub, token_file, broker_ca, capsys):
    out = bundle_dir(tmp_path, "K-001")
    args = ("device", "--device-id", "K-001", "--site", "S1", "--hub", HUB, "--token-file", str(token_file),
            "--out", str(out))
    assert run(hub, *args) == 0
    key_pem = (out / "credentials/device.key").read_bytes()
    password = (out / "credentials/mqtt.password").read_text()
    capsys.readouterr()
    assert run(hub, *args, "--mqtt-host", "broker.lan") == 0
    assert "K-001: already registered" in capsys.readouterr().out
    assert (out / "credentials/device.key").read_bytes() == key_pem
    assert (out / "credentials/mqtt.password").read_text() == password
    assert load_config(out / "kiosk.yaml", KioskConfig).mqtt.host == "broker.lan"


def test_a_ca_from_elsewhere_and_an_explicit_plaintext_bundle(tmp_path, hub, token_file, capsys):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    out = bundle_dir(tmp_path, "K-002")
    args = ("device", "--device-id", "K-002", "--site", "S1", "--hub", HUB, "--token-file", str(token_file),
            "--out", str(out))
    assert run(hub, *args, "--ca-file", str(ca)) == 0
    assert (out / "ca.crt").read_text() == ca.read_text()
    config = load_config(out / "kiosk.yaml", KioskConfig)
    assert config.mqtt.ca_file == Path("/etc/kiosk/ca.crt") and config.mqtt.port == 8883
    capsys.readouterr()

    assert run(hub, *args, "--plaintext-mqtt") == 0
    assert "warning: --plaintext-mqtt" in capsys.readouterr().err
    assert not (out / "ca.crt").exists()  # the image must not install a CA nothing uses
    config = load_config(out / "kiosk.yaml", KioskConfig)  # valid: the flag wrote allow_plaintext
    assert (config.mqtt.port, config.mqtt.ca_file, config.mqtt.allow_plaintext) == (1883, None, True)

    other = tmp_path / "elsewhere"
    other.mkdir()
    tls.ensure_ca(other)
    assert run(hub, *args, "--broker-dir", str(other)) == 0  # back to TLS, with that folder's CA
    assert (out / "ca.crt").read_bytes() == (other / "ca.crt").read_bytes()
    assert load_config(out / "kiosk.yaml", KioskConfig).mqtt.port == 8883
    with pytest.raises(SystemExit):  # a CA and plaintext at once make no sense
        run(hub, *args, "--ca-file", str(ca), "--plaintext-mqtt")


def test_without_a_broker_ca_nothing_is_written_and_the_error_says_which_command_makes_one(
    tmp_path, hub, token_file, capsys
):
    out = bundle_dir(tmp_path, "K-1")
    auth = ("--hub", HUB, "--token-file", str(token_file))
    assert run(hub, "device", "--device-id", "K-1", "--site", "S1", *auth, "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert f"no broker CA at {tmp_path / 'broker' / 'ca.crt'}" in err
    assert f"run `provision broker --out {tmp_path / 'broker'} --broker-host NAME` first" in err
    assert "--plaintext-mqtt" in err

    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("device_id,site_id\nK-2,S1\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(hub, "batch", str(csv_path), *auth, "--out", str(tmp_path / "bundles")) == 1
    assert "no broker CA at" in capsys.readouterr().err
    assert run(hub, "batch", str(csv_path), *auth, "--out", str(tmp_path / "bundles"), "--broker-dir", str(empty)) == 1
    assert f"no broker CA at {empty / 'ca.crt'}" in capsys.readouterr().err
    assert not (tmp_path / "bundles").exists() and not hub.devices


def test_a_rerun_keeps_the_client_certificate_provision_broker_issued(tmp_path, hub, token_file, broker_ca):
    out = bundle_dir(tmp_path, "K-1")
    args = ("device", "--device-id", "K-1", "--site", "S1", "--hub", HUB, "--token-file", str(token_file),
            "--out", str(out))
    assert run(hub, *args) == 0
    assert run(hub, "broker", "--out", str(broker_ca.parent), "--devices-from", str(out.parent),
               "--broker-host", "broker.lan", "--client-certs") == 0
    issued = load_config(out / "kiosk.yaml", KioskConfig).mqtt
    assert issued.cert_file == Path("/etc/kiosk/credentials/mqtt-client.crt")
    assert run(hub, *args, "--mqtt-host", "broker.lan") == 0  # e.g. to move the kiosk to another broker name
    kept = load_config(out / "kiosk.yaml", KioskConfig).mqtt
    assert (kept.host, kept.cert_file, kept.key_file) == ("broker.lan", issued.cert_file, issued.key_file)


def test_a_bad_ca_file_writes_nothing(tmp_path, hub, token_file, capsys):
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a")
    out = tmp_path / "K-5"
    assert run(hub, "device", "--device-id", "K-5", "--site", "S1", "--hub", HUB, "--token-file",
               str(token_file), "--out", str(out), "--ca-file", str(not_pem)) == 1
    assert "not a PEM certificate" in capsys.readouterr().err
    assert not out.exists() and not hub.devices


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device-id", "K/1", "--site", "S1"], "invalid device id"),
        (["--device-id", "K-3", "--site", "NOPE"], "does not know site"),
    ],
)
def test_bad_input_is_refused_clearly(tmp_path, hub, token_file, broker_ca, capsys, argv, message):
    rc = run(hub, "device", *argv, "--hub", HUB, "--token-file", str(token_file),
             "--out", str(bundle_dir(tmp_path, "b")))
    assert rc == 1
    assert message in capsys.readouterr().err


def test_wrong_token_and_a_key_clash_are_refused(tmp_path, hub, token_file, broker_ca, capsys):
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-admin-token\n")
    assert run(hub, "device", "--device-id", "K-1", "--site", "S1", "--hub", HUB, "--token-file", str(bad),
               "--out", str(bundle_dir(tmp_path, "a"))) == 1
    assert "refused the admin token" in capsys.readouterr().err
    # K-1 exists at the hub with another key: a fresh bundle must not claim it.
    hub.devices["K-1"] = {"device_id": "K-1", "site_id": "S1", "public_key": "b3RoZXI=", "retired_at": None}
    assert run(hub, "device", "--device-id", "K-1", "--site", "S1", "--hub", HUB, "--token-file",
               str(token_file), "--out", str(bundle_dir(tmp_path, "b"))) == 1
    assert "another public key" in capsys.readouterr().err


def test_a_bundle_is_never_reused_for_another_device_or_site(tmp_path, hub, token_file, broker_ca, capsys):
    out = bundle_dir(tmp_path, "bundle")
    common = ("--hub", HUB, "--token-file", str(token_file), "--out", str(out))
    assert run(hub, "device", "--device-id", "K-1", "--site", "S1", *common) == 0
    assert run(hub, "device", "--device-id", "K-2", "--site", "S1", *common) == 1
    assert "not 'K-2'" in capsys.readouterr().err
    assert run(hub, "device", "--device-id", "K-1", "--site", "S2", *common) == 1
    assert "made for site 'S1'" in capsys.readouterr().err
    assert "K-2" not in hub.devices


def test_a_site_the_hub_refused_can_be_corrected_on_rerun(tmp_path, hub, token_file, broker_ca):
    out = bundle_dir(tmp_path, "bundle")
    common = ("--device-id", "K-1", "--hub", HUB, "--token-file", str(token_file), "--out", str(out))
    assert run(hub, "device", "--site", "S9", *common) == 1
    key_pem = (out / "credentials/device.key").read_bytes()  # kept, in case the hub did store it
    assert run(hub, "device", "--site", "S2", *common) == 0
    assert hub.devices["K-1"]["site_id"] == "S2"
    assert (out / "credentials/device.key").read_bytes() == key_pem


def test_batch_progress_summary_and_idempotent_rerun(tmp_path, hub, token_file, broker_ca, capsys):
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text(
        "device_id,site_id,hostname\n"
        "K-1,S1,gate-1\n"
        "K-2,S2,\n"
        "bad/id,S1,\n"  # invalid id
        "K-3,NOPE,\n"  # unknown site at the hub
        ",S1,\n"  # missing id
        "K-1,S1,\n"  # duplicate
        "K-4,S1,\n"
    )
    out = tmp_path / "bundles"
    args = ("batch", str(csv_path), "--hub", HUB, "--token-file", str(token_file), "--out", str(out))
    assert run(hub, *args) == 1  # some rows failed
    text = capsys.readouterr().out
    assert "[1/7] line 2 (K-1): created" in text
    assert "[7/7] line 8 (K-4): created" in text  # rows after the bad ones still ran
    assert "created: 3, already registered: 0, failed: 4" in text
    for reason in ("invalid device id", "does not know site", "both required", "appears twice"):
        assert reason in text
    assert set(hub.devices) == {"K-1", "K-2", "K-4"}
    assert json.loads((out / "K-1/provision.json").read_text())["hostname"] == "gate-1"
    assert (out / "K-2/ca.crt").read_bytes() == broker_ca.read_bytes()  # broker/ beside bundles/
    assert load_config(out / "K-2/kiosk.yaml", KioskConfig).mqtt.port == 8883

    keys = {d: (out / d / "credentials/device.key").read_bytes() for d in ("K-1", "K-2", "K-4")}
    assert run(hub, *args) == 1
    assert "created: 0, already registered: 3, failed: 4" in capsys.readouterr().out
    assert keys == {d: (out / d / "credentials/device.key").read_bytes() for d in keys}


def test_batch_refuses_a_file_without_the_header(tmp_path, hub, token_file, capsys):
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("K-1,S1\n")
    assert run(hub, "batch", str(csv_path), "--hub", HUB, "--token-file", str(token_file),
               "--out", str(tmp_path / "o")) == 1
    assert "header must name device_id,site_id" in capsys.readouterr().err


def test_hub_client_semantics(hub):
    client = HubClient(httpx.Client(transport=hub.transport()), HUB + "/", hub.token)
    key = signing.public_key_b64(signing.generate_private_key())
    assert client.register_device("K-9", "S1", key) is Registration.CREATED
    assert client.register_device("K-9", "S1", key) is Registration.ALREADY
    with pytest.raises(HubError, match="another public key or site"):
        client.register_device("K-9", "S2", key)
    client.retire_device("K-9")
    client.retire_device("K-9")  # a rerun is fine
    assert client.get_device("K-9").retired
    with pytest.raises(HubError, match="does not know device"):
        client.retire_device("K-404")

    def down(request):
        raise httpx.ConnectError("connection refused")

    offline = HubClient(httpx.Client(transport=httpx.MockTransport(down)), HUB, hub.token)
    with pytest.raises(HubError, match="cannot reach the hub"):
        offline.list_devices()


def test_every_subcommand_answers_help(capsys):
    for command in ("device", "batch", "image", "broker", "retire", "replace"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: provision {command}" in capsys.readouterr().out


def test_a_placeholder_token_is_refused(tmp_path, hub, broker_ca, capsys):
    weak = tmp_path / "token"
    weak.write_text("changeme\n")
    assert run(hub, "device", "--device-id", "K-1", "--site", "S1", "--hub", HUB, "--token-file", str(weak),
               "--out", str(bundle_dir(tmp_path, "b"))) == 1
    assert "placeholder" in capsys.readouterr().err
    assert not hub.devices


def test_default_hostname_is_dns_safe():
    from provisioning.device import default_hostname

    assert default_hostname("K.01_a") == "kiosk-k-01-a"
    assert len(default_hostname("x" * 64)) <= 63
    assert bundles.PI_CONFIG_FILE == Path("/etc/kiosk/kiosk.yaml")


def test_retired_bundle_is_not_provisioned_again(tmp_path, hub, token_file, broker_ca, capsys):
    out = bundle_dir(tmp_path, "K-1")
    args = ("device", "--device-id", "K-1", "--site", "S1", "--hub", HUB, "--token-file", str(token_file),
            "--out", str(out))
    assert run(hub, *args) == 0
    bundles.mark_retired(out)
    assert run(hub, *args) == 1
    assert "retired device K-1" in capsys.readouterr().err


def test_hub_client_against_the_real_hub_app(tmp_path):
    from fastapi.testclient import TestClient

    from hub.api import create_app
    from hub.config import HubConfig
    from provisioning.device import BundleOptions, DeviceRequest, provision_device
    from tests.hub_db import sqlite_engine

    token = "real-hub-admin-token-0123456789"
    (tmp_path / "admin.token").write_text(token + "\n")
    config = HubConfig(admin_token_file=tmp_path / "admin.token", database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
    engine = sqlite_engine(tmp_path)
    try:
        with TestClient(create_app(config, engine)) as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert http.post("/api/v1/sites", json={"site_id": "S1", "name": "Office"}, headers=auth).status_code == 201
            hub = HubClient(http, "http://testserver", token)
            options = BundleOptions("http://testserver", "broker.lan", ca_file=None)
            request = DeviceRequest("K-1", "S1")
            assert provision_device(hub, request, tmp_path / "K-1", options) is Registration.CREATED
            assert provision_device(hub, request, tmp_path / "K-1", options) is Registration.ALREADY
            key = signing.load_private_key(tmp_path / "K-1/credentials/device.key")
            assert hub.get_device("K-1") == HubDevice("K-1", "S1", signing.public_key_b64(key), retired=False)

            with pytest.raises(HubError, match="does not know site"):
                provision_device(hub, DeviceRequest("K-2", "S9"), tmp_path / "K-2", options)
            with pytest.raises(HubError, match="another public key or site"):
                provision_device(hub, request, tmp_path / "K-1-copy", options)  # a fresh key for an active id
            with pytest.raises(HubError, match="refused the admin token"):
                HubClient(http, "http://testserver", "wrong-token-0123456789").list_devices()

            hub.retire_device("K-1")
            hub.retire_device("K-1")
            assert hub.get_device("K-1").retired
            with pytest.raises(HubError, match="does not know device"):
                hub.retire_device("K-404")
    finally:
        engine.dispose()
