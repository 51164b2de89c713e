"""What the ``hub`` command modules share: the config, one transaction per command, the actor."""

import argparse
import getpass
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from hub.accounts.principal import Principal, cli
from hub.config import HubConfig

T = TypeVar("T")


def load_config(args: argparse.Namespace) -> HubConfig:
    from hub.app import load

    return load(args.config)


def in_session(args: argparse.Namespace, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction against the configured database."""
    from hub.app import open_engine
    from hub.db import make_session_factory

    engine = open_engine(load_config(args))
    try:
        with make_session_factory(engine)() as session:
            result = work(session)
            session.commit()
            return result
    finally:
        engine.dispose()


def actor() -> Principal:
    """Who the audit log names for a command-line action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return cli(user)


def split_ids(value: str | None) -> list[str]:
    """``"a,b; c"`` -> ["a", "b", "c"]."""
    if not value:
        return []
    return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
