"""Config files: every problem names its file and line; environment variables override any key."""

from pathlib import Path

import pytest
import yaml

from hub.cli import main as hub_main
from hub.config import HubConfig
from kiosk.config import KioskConfig
from protocol.settings import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return path


def test_an_impossible_date_is_a_problem_with_its_line_not_a_crash(tmp_path, capsys):
    path = _write(tmp_path, "admin_token_file: /x\nattendance:\n  holidays:\n    - 2026-01-26\n    - 2026-02-30\n")
    assert hub_main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: line 5, column 7: not valid YAML: '2026-02-30' is not a valid date or time" in err
    assert "Traceback" not in err


def test_broken_yaml_says_where(tmp_path):
    path = _write(tmp_path, "admin_token_file: /x\nmqtt:\n  host: [127.0.0.1\n  port: 1883\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, HubConfig)
    assert caught.value.problems[0].startswith("line 4, column 7: not valid YAML:")


def test_a_bad_value_deep_in_a_list_points_at_its_line(tmp_path):
    path = _write(tmp_path, "admin_token_file: /x\nattendance:\n  working_weekdays: [0, 1]\n  site_holidays:\n"
                            "    S1:\n      - 2026-01-26\n      - not a date\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, HubConfig)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("line 7: attendance.site_holidays.S1.1: ")


def test_environment_overrides_nested_keys_and_lists(tmp_path):
    path = _write(tmp_path, "admin_token_file: /x\nmqtt:\n  host: 127.0.0.1\n  port: 1883\n")
    env = {"HUB__MQTT__PORT": "8883", "HUB__ATTENDANCE__HOLIDAYS": "[2026-01-26, 2026-08-15]",
           "HUB__MQTT__HOST": "broker.example", "HUB__MQTT__ALLOW_PLAINTEXT": "true", "KIOSK__MQTT__PORT": "1", "OTHER": "x"}
    config = load_config(path, HubConfig, env_prefix="HUB", env=env)
    assert (config.mqtt.host, config.mqtt.port) == ("broker.example", 8883)
    assert [d.isoformat() for d in config.attendance.holidays] == ["2026-01-26", "2026-08-15"]
    assert load_config(path, HubConfig, env_prefix="HUB", env={}).mqtt.port == 1883


def test_a_bad_override_names_the_variable_not_a_line(tmp_path):
    path = _write(tmp_path, "admin_token_file: /x\n")
    env = {"HUB__MQTT__PORT": "99999", "HUB__MQTT__COLOUR": "red", "HUB__ADMIN_TOKEN_FILE__X": "1"}
    with pytest.raises(ConfigError) as caught:
        load_config(path, HubConfig, env_prefix="HUB", env=env)
    assert caught.value.problems == ["HUB__ADMIN_TOKEN_FILE__X (environment): admin_token_file is not a section"]
    del env["HUB__ADMIN_TOKEN_FILE__X"]
    with pytest.raises(ConfigError) as caught:
        load_config(path, HubConfig, env_prefix="HUB", env=env)
    assert sorted(caught.value.problems) == [
        "HUB__MQTT__COLOUR (environment): mqtt.colour: Extra inputs are not permitted",
        "HUB__MQTT__PORT (environment): mqtt.port: Input should be less than or equal to 65535"]


def test_the_hub_command_reads_overrides_from_its_environment(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, "admin_token_file: /x\n")
    monkeypatch.setenv("HUB__MQTT__PORT", "70000")
    assert hub_main(["check-config", str(path)]) == 1
    assert "HUB__MQTT__PORT (environment): mqtt.port:" in capsys.readouterr().err


def test_the_kiosk_example_config_still_loads_and_takes_overrides():
    example = Path(__file__).resolve().parents[1] / "kiosk" / "kiosk.example.yaml"
    config = load_config(example, KioskConfig, env_prefix="KIOSK", env={"KIOSK__MQTT__HOST": "hub.lan"})
    assert config.mqtt.host == "hub.lan"
    assert yaml.safe_load(example.read_text())["mqtt"]["host"] != "hub.lan"
