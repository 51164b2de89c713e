"""`hub check-config` checks the phone SMS outbox (where activation codes land) and names its key;
the sender makes the outbox's missing folders, so a path check-config passes really takes a code."""

import secrets
import stat
from pathlib import Path

import yaml

from hub.cli import main
from hub.phone.sms import OutboxFileSender, read_outbox


def write_config(tmp_path: Path, sms_outbox: Path) -> Path:
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                    "admin_token_file": str(token), "phone": {"sms_outbox": str(sms_outbox)}}))
    return path


def test_check_config_refuses_an_outbox_under_a_file_and_names_the_key(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a folder\n")
    outbox = tmp_path / "notes.txt" / "sms" / "outbox.jsonl"
    config = write_config(tmp_path, outbox)
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}: phone.sms_outbox: {outbox} cannot be created: {tmp_path / 'notes.txt'} is not a folder" in err


def test_check_config_refuses_an_outbox_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "outbox").mkdir()
    config = write_config(tmp_path, tmp_path / "outbox")
    assert main(["check-config", str(config)]) == 1
    assert f"phone.sms_outbox: {tmp_path / 'outbox'} is a folder, not a file" in capsys.readouterr().err


def test_an_outbox_in_folders_not_made_yet_passes_and_the_sender_makes_them(tmp_path, capsys):
    outbox = tmp_path / "state" / "phone" / "sms-outbox.jsonl"
    config = write_config(tmp_path, outbox)
    assert main(["check-config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{config}: ok"

    OutboxFileSender(outbox).send("+919812345612", "code 123456", purpose="activation")
    assert [m["text"] for m in read_outbox(outbox)] == ["code 123456"]
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.parent.stat().st_mode) & 0o077 == 0
    assert main(["check-config", str(config)]) == 0  # an existing file that takes an append
