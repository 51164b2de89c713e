"""The kiosk's and the hub's ``mqtt`` section: TLS unless the broker is on this machine or plaintext is allowed.

Checked through ``kiosk check-config`` and ``hub check-config`` (in process),
which name the key on refusal and say which mode they will use otherwise.
"""

import secrets
from pathlib import Path

import pytest
import yaml

from hub.cli import main as hub_main
from kiosk.cli import main as kiosk_main
from protocol import signing

REFUSED = "mqtt.ca_file: needed for broker 'broker.lan', which is not this machine"


def kiosk_yaml(tmp_path: Path, mqtt: dict) -> Path:
    key = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), key)
    path = tmp_path / "kiosk.yaml"
    path.write_text(yaml.safe_dump({"device_id": "K-1", "site_id": "S1", "signing_key_file": str(key),
                                    "state_dir": str(tmp_path / "state"), "camera": {"kind": "opencv"},
                                    "mqtt": mqtt}))
    return path


def hub_yaml(tmp_path: Path, mqtt: dict) -> Path:
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)  # a secret: check-config refuses one others may read
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                    "admin_token_file": str(token), "mqtt": mqtt}))
    return path


CHECKS = {"kiosk": (kiosk_yaml, kiosk_main), "hub": (hub_yaml, hub_main)}


def check_config(tmp_path: Path, which: str, mqtt: dict) -> tuple[int, Path]:
    write, main = CHECKS[which]
    path = write(tmp_path, mqtt)
    return main(["check-config", str(path)]), path


@pytest.mark.parametrize("which", CHECKS)
@pytest.mark.parametrize("host", ["broker.lan", "10.0.0.5"])
def test_plaintext_to_a_broker_elsewhere_is_refused_naming_the_key(tmp_path, capsys, which, host):
    rc, path = check_config(tmp_path, which, {"host": host, "port": 1883})
    assert rc != 0
    err = capsys.readouterr().err
    refused = REFUSED.replace("'broker.lan'", repr(host))
    assert f"{path}: line " in err and refused in err, err  # "hub.yaml: line 3: mqtt.ca_file: ..."
    assert "mqtt.allow_plaintext: true" in err and "provision broker" in err


@pytest.mark.parametrize("which", CHECKS)
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_plaintext_on_loopback_is_accepted_and_said(tmp_path, capsys, which, host):
    rc, path = check_config(tmp_path, which, {"host": host, "port": 1883})
    assert rc == 0, capsys.readouterr().err
    # the MQTT line and the verdict (the kiosk also reports its voice clips and the IR check)
    lines = [line for line in capsys.readouterr().out.splitlines() if ": mqtt: " in line or line.endswith(": ok")]
    assert lines == [f"{path}: mqtt: plaintext to {host}:1883 (loopback: never leaves this machine)", f"{path}: ok"]


@pytest.mark.parametrize("which", CHECKS)
def test_allow_plaintext_accepts_a_broker_elsewhere_and_check_config_says_so(tmp_path, capsys, which):
    rc, path = check_config(tmp_path, which, {"host": "broker.lan", "port": 1883, "allow_plaintext": True})
    assert rc == 0, capsys.readouterr().err
    assert f"{path}: mqtt: PLAINTEXT to broker.lan:1883 (mqtt.allow_plaintext)" in capsys.readouterr().out


@pytest.mark.parametrize("which", CHECKS)
def test_tls_is_said_with_the_ca_that_checks_the_broker(tmp_path, capsys, which):
    rc, path = check_config(tmp_path, which, {"host": "broker.lan", "port": 8883, "ca_file": "/etc/x/ca.crt"})
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{path}: mqtt: TLS to broker.lan:8883, broker certificate checked against /etc/x/ca.crt "
        "and the name broker.lan")
