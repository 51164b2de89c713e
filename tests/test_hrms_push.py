"""HRMS push against local Frappe, Odoo and webhook stand-ins (tests/hrms_targets.py) that check what the
real APIs require. The pusher runs as its own process (``hub hrms-push``) and is killed with SIGKILL while
a target holds a request it has already applied; every punch still reaches every target exactly once.

Punches (IST, at their home sites): H001 7 April 09:40 and 17:50; H002 10:30 and 17:50; E001 7 April
09:40 only (no out), 8 April 09:35 and 18:00. How each target dedups a resend: Frappe refuses a second
checkin of the same employee at the same time (HTTP 417, which the client takes as "already there");
Odoo: an attendance already starting at (IN) or covering (OUT) the punch time; the webhook receiver
stores each X-Attendance-Delivery id once.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest
import yaml
from sqlalchemy import select

from hub.db import make_session_factory
from hub.hrms import queue
from hub.hrms.config import HrmsConfig
from hub.hrms.models import HrmsOutbox
from hub.hrms.pusher import Pusher
from tests.hrms_targets import FakeFrappe, FakeOdoo, WebhookReceiver
from tests.hub_api_kit import seed_org
from tests.hub_api_kit import punch_record as punch
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)

FRAPPE_TOKEN = "0a1b2c3d4e5f6a7:9f8e7d6c5b4a3f2"
ODOO_PASSWORD = "odoo-api-key-3c1f9a7e"
WEBHOOK_SECRET = "whsec-5e0c2b8a9d7f41c6b3"
APRIL_8 = date(2026, 4, 8)
PUNCHES = [("H001", "S-PHC1", "09:40", None), ("H001", "S-PHC1", "17:50", None),
           ("H002", "S-PHC2", "10:30", None), ("H002", "S-PHC2", "17:50", None),
           ("E001", "S-SCH1", "09:40", None), ("E001", "S-SCH1", "09:35", APRIL_8),
           ("E001", "S-SCH1", "18:00", APRIL_8)]
FRAPPE_EXPECTED = {  # (employee, Frappe time in IST, log_type)
    ("H001", "2026-04-07 09:40:00", "IN"), ("H001", "2026-04-07 17:50:00", "OUT"),
    ("H002", "2026-04-07 10:30:00", "IN"), ("H002", "2026-04-07 17:50:00", "OUT"),
    ("E001", "2026-04-07 09:40:00", "IN"), ("E001", "2026-04-08 09:35:00", "IN"),
    ("E001", "2026-04-08 18:00:00", "OUT")}
ODOO_EXPECTED = {  # (employee id, check_in UTC, check_out UTC)
    (1, "2026-04-07 04:10:00", "2026-04-07 12:20:00"), (2, "2026-04-07 05:00:00", "2026-04-07 12:20:00"),
    (3, "2026-04-07 04:10:00", "2026-04-07 04:10:00"),  # no out: closed at its check-in by the next day's in
    (3, "2026-04-08 04:05:00", "2026-04-08 12:30:00")}


@pytest.fixture
def targets():
    frappe = FakeFrappe({"H001", "H002", "E001", "E002"}, FRAPPE_TOKEN)
    odoo = FakeOdoo("payroll", "hub@example.gov.in", ODOO_PASSWORD, {"H001": 1, "H002": 2, "E001": 3})
    webhook = WebhookReceiver(WEBHOOK_SECRET)
    yield frappe, odoo, webhook
    for target in (frappe, odoo, webhook):
        target.close()


def seeded(engine):
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_org(session)
        session.add_all([punch(e, s, t) if d is None else punch(e, s, t, day=d) for e, s, t, d in PUNCHES])
    return engine, sessions


@pytest.fixture
def hub_db(tmp_path):
    """SQLite only: the pusher processes are the slow part; the queue's SQL runs on both in the next tests."""
    engine = sqlite_engine(tmp_path)
    yield seeded(engine)
    engine.dispose()


@pytest.fixture
def any_hub_db(any_engine):  # noqa: F811
    return seeded(any_engine)


def secret(tmp_path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def hrms_section(tmp_path, frappe, odoo, webhook) -> dict:
    return {"poll_interval_s": 0.2, "retry_initial_s": 0.2, "retry_max_s": 1.0, "batch_size": 3, "targets": [
        {"kind": "frappe", "name": "frappe", "url": frappe.url, "token_file": secret(tmp_path, "frappe", FRAPPE_TOKEN)},
        {"kind": "odoo", "name": "odoo", "url": odoo.url, "database": "payroll", "login": "hub@example.gov.in",
         "password_file": secret(tmp_path, "odoo", ODOO_PASSWORD)},
        {"kind": "webhook", "name": "webhook", "url": webhook.url,
         "secret_file": secret(tmp_path, "webhook", WEBHOOK_SECRET)}]}


def write_config(tmp_path, engine, hrms: dict):
    (tmp_path / "admin.token").write_text("a-real-admin-token-123456\n")
    (tmp_path / "admin.token").chmod(0o600)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"database_url": str(engine.url), "admin_token_file": str(tmp_path / "admin.token"),
                                    "hrms": hrms}))
    return path


def pusher_process(config_path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "hrms-push", "--config", str(config_path), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_inside_a_trap(traps: dict, config_path) -> str:
    """Start the pusher, wait until one of ``traps`` holds a request it has applied, SIGKILL the pusher,
    let the trap go; returns the target's name. Targets are pushed one after the other, so one trap at most
    holds at a time."""
    waiting = {name: trap for name, trap in traps.items() if not trap.sprung.is_set()}
    process = pusher_process(config_path)
    sprung = None
    try:
        deadline = time.monotonic() + 60
        while sprung is None and time.monotonic() < deadline and process.poll() is None:
            sprung = next((name for name, trap in waiting.items() if trap.sprung.wait(0.05)), None)
        os.kill(process.pid, signal.SIGKILL)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for name, trap in traps.items():
            if sprung is None or name == sprung:  # the others must still hold when their turn comes
                trap.release.set()
    assert sprung, f"the pusher never reached a trapped request:\n{out}"
    assert process.returncode == -signal.SIGKILL
    return sprung


def test_a_killed_pusher_delivers_each_punch_to_each_target_exactly_once(tmp_path, hub_db, targets):
    engine, sessions = hub_db
    frappe, odoo, webhook = targets
    config_path = write_config(tmp_path, engine, hrms_section(tmp_path, frappe, odoo, webhook))
    frappe.unavailable_next = 1  # the very first request meets a Frappe that is down: retried later

    # Killed after Frappe stored its 3rd checkin, Odoo applied its 2nd change and the receiver stored its
    # 4th delivery, each time before the pusher heard so: one kill each, in whatever order they come.
    frappe.trap.arm(3)
    odoo.trap.arm(2)
    webhook.trap.arm(4)
    traps = {"frappe": frappe.trap, "odoo": odoo.trap, "webhook": webhook.trap}
    assert sorted(kill_inside_a_trap(traps, config_path) for _ in range(3)) == ["frappe", "odoo", "webhook"]

    done = pusher_process(config_path, "--once")
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0, out
    for name in ("frappe", "odoo", "webhook"):
        assert f"{name}: sent 7, pending 0, refused 0" in out

    assert {(c["employee"], c["time"], c["log_type"]) for c in frappe.checkins} == FRAPPE_EXPECTED
    assert len(frappe.checkins) == 7  # none twice...
    assert frappe.duplicates >= 1  # ...although the punch held when the pusher died was sent again
    assert all(c["device_id"] == "kiosk-1" for c in frappe.checkins)
    assert {(a["employee_id"], a["check_in"], a["check_out"]) for a in odoo.attendances} == ODOO_EXPECTED
    assert len(odoo.attendances) == 4
    with sessions() as session:
        ids = set(session.scalars(select(HrmsOutbox.punch_id).where(HrmsOutbox.target == "webhook")))
        retried = session.scalars(select(HrmsOutbox.attempts).where(HrmsOutbox.target == "frappe")).all()
    assert set(webhook.received) == ids and len(ids) == 7
    assert webhook.deliveries == 8  # the one held at the kill came again, and was stored once
    assert webhook.refused == []
    assert max(retried) == 2  # the punch Frappe answered 503 went again


def test_refusals_and_outages_are_kept_apart(tmp_path, any_hub_db, targets):
    """A wrong Frappe token is an outage (kept, retried); an employee Odoo does not know is refused for good.
    Runs on SQLite and PostgreSQL (queueing, ordering and marking are SQL)."""
    engine, sessions = any_hub_db
    frappe, odoo, webhook = targets
    section = hrms_section(tmp_path, frappe, odoo, webhook)
    section["targets"][0]["token_file"] = secret(tmp_path, "wrong", "0a1b2c3d4e5f6a7:wrong-secret-value")
    del odoo.employees["E001"]
    pusher = Pusher(sessions, HrmsConfig.model_validate(section),
                    clock=lambda: datetime(2026, 4, 9, tzinfo=timezone.utc))
    try:
        pusher.run_once()
    finally:
        pusher.close()
    with sessions() as session:
        assert queue.counts(session, "frappe") == {"pending": 7, "sent": 0, "refused": 0}
        assert queue.counts(session, "odoo") == {"pending": 0, "sent": 4, "refused": 3}
        assert queue.counts(session, "webhook") == {"pending": 0, "sent": 7, "refused": 0}
        errors = session.scalars(select(HrmsOutbox.last_error).where(HrmsOutbox.target != "webhook",
                                                                     HrmsOutbox.last_error.is_not(None))).all()
    assert frappe.checkins == []
    assert any("HTTP 401" in e for e in errors)
    assert any("0 Odoo employees have barcode = 'E001'" in e for e in errors)

    (tmp_path / "wrong").write_text(FRAPPE_TOKEN)  # the admin fixes the token; an hour later:
    later = Pusher(sessions, HrmsConfig.model_validate(section),
                   clock=lambda: datetime(2026, 4, 9, 1, tzinfo=timezone.utc))
    try:
        later.run_once()
    finally:
        later.close()
    with sessions() as session:
        assert queue.counts(session, "frappe") == {"pending": 0, "sent": 7, "refused": 0}
        assert queue.counts(session, "odoo") == {"pending": 0, "sent": 4, "refused": 3}  # refused stays refused
    assert {(c["employee"], c["time"], c["log_type"]) for c in frappe.checkins} == FRAPPE_EXPECTED


def test_the_receiver_refuses_a_replayed_or_forged_delivery(tmp_path, hub_db, targets):
    import httpx

    from hub.hrms.config import WebhookTarget
    from hub.hrms.webhook import WebhookClient, signature, verify

    engine, sessions = hub_db
    _, _, webhook = targets
    target = WebhookTarget(name="w", url=webhook.url, secret_file=secret(tmp_path, "w", WEBHOOK_SECRET))
    sent_at = time.time() - 301  # a request captured five minutes ago and replayed now
    p = queue.PushPunch("P-1", "H001", datetime(2026, 4, 7, 4, 10, tzinfo=timezone.utc), "S-PHC1", "kiosk-1", "IN")
    with pytest.raises(Exception, match="HTTP 401"):
        WebhookClient(target, clock=lambda: sent_at).send(p)
    forged = WebhookTarget(name="w", url=webhook.url, secret_file=secret(tmp_path, "f", "not-the-shared-secret"))
    with pytest.raises(Exception, match="HTTP 401"):
        WebhookClient(forged).send(p)
    assert webhook.refused == ["stale", "signature"] and webhook.received == {}
    WebhookClient(target, http=httpx.Client()).send(p)
    assert webhook.received["P-1"]["local_time"] == "2026-04-07T09:40:00+05:30"
    # hub.hrms.webhook.verify, the reference check for receivers, agrees with the independent one above
    body = WebhookClient(target).body(p)
    good = signature(WEBHOOK_SECRET, "1775535000", body)
    assert verify(WEBHOOK_SECRET, "1775535000", body, good, now_s=1775535000 + 300)
    assert not verify(WEBHOOK_SECRET, "1775535000", body, good, now_s=1775535000 + 301)
    assert not verify(WEBHOOK_SECRET, "1775535000", body + b" ", good, now_s=1775535000)


def test_check_config_reads_the_target_secrets_and_the_pdf_fonts(tmp_path, capsys):
    from hub.cli import main

    (tmp_path / "admin.token").write_text("a-real-admin-token-123456\n")
    (tmp_path / "admin.token").chmod(0o600)
    token = tmp_path / "frappe.token"
    token.write_text(FRAPPE_TOKEN)
    token.chmod(0o640)  # group-readable: refused
    config = {"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "admin_token_file": str(tmp_path / "admin.token"),
              "phone": {"sms_outbox": str(tmp_path / "sms.jsonl")},
              "exports": {"pdf_script_font": str(tmp_path / "NoSuchFont.ttf")},
              "hrms": {"targets": [{"kind": "frappe", "name": "frappe", "url": "https://hr.example.gov.in",
                                    "token_file": str(token)},
                                   {"kind": "webhook", "name": "hook", "url": "https://pay.example.gov.in/a",
                                    "secret_file": str(tmp_path / "missing.secret")}]}}
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"hrms.targets.0.token_file: {token} is open to group/others (mode 0640)" in err
    assert "hrms.targets.1.secret_file: cannot read webhook secret of hook" in err
    assert f"exports.pdf_script_font: {tmp_path / 'NoSuchFont.ttf'} is missing" in err
    token.chmod(0o600)
    (tmp_path / "missing.secret").write_text(WEBHOOK_SECRET)
    (tmp_path / "missing.secret").chmod(0o600)
    config["exports"] = {}
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 0


def test_approved_leave_is_read_from_frappe_page_by_page(tmp_path, targets):
    from hub.hrms.config import FrappeTarget
    from hub.hrms.leave import ApprovedLeave, approved_leave

    frappe = targets[0]

    def application(name, employee, first, last, status="Approved", docstatus=1, half_day=0, half_day_date=None):
        return {"name": name, "employee": employee, "leave_type": "Casual Leave", "from_date": first,
                "to_date": last, "half_day": half_day, "half_day_date": half_day_date, "status": status,
                "docstatus": docstatus}

    frappe.leave_applications = [
        application("LAP-1", "H001", "2026-03-30", "2026-04-02"),  # overlaps the start of April
        application("LAP-2", "H002", "2026-04-10", "2026-04-10", half_day=1, half_day_date="2026-04-10"),
        application("LAP-3", "E001", "2026-04-20", "2026-04-21", status="Rejected"),
        application("LAP-4", "E002", "2026-04-22", "2026-04-22", docstatus=2),  # cancelled
        application("LAP-5", "E002", "2026-05-02", "2026-05-03"),  # after April
        application("LAP-6", "E001", "2026-04-29", "2026-05-01"),
    ]
    target = FrappeTarget(name="frappe", url=frappe.url, token_file=secret(tmp_path, "frappe", FRAPPE_TOKEN))
    leave = approved_leave(target, date(2026, 4, 1), date(2026, 4, 30), page=2)  # two pages
    assert leave == [
        ApprovedLeave("LAP-1", "H001", "Casual Leave", date(2026, 3, 30), date(2026, 4, 2), None),
        ApprovedLeave("LAP-2", "H002", "Casual Leave", date(2026, 4, 10), date(2026, 4, 10), date(2026, 4, 10)),
        ApprovedLeave("LAP-6", "E001", "Casual Leave", date(2026, 4, 29), date(2026, 5, 1), None),
    ]
    wrong = FrappeTarget(name="frappe", url=frappe.url, token_file=secret(tmp_path, "bad", "0a1b2c3d4e5f:not-it-1234"))
    with pytest.raises(Exception, match="HTTP 401"):
        approved_leave(wrong, date(2026, 4, 1), date(2026, 4, 30))
