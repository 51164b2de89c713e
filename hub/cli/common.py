"""What the ``hub`` command modules share: the config, one transaction per command, the actor."""

import argparse
import getpass
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from hub.accounts.principal import Principal, cli
from hub.config import HubConfig
from protocol.settings import credentials_path

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


def exposure_problem(key: str, path: Path) -> str | None:
    """Why the secret file at ``path`` is readable or writable by group or others, with the chmod
    that fixes it; None when it is owner-only or missing (other checks say so)."""
    resolved = credentials_path(path)
    try:
        mode = stat.S_IMODE(resolved.stat().st_mode)
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) == 0:
        return None
    return (f"{key}: {resolved} is open to group/others (mode {mode:04o}); it holds a secret: "
            f"run `chmod 600 {resolved}`")

