"""The installed console scripts (.venv/bin/kiosk, hub, provision) as an installer runs them."""

import base64
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from protocol import signing


def tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"console script {path} is not installed (pip install -e .)")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,words", [
    ("kiosk", ["check-config", "keygen", "run", "bench"]),
    ("hub", []),
    ("provision", []),
])
def test_help_answers(name, words):
    proc = run(tool(name), "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith("usage:")
    for word in words:
        assert word in proc.stdout


def test_kiosk_version():
    proc = run(tool("kiosk"), "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("kiosk ")


def test_keygen_writes_a_private_key_and_prints_the_public_key_last(tmp_path):
    out = tmp_path / "etc" / "device.key"
    proc = run(tool("kiosk"), "keygen", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    key = signing.load_private_key(out)
    assert last == signing.public_key_b64(key)
    assert len(base64.b64decode(last)) == 32
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "device.key"
    assert run(tool("kiosk"), "keygen", "--out", str(out)).returncode == 0
    before = out.read_bytes()

    refused = run(tool("kiosk"), "keygen", "--out", str(out))
    assert refused.returncode != 0
    assert "--force" in refused.stderr and str(out) in refused.stderr
    assert refused.stdout == ""                       # no public key printed for a key not made
    assert out.read_bytes() == before

    forced = run(tool("kiosk"), "keygen", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes() != before
    assert forced.stdout.strip().splitlines()[-1] == signing.public_key_b64(signing.load_private_key(out))


@pytest.fixture
def good_config(tmp_path) -> dict:
    key = tmp_path / "device.key"
    signing.write_private_key(signing.generate_private_key(), key)
    frames = tmp_path / "frames"
    frames.mkdir()
    return {
        "device_id": "kiosk-1", "site_id": "site-1", "state_dir": str(tmp_path / "state"),
        "signing_key_file": str(key),
        "mqtt": {"host": "127.0.0.1", "port": 1883},
        "camera": {"kind": "replay", "path": str(frames)},
    }


def check_config(tmp_path: Path, data: dict) -> subprocess.CompletedProcess:
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return run(tool("kiosk"), "check-config", "--config", str(cfg))


def test_check_config_accepts_a_good_config(tmp_path, good_config):
    proc = check_config(tmp_path, good_config)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(": ok")


@pytest.mark.parametrize("change,key", [
    ({"mqtt": {"port": 0}}, "mqtt.port"),
    ({"mqtt": {"port": 70000}}, "mqtt.port"),
    ({"mqtt": {"bogus": 1}}, "mqtt.bogus"),
    ({"colour": "blue"}, "colour"),
    ({"decision": {"required_frames": 0}}, "decision.required_frames"),
    ({"liveness": {"mode": "wink"}}, "liveness.mode"),
    ({"device_id": "bad/id"}, "device_id"),
    ({"camera": {"kind": "replay", "path": "/nonexistent/frames"}}, "camera.path"),
    ({"signing_key_file": "/nonexistent/device.key"}, "signing_key_file"),
])
def test_check_config_names_the_bad_key(tmp_path, good_config, change, key):
    data = dict(good_config)
    for section, value in change.items():
        data[section] = {**data[section], **value} if isinstance(value, dict) and section in data else value
    proc = check_config(tmp_path, data)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert f": {key}:" in proc.stderr, proc.stderr     # "<file>: mqtt.port: ..."
    assert str(tmp_path / "kiosk.yaml") in proc.stderr


def test_check_config_takes_the_path_as_an_argument_too(tmp_path, good_config):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(yaml.safe_dump({**good_config, "mqtt": {"port": 0}}))
    proc = run(tool("kiosk"), "check-config", str(cfg))
    assert proc.returncode != 0 and f"{cfg}: line " in proc.stderr and ": mqtt.port:" in proc.stderr
    cfg.write_text(yaml.safe_dump(good_config))
    assert run(tool("kiosk"), "check-config", str(cfg)).returncode == 0


def test_check_config_names_a_missing_required_key(tmp_path, good_config):
    del good_config["site_id"]
    proc = check_config(tmp_path, good_config)
    assert proc.returncode != 0 and "site_id" in proc.stderr and "Traceback" not in proc.stderr


def test_check_config_reports_a_key_file_that_is_not_a_key(tmp_path, good_config):
    Path(good_config["signing_key_file"]).write_text("not a pem")
    proc = check_config(tmp_path, good_config)
    assert proc.returncode != 0 and "signing_key_file" in proc.stderr


@pytest.mark.parametrize("text", ["device_id: [unclosed", "- just\n- a list\n"])
def test_check_config_on_broken_yaml(tmp_path, text):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(text)
    proc = run(tool("kiosk"), "check-config", "--config", str(cfg))
    assert proc.returncode != 0 and str(cfg) in proc.stderr and "Traceback" not in proc.stderr


def test_check_config_on_a_missing_file(tmp_path):
    proc = run(tool("kiosk"), "check-config", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode != 0 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_run_with_a_missing_replay_folder_fails_cleanly(tmp_path, good_config):
    good_config["camera"]["path"] = str(tmp_path / "missing")
    good_config["mqtt"]["port"] = 9                   # nothing listens; never reached
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(yaml.safe_dump(good_config))
    proc = run(tool("kiosk"), "run", "--config", str(cfg), "--exit-when-done")
    assert proc.returncode != 0
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
