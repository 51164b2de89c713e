"""Face templates encrypted at rest at the hub (issue 20, part 4): raw rows, the key file, a wrong key.

The templates are arbitrary 512-byte values written through the real
enrolment path (``apply_enrolment``) on SQLite and PostgreSQL; the raw rows
are then read with plain SQL, as someone holding a copy of the database would.
"""

import stat

import numpy as np
import pytest
from sqlalchemy import text

from hub.cli import main as hub_cli
from hub.db import FaceTemplate, init_db, make_engine, make_session_factory
from hub.devices import registry
from hub.enrolment import gallery, template_cipher
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import PersonPhotos, apply_enrolment
from hub.enrolment.template_cipher import TemplateKeyError
from hub.migrations import upgrade
from protocol import messages
from tests.hub_db import any_engine  # noqa: F401  (fixture)

PAPER = ConsentTaken("paper", "test")


def templates(seed: int, n: int = 2) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(128).astype("<f4").tobytes() for _ in range(n)]


def enrol(engine, employee_id: str, encodings: list[bytes]) -> None:
    with make_session_factory(engine)() as session:
        if registry.site_versions(session).get("site-a") is None:
            registry.add_site(session, "site-a", "A")
        person = PersonPhotos(employee_id, employee_id, templates=[(f"{i}.jpg", e) for i, e in enumerate(encodings)])
        apply_enrolment(session, "site-a", [person], consent_taken=PAPER)
        session.commit()


def raw_encodings(engine) -> list[bytes]:
    with engine.connect() as conn:
        return [bytes(b) for b in conn.execute(text("SELECT encoding FROM face_templates ORDER BY id")).scalars()]


def test_raw_rows_hold_no_plain_encoding_and_every_reader_gets_the_plain_one(any_engine):  # noqa: F811
    plain = templates(1)
    enrol(any_engine, "E1", plain)
    raw = raw_encodings(any_engine)
    assert len(raw) == 2
    for blob in raw:
        assert len(blob) == template_cipher.SEALED_BYTES and blob[:1] == template_cipher.VERSION
        for p in plain:
            assert p not in blob and p[:16] not in blob  # not even a piece of an encoding
    assert raw[0][1:13] != raw[1][1:13]  # a fresh nonce per row
    with make_session_factory(any_engine)() as session:
        assert [t.encoding for t in session.query(FaceTemplate).order_by(FaceTemplate.id)] == plain
        delta = gallery.build_delta(session, "site-a", 0)  # what kiosks receive
    sent = [messages.decode_template(e).astype("<f4").tobytes() for e in delta.upserts[0].encodings]
    assert sent == plain


def test_the_key_file_is_owner_only_and_check_config_refuses_a_readable_one(tmp_path, capsys):
    db = tmp_path / "hub.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    enrol(engine, "E1", templates(2))
    key = tmp_path / template_cipher.KEY_FILE_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(bytes.fromhex(key.read_text().strip())) == 32
    token = tmp_path / "admin.token"
    token.write_text("a-real-token-of-enough-length-0123456789")
    token.chmod(0o600)
    config = tmp_path / "hub.yaml"
    config.write_text(f"database_url: sqlite:///{db}\nadmin_token_file: {token}\n"
                      f"phone: {{sms_outbox: {tmp_path / 'sms'}}}\n")
    key.chmod(0o644)
    assert hub_cli(["check-config", str(config)]) == 1
    assert f"template_key_file: {key} is open to group/others (mode 0644)" in capsys.readouterr().err
    key.chmod(0o600)
    assert hub_cli(["check-config", str(config)]) == 0, capsys.readouterr().err


def test_a_wrong_or_missing_key_is_a_clear_error_not_garbage(tmp_path):
    db = tmp_path / "hub.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    enrol(engine, "E1", templates(3))
    engine.dispose()
    other = tmp_path / "other.secret"
    other.write_text("ab" * 32 + "\n")
    wrong = make_engine(f"sqlite:///{db}", template_key_file=other)
    with make_session_factory(wrong)() as session, pytest.raises(TemplateKeyError, match="does not open with the key"):
        session.query(FaceTemplate).all()
    bad = tmp_path / "short.secret"
    bad.write_text("abcd\n")
    broken = make_engine(f"sqlite:///{db}", template_key_file=bad)
    with make_session_factory(broken)() as session, pytest.raises(TemplateKeyError, match="64 hex digits"):
        session.query(FaceTemplate).all()
    no_key = make_engine("postgresql+psycopg://hub@127.0.0.1:1/none")  # never connects: the key is asked first
    with pytest.raises(TemplateKeyError, match="template_key_file is not set"):
        template_cipher.for_dialect(no_key.dialect).seal(b"\0" * 512)


def test_the_migration_encrypts_rows_stored_plain_and_keeps_their_values(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    upgrade(engine, "5d2e7c41a9b3")  # the schema before encryption, with a plain row as it stored them
    plain = templates(4, n=1)[0]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sites (site_id, name, gallery_version, timezone, shift_start, cutoff, "
                          "min_gap_min, half_day_hours, phone_policy) VALUES ('site-a', 'A', 0, 'Asia/Kolkata', "
                          "'10:00:00', '12:00:00', 30, 4, 'never')"))
        conn.execute(text("INSERT INTO employees (employee_id, name, home_site_id, category, active) "
                          "VALUES ('E1', 'E1', 'site-a', 'permanent', 1)"))
        conn.execute(text("INSERT INTO face_templates (employee_id, encoding, source, created_at) "
                          "VALUES ('E1', :e, 'old.jpg', '2026-11-01 09:00:00')"), {"e": plain})
    init_db(engine)
    init_db(engine)  # idempotent: sealed rows are left alone
    (raw,) = raw_encodings(engine)
    assert len(raw) == template_cipher.SEALED_BYTES and plain not in raw
    with make_session_factory(engine)() as session:
        assert session.query(FaceTemplate).one().encoding == plain
