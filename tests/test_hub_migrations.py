"""Alembic migrations: a fresh SQLite and a fresh PostgreSQL database migrated to head match the models."""

from functools import partial

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from hub.db import init_db, make_engine
from hub.migrations import UnversionedSchema, alembic_config, current_revisions, head_revisions, include_object
from hub.schema import metadata
from tests.hub_db import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request, tmp_path):
    """A database with no tables at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
        yield engine
        engine.dispose()
        return
    databases = postgres_database()
    engine = make_engine(next(databases))
    try:
        yield engine
    finally:
        engine.dispose()
        databases.close()


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "compare_server_default": False,
            "include_object": partial(include_object, dialect_name=conn.dialect.name)})
        return compare_metadata(context, metadata)


def test_migrations_build_exactly_the_models_schema(empty_engine):
    init_db(empty_engine)
    with empty_engine.connect() as conn:
        assert set(current_revisions(conn)) == set(head_revisions())
        tables = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= tables
    assert schema_diff(empty_engine) == []
    init_db(empty_engine)  # idempotent: already at head
    assert schema_diff(empty_engine) == []


def test_every_migration_downgrades_and_upgrades_again(empty_engine):
    """Each revision's downgrade undoes it, so a bad release can be rolled back."""
    init_db(empty_engine)
    with empty_engine.begin() as conn:
        config = alembic_config(conn)
        command.downgrade(config, "base")
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    init_db(empty_engine)
    assert schema_diff(empty_engine) == []


def test_sqlite_foreign_keys_stay_on_after_migrating(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.sqlite'}")
    init_db(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_a_database_made_without_migrations_is_refused_not_guessed_at(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    metadata.create_all(engine)  # what hub init-db did before migrations
    with pytest.raises(UnversionedSchema, match="no migration history"):
        init_db(engine)
    engine.dispose()


def test_the_revision_history_is_one_line_per_branch_from_the_initial_schema():
    """Every revision file parses and chains back to the initial schema (no orphan revisions)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    revisions = list(scripts.walk_revisions())
    bases = [r.revision for r in revisions if r.down_revision is None]
    assert bases == ["22299eb37ce3"]
    assert all(scripts.get_revision(r.revision).doc for r in revisions), "every migration says what it does"
