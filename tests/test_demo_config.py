"""The demo's hub config (not the slow demo itself): check-config passes it and a phone
activation code lands in the outbox inside the demo's working folder."""

import secrets

import yaml
from fastapi.testclient import TestClient

from devtools.demo import hub_settings, write_yaml
from hub.api import create_app
from hub.app import load, open_engine
from hub.cli import main
from hub.db import Employee, Site, init_db, make_session_factory
from hub.phone.sms import read_outbox


def test_the_demo_config_passes_check_config_and_activation_codes_land_in_its_folder(tmp_path, capsys):
    work = tmp_path / "demo"
    work.mkdir()
    token = work / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)
    path = write_yaml(work / "hub.yaml", hub_settings(work, token, 1883, 8080))
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
    assert yaml.safe_load(path.read_text())["phone"]["sms_outbox"] == str(work / "sms-outbox.jsonl")

    config = load(path)
    engine = open_engine(config)
    init_db(engine)
    with make_session_factory(engine)() as session:
        session.add(Site(site_id="demo-office", name="Demo office"))
        session.flush()
        session.add(Employee(employee_id="E1001", name="Demo Person", home_site_id="demo-office",
                             mobile="+919812345612"))
        session.commit()
    with TestClient(create_app(config, engine), base_url="http://127.0.0.1:8080", client=("127.0.0.1", 1)) as local:
        answer = local.post("/phone/api/activation", json={"staff_number": "E1001"})
    engine.dispose()
    assert answer.status_code == 200, answer.text
    [sms] = read_outbox(work / "sms-outbox.jsonl")
    assert sms["to"] == "+919812345612" and "activation code" in sms["text"]


def test_the_demo_kiosk_saves_its_screens_as_pngs_in_a_folder_that_outlives_the_demo(tmp_path, capsys):
    from devtools.demo import kiosk_settings, prepare_screens, report_screens
    from kiosk.config import KioskConfig

    old = tmp_path / "demo-screens" / "001-idle.png"
    old.parent.mkdir()
    old.write_bytes(b"from an earlier run")
    screens = prepare_screens(tmp_path / "demo-screens")
    assert not old.exists()
    config = KioskConfig.model_validate(kiosk_settings(tmp_path / "work", tmp_path / "k.key", 1883, tmp_path, screens))
    assert (config.display, config.screen.backend, config.screen.folder) == (True, "file", screens)
    assert config.languages == ["hi", "en"]
    (screens / "001-accepted.png").write_bytes(b"png")
    report_screens(screens)
    assert f"1 PNGs in {screens}/" in capsys.readouterr().out
