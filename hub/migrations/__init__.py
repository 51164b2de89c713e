"""The hub's Alembic migrations, run by ``hub.db.init_db`` (``hub init-db``, API and ingest start-up).

Alembic is driven from code, not from an ini file: ``script_location`` points
into this package, so an installed hub migrates itself. How to add a
migration: README in this folder.
"""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from hub.errors import HubError

log = logging.getLogger(__name__)

SCRIPT_DIR = Path(__file__).resolve().parent


class UnversionedSchema(HubError, RuntimeError):
    """The database has hub tables but no migration history (made before migrations existed)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for this package; ``connection`` is used by env.py when given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_DIR))
    config.attributes["connection"] = connection
    return config


def include_object(obj: object, _name: str | None, type_: str, _reflected: bool, _compare_to: object,
                   *, dialect_name: str) -> bool:
    """Autogenerate and the schema test skip an index declared for another dialect only
    (``Index(...).ddl_if(dialect="postgresql")``, e.g. the staff search's trigram index):
    Alembic itself does not look at ``ddl_if``."""
    ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" else None
    return ddl_if is None or ddl_if.dialect is None or ddl_if.dialect == dialect_name


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Migrate to ``revision`` (every head by default, so parallel branches apply too).

    SQLite: foreign keys are switched off while migrating, because a batch
    migration rebuilds a table (copy, drop, rename) and the drop would
    otherwise cascade or fail; they are checked and switched on afterwards.
    """
    with engine.connect() as conn:
        _refuse_unversioned(conn)
        conn.rollback()  # end the inspection's transaction; the migration opens its own
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                command.upgrade(alembic_config(conn), revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise HubError(f"migration left {len(broken)} rows with broken foreign keys, e.g. {broken[0]}")
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
        log.info("database schema at %s", ", ".join(current_revisions(conn)) or "base")


def _refuse_unversioned(conn: Connection) -> None:
    tables = set(inspect(conn).get_table_names())
    if tables and "alembic_version" not in tables:
        raise UnversionedSchema(
            "the database has tables but no migration history (made by a hub from before migrations); "
            "back it up and start from an empty database"
        )
