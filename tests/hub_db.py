"""Database fixtures for hub tests: a SQLite file, and a throwaway PostgreSQL database when one answers."""

import uuid

import pytest
from sqlalchemy import create_engine, text

from hub.db import init_db, make_engine
from tests.conftest import postgres_answers

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    init_db(engine)
    return engine


def postgres_database():
    """Create a uniquely named database; yields its URL and drops it afterwards."""
    if not postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request, tmp_path):
    """The hub schema on SQLite, then on PostgreSQL (skipped when it does not answer)."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path)
        yield engine
        engine.dispose()
        return
    gen = postgres_database()
    url = next(gen)
    engine = make_engine(url, template_key_file=tmp_path / "template-key.secret")
    init_db(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        gen.close()
