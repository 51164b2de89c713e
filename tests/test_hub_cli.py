"""The ``hub`` command: help, check-config naming the bad key, admin commands, and `hub run` as a process."""

import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.mosquitto import free_port
from hub.cli import build_parser, main
from hub.config import HubConfig
from protocol import signing, topics
from tests.punchkit import KioskLink, signed_punch, to_payload

HUB = str(Path(sys.executable).with_name("hub"))


def subcommands(parser, prefix=()):
    """Every command path of the parser, e.g. ("device", "add")."""
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            yield prefix + (name,)
            yield from subcommands(sub, prefix + (name,))


@pytest.mark.parametrize("path", [(), *subcommands(build_parser())], ids=lambda p: " ".join(p) or "hub")
def test_every_command_answers_help(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: hub {' '.join(path)}".rstrip())


def write_config(tmp_path: Path, **over) -> Path:
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)  # a secret: check-config refuses one others may read
    data = {"database_url": f"sqlite:///{tmp_path / 'db' / 'hub.sqlite'}", "admin_token_file": str(token), **over}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_config_names_each_bad_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  port: 70000\n  colour: red\ningest:\n  batch_max: 0\n")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{bad}: line 2: mqtt.port: Input should be less than or equal to 65535" in err
    assert f"{bad}: line 3: mqtt.colour: Extra inputs are not permitted" in err
    assert f"{bad}: line 5: ingest.batch_max: Input should be greater than or equal to 1" in err
    assert f"{bad}: admin_token_file: Field required" in err


def test_check_config_refuses_a_placeholder_token_and_passes_a_good_file(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["check-config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{config}: mqtt: plaintext to 127.0.0.1:1883 (loopback: never leaves this machine)", f"{config}: ok"]
    (tmp_path / "admin.token").write_text("changeme\n")
    assert main(["check-config", str(config)]) == 1
    assert "admin_token_file: admin token is empty, too short (<12) or a placeholder" in capsys.readouterr().err


def test_example_config_is_valid_and_shows_every_key():
    example = Path(__file__).resolve().parents[1] / "hub" / "hub.example.yaml"
    data = yaml.safe_load(example.read_text())
    HubConfig.model_validate(data)

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            yield prefix + name
            if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
                yield from keys(field.annotation, prefix + name + ".")

    def present(d, prefix=""):
        for k, v in d.items():
            yield prefix + k
            if isinstance(v, dict):
                yield from present(v, prefix + k + ".")

    assert set(keys(HubConfig)) == set(present(data))


def test_admin_commands(tmp_path, capsys):
    config = str(write_config(tmp_path))
    key = signing.public_key_b64(signing.generate_private_key())
    assert main(["site", "add", "--config", config, "site-a", "--name", "A"]) == 1  # before init-db
    assert "has `hub init-db` been run?" in capsys.readouterr().err
    assert main(["init-db", "--config", config]) == 0
    assert main(["init-db", "--config", config]) == 0
    assert main(["site", "add", "--config", config, "site-a", "--name", "Office A"]) == 0
    assert "site site-a (Office A) added" in capsys.readouterr().out
    assert main(["device", "add", "--config", config, "--device-id", "kiosk-01", "--site", "site-b",
                 "--public-key", key]) == 1
    assert "hub: unknown site 'site-b'" in capsys.readouterr().err
    assert main(["device", "add", "--config", config, "--device-id", "kiosk-01", "--site", "site-a",
                 "--public-key", "bad"]) == 1
    assert "not a base64 Ed25519 public key" in capsys.readouterr().err
    assert main(["device", "add", "--config", config, "--device-id", "kiosk-01", "--site", "site-a",
                 "--public-key", key]) == 0
    assert main(["device", "retire", "--config", config, "kiosk-01"]) == 0
    assert main(["device", "retire", "--config", config, "kiosk-02"]) == 1
    out = capsys.readouterr().out
    assert "device kiosk-01 at site site-a registered" in out
    assert "device kiosk-01 retired at " in out


def read_log_until(proc: subprocess.Popen, needle: str, seen: list[str], timeout_s: float = 60) -> bool:
    """Read the process's combined output until a line contains ``needle``."""
    found = threading.Event()

    def reader():
        for line in proc.stdout:
            seen.append(line)
            if needle in line:
                found.set()

    threading.Thread(target=reader, daemon=True).start()
    return found.wait(timeout_s)


@pytest.mark.broker
def test_hub_run_serves_the_api_ingests_punches_and_stops_on_sigterm(tmp_path, broker):
    port = free_port()
    config = write_config(tmp_path, mqtt={"port": broker.port, "client_id": "hub-cli-test"},
                          api={"port": port})
    subprocess.run([HUB, "init-db", "--config", str(config)], check=True, capture_output=True)
    subprocess.run([HUB, "site", "add", "--config", str(config), "site-a", "--name", "A"], check=True,
                   capture_output=True)
    proc = subprocess.Popen([HUB, "run", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert read_log_until(proc, f"hub API listening on http://127.0.0.1:{port}", seen), "".join(seen)
        token = (tmp_path / "admin.token").read_text()
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
        assert api.get("/healthz").json() == {"status": "ok", "db": "ok"}
        key = signing.generate_private_key()
        reg = api.post("/api/v1/devices", json={"device_id": "kiosk-01", "site_id": "site-a",
                                                "public_key": signing.public_key_b64(key)})
        assert reg.status_code == 201, reg.text
        with KioskLink(broker.port, "kiosk-01") as kiosk:
            punch = signed_punch(key, "kiosk-01", "site-a", "E404")  # not enrolled: refused, kept
            for _ in range(30):  # publish until the hub's subscription is live (no persistent session yet)
                kiosk.publish(topics.PUNCH, to_payload(punch))
                if kiosk.wait_for(lambda k: k.rejections(), timeout_s=2):
                    break
            assert kiosk.rejections()[0] == (punch["id"], "employee not allowed at site")
        assert api.get("/api/v1/rejected").json()["items"][0]["punch_id"] == punch["id"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, "".join(seen)
    assert any("ingest stopped" in line for line in seen), "".join(seen)


@pytest.mark.broker
def test_hub_ingest_stops_cleanly_on_sigint(tmp_path, broker):
    config = write_config(tmp_path, mqtt={"port": broker.port, "client_id": "hub-cli-ingest"})
    subprocess.run([HUB, "init-db", "--config", str(config)], check=True, capture_output=True)
    proc = subprocess.Popen([HUB, "ingest", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert read_log_until(proc, "mqtt connected", seen), "".join(seen)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, "".join(seen)
