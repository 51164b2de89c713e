"""Scheduled reports through the real commands to a real SMTP server (aiosmtpd, started here on a free port,
with a login checked against the password file) and the SMS outbox of the phone page.

Organisation from ``tests.hub_api_kit.seed_org``. Tuesday 7 April 2026 (cut-off 12:00 IST at every site):
H001 in at 09:40, H002 at 10:30; E001 only at 12:30 (after the cut-off: a defaulter); E002 never.
"""

import email
import email.policy
import io
import socket

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from openpyxl import load_workbook
from pypdf import PdfReader

from hub.cli import main
from hub.db import make_session_factory
from hub.phone.sms import read_outbox
from tests.hub_api_kit import seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import sqlite_engine

SMTP_USER, SMTP_PASSWORD = "hub-reports", "smtp-password-7f3a9c2e"


class Inbox:
    """aiosmtpd handler: keeps every message it is given, parsed."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def hub_config(tmp_path, smtp):
    controller, _ = smtp
    engine = sqlite_engine(tmp_path)
    with make_session_factory(engine).begin() as session:
        seed_org(session)
        session.add_all([punch("H001", "S-PHC1", "09:40"), punch("H002", "S-PHC2", "10:30"),
                         punch("E001", "S-SCH1", "12:30"), punch("E001", "S-SCH1", "17:50")])
    engine.dispose()
    for name, value in (("admin.token", "a-real-admin-token-123456"), ("smtp.password", SMTP_PASSWORD)):
        (tmp_path / name).write_text(value + "\n")
        (tmp_path / name).chmod(0o600)
    config = {
        "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "admin_token_file": str(tmp_path / "admin.token"),
        "phone": {"sms_outbox": str(tmp_path / "sms-outbox.jsonl")},
        "delivery": {
            "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "none", "username": SMTP_USER,
                     "password_file": str(tmp_path / "smtp.password"), "sender": "attendance@district.gov.in"},
            "defaulter_emails": {"HEALTH": ["cmo@district.gov.in"], "EDU": ["deo@district.gov.in", "beo@district.gov.in"]},
            "defaulter_sms": {"EDU": ["+919800000001"]},
            "muster_emails": {"DDO-H": ["ddo.health@district.gov.in"]},
        },
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def attachments(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def test_daily_defaulters_by_mail_and_sms(hub_config, smtp, tmp_path, capsys):
    _, inbox = smtp
    assert main(["deliver", "defaulters", "--config", str(hub_config), "--date", "2026-04-07"]) == 0
    assert "defaulter lists of 2026-04-07: 3 messages sent" in capsys.readouterr().out
    by_subject = {m["Subject"]: (rcpt, m) for rcpt, m in inbox.messages}
    assert sorted(by_subject) == [
        "Defaulters EDU 2026-04-07: 2 of 2 not in by the cut-off",
        "Defaulters HEALTH 2026-04-07: 0 of 2 not in by the cut-off",
    ]
    rcpt, edu = by_subject["Defaulters EDU 2026-04-07: 2 of 2 not in by the cut-off"]
    assert rcpt == ["deo@district.gov.in", "beo@district.gov.in"]
    assert edu["From"] == "attendance@district.gov.in"
    body = edu.get_body(preferencelist=("plain",)).get_content()
    assert "E001  Person E001  (SCH-1)  in 12:30" in body and "E002  Person E002  (SCH-1)  no punch" in body
    [csv_bytes] = attachments(edu).values()
    assert csv_bytes.decode("utf-8-sig").splitlines()[1:] == ["E001,Person E001,SCH-1,permanent,in 12:30",
                                                              "E002,Person E002,SCH-1,permanent,no punch"]
    [sms] = read_outbox(tmp_path / "sms-outbox.jsonl")
    assert (sms["to"], sms["purpose"], sms["text"]) == (
        "+919800000001", "defaulters", "Attendance EDU 07-04: 2/2 not in by cut-off: E001 E002")


def test_monthly_muster_roll_mail_with_xlsx_and_pdf(hub_config, smtp):
    _, inbox = smtp
    assert main(["deliver", "muster", "--config", str(hub_config), "--month", "2026-04"]) == 0
    [(rcpt, message)] = inbox.messages
    assert rcpt == ["ddo.health@district.gov.in"]
    assert message["Subject"] == "Muster roll DDO-H 2026-04 (2 employees)"
    files = attachments(message)
    assert sorted(files) == ["muster-DDO-H-2026-04.pdf", "muster-DDO-H-2026-04.xlsx"]
    ws = load_workbook(io.BytesIO(files["muster-DDO-H-2026-04.xlsx"])).worksheets[0]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    assert rows[2][:2] == ("DDO", "Health pay (DDO-H)")
    assert [(r[0], r[4 + 6]) for r in rows[5:7]] == [("H001", "HD"), ("H002", "HD")]  # 7 April: in, no out
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(files["muster-DDO-H-2026-04.pdf"])).pages)
    assert "Muster roll: 2026-04" in text and "Person H001" in text and "Person H002" in text


def test_an_smtp_server_that_does_not_answer_fails_the_job_loudly(hub_config, smtp, capsys):
    _, inbox = smtp
    config = yaml.safe_load(hub_config.read_text())
    config["delivery"]["smtp"]["port"] = free_port()  # nothing listens there
    hub_config.write_text(yaml.safe_dump(config))
    assert main(["deliver", "muster", "--config", str(hub_config), "--month", "2026-04"]) == 1
    err = capsys.readouterr().err
    assert "1 of 1 DDOs not delivered: DDO-H: SMTP 127.0.0.1:" in err and "ConnectionRefusedError" in err
    assert inbox.messages == []


def test_a_timer_run_again_sends_nothing_twice_but_what_failed_goes_out(hub_config, smtp, tmp_path, capsys):
    _, inbox = smtp
    args = ["deliver", "defaulters", "--config", str(hub_config), "--date", "2026-04-07"]
    assert main(args) == 0
    assert main(args) == 0  # the timer again, the same day: the delivery log knows
    assert capsys.readouterr().out.splitlines() == ["defaulter lists of 2026-04-07: 3 messages sent",
                                                    "defaulter lists of 2026-04-07: 0 messages sent"]
    assert len(inbox.messages) == 2 and len(read_outbox(tmp_path / "sms-outbox.jsonl")) == 1
    assert main(args[:-1] + ["2026-04-08"]) == 0  # another day is another report
    assert len(inbox.messages) == 4

    good = hub_config.read_text()
    config = yaml.safe_load(good)
    config["delivery"]["smtp"]["port"] = free_port()  # the first muster run finds no SMTP server
    hub_config.write_text(yaml.safe_dump(config))
    assert main(["deliver", "muster", "--config", str(hub_config), "--month", "2026-04"]) == 1
    hub_config.write_text(good)
    for _ in range(2):
        assert main(["deliver", "muster", "--config", str(hub_config), "--month", "2026-04"]) == 0
    assert [m["Subject"] for _, m in inbox.messages[4:]] == ["Muster roll DDO-H 2026-04 (2 employees)"]
