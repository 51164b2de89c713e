"""Retention periods (issue 20 part 4): `hub purge` deletes what is past its period, keeps what is not,
and says how many of each; on SQLite and PostgreSQL (``any_engine``), and as the timer's command runs it."""

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select

from hub.accounts.models import AuditEntry, LoginFailure
from hub.accounts.principal import cli
from hub.cli import main as hub_cli
from hub.config import HubConfig
from hub.db import (Device, DeviceHealthSample, Employee, RejectedMessage, Site, make_engine, make_session_factory,
                    utcnow)
from hub.enrolment.models import ConsentRecord
from hub.phone.models import PhoneFrameHash, PhoneRefusal
from hub.retention.purge import purge
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)

DAY = timedelta(days=1)
# (model, its time column, the config period in days with the settings below)
PERIODS = {"audit": 400, "login": 10, "phone": 60, "frames": 200, "rejected": 90, "health": 7, "consent": 365}


def config(tmp_path) -> HubConfig:
    (tmp_path / "admin.token").write_text("a-real-token-0123456789")
    return HubConfig.model_validate({
        "admin_token_file": str(tmp_path / "admin.token"), "health": {"history_days": PERIODS["health"]},
        "retention": {"audit_days": PERIODS["audit"], "login_failures_days": PERIODS["login"],
                      "phone_refusals_days": PERIODS["phone"], "rejected_messages_days": PERIODS["rejected"],
                      "consent_days": PERIODS["consent"], "phone_frame_hashes_days": PERIODS["frames"]}})


def seed(session, now) -> None:
    """Per kind, one row a day past its period (goes) and one a day inside it (stays)."""
    session.add(Site(site_id="S1", name="S1"))
    session.flush()
    session.add_all([Employee(employee_id=e, name=e, home_site_id="S1") for e in ("E1", "E2", "E3")])
    session.add(Device(device_id="K1", site_id="S1", public_key_b64="x"))
    session.flush()
    for days, tag in ((PERIODS["audit"] + 1, "old"), (PERIODS["audit"] - 1, "new")):
        session.add(AuditEntry(at=now - days * DAY, actor="a", action="employee.read", target=tag))
    for days in (PERIODS["login"] + 1, PERIODS["login"] - 1):
        session.add(LoginFailure(at=now - days * DAY, username="admin", source="10.0.0.1"))
    for days in (PERIODS["phone"] + 1, PERIODS["phone"] - 1):
        session.add(PhoneRefusal(at=now - days * DAY, step="punch", reason="outside", employee_id="E1"))
    for days in (PERIODS["frames"] + 1, PERIODS["frames"] - 1):
        session.add(PhoneFrameHash(sha256=f"{days:064d}", employee_id="E1", punch_id=f"P{days}", at=now - days * DAY))
    for days in (PERIODS["rejected"] + 1, PERIODS["rejected"] - 1):
        session.add(RejectedMessage(received_at=now - days * DAY, topic="t", reason="bad", payload_size=1,
                                    payload=b"x"))
    for days in (PERIODS["health"] + 1, PERIODS["health"] - 1):
        at = now - days * DAY
        session.add(DeviceHealthSample(device_id="K1", received_at=at, device_ts=at, clock_skew_s=0, uptime_s=1,
                                       outbox_depth=0, gallery_version=0, sw_version="t"))
    long_ago = now - 3000 * DAY
    session.add_all([  # E1 withdrew long ago (goes); E2 withdrew recently (stays); E3 consented long ago (stays)
        ConsentRecord(employee_id="E1", notice_version="v", language="en", channel="paper", recorded_by="a",
                      given_at=long_ago, withdrawn_at=now - (PERIODS["consent"] + 1) * DAY, withdrawn_by="a"),
        ConsentRecord(employee_id="E2", notice_version="v", language="hi", channel="phone", recorded_by="E2",
                      given_at=long_ago, withdrawn_at=now - (PERIODS["consent"] - 1) * DAY, withdrawn_by="a"),
        ConsentRecord(employee_id="E3", notice_version="v", language="en", channel="kiosk", recorded_by="a",
                      given_at=long_ago)])
    session.commit()


def remaining(session) -> dict[str, int]:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model))
    return {"audit": session.scalar(select(func.count()).where(AuditEntry.action == "employee.read")),
            "login": count(LoginFailure), "phone": count(PhoneRefusal), "rejected": count(RejectedMessage),
            "health": count(DeviceHealthSample), "consent": count(ConsentRecord), "frames": count(PhoneFrameHash)}


def test_records_past_their_period_go_and_newer_ones_stay(tmp_path, any_engine):  # noqa: F811
    now = utcnow()
    sessions = make_session_factory(any_engine)
    with sessions() as session:
        seed(session, now)
        assert remaining(session) == {"audit": 2, "login": 2, "phone": 2, "rejected": 2, "health": 2, "consent": 3,
                                      "frames": 2}
        kinds = purge(session, config(tmp_path), now=now, actor=cli("ops"))
        session.commit()
        assert {k.name: k.deleted for k in kinds} == {
            "audit log entries": 1, "failed logins": 1, "phone refusals": 1, "phone frame hashes": 1,
            "rejected messages": 1,
            "kiosk health samples": 1, "consent records of erased people": 1}
        assert remaining(session) == {"audit": 1, "login": 1, "phone": 1, "rejected": 1, "health": 1, "consent": 2,
                                      "frames": 1}
        assert session.scalar(select(AuditEntry.target).where(AuditEntry.action == "employee.read")) == "new"
        assert sorted(session.scalars(select(ConsentRecord.employee_id))) == ["E2", "E3"]
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
        assert entry.actor == "cli:ops" and '"phone refusals": 1' in entry.after
        again = purge(session, config(tmp_path), now=now, actor=cli("ops"))
        assert sum(k.deleted for k in again) == 0


def test_the_purge_command_prints_the_count_of_each_kind(tmp_path, capsys):
    engine = sqlite_engine(tmp_path)
    with make_session_factory(engine)() as session:
        seed(session, utcnow())
    engine.dispose()
    settings = config(tmp_path).model_dump(mode="json", include={"admin_token_file", "health", "retention"})
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({**settings, "database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}"}))
    assert hub_cli(["purge", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "audit log entries: 1 deleted (kept 400 days)" in out
    assert "consent records of erased people: 1 deleted (kept 365 days)" in out
    assert "enrolment photos: 0 deleted (kept 90 days)" in out
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with make_session_factory(engine)() as session:
        assert remaining(session)["phone"] == 1
    engine.dispose()


@pytest.mark.parametrize("key", ["audit_days", "consent_days"])
def test_a_period_below_its_floor_is_refused_with_its_key(tmp_path, key):
    (tmp_path / "admin.token").write_text("t")
    with pytest.raises(ValueError, match=key):
        HubConfig.model_validate({"admin_token_file": str(tmp_path / "admin.token"), "retention": {key: 0}})
