"""Alembic environment: the hub's metadata, batch mode on SQLite, UTC datetimes rendered as plain types.

Run from code (``hub.migrations.upgrade`` passes a connection) or from the
command line for developers (README): ``-x url=...`` or ``$HUB_DATABASE_URL``.
"""

import os
from functools import partial

from alembic import context
from sqlalchemy import Connection

from hub.db import EncryptedTemplate, UTCDateTime, make_engine
from hub.migrations import include_object
from hub.schema import metadata

config = context.config


def render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    """Migrations must not import model code that may change later: UTCDateTime is
    a timezone-aware DateTime in the database, EncryptedTemplate a plain binary column."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedTemplate):
        return "sa.LargeBinary()"
    return False


def options(dialect_name: str) -> dict:
    return {
        "target_metadata": metadata,
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "render_item": render_item,
        "include_object": partial(include_object, dialect_name=dialect_name),
    }


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("HUB_DATABASE_URL")
    if not url:
        raise SystemExit("give the database: alembic ... -x url=sqlite:///path.sqlite (or set HUB_DATABASE_URL)")
    return url


if config.attributes.get("connection") is not None:
    run_on(config.attributes["connection"])
elif context.is_offline_mode():
    url = database_url()
    context.configure(url=url, literal_binds=True, **options(url.split(":", 1)[0].split("+", 1)[0]))
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            run_on(connection)
            connection.commit()
    finally:
        engine.dispose()
