"""``hub release``: publish a signed kiosk release, start its rollout in rings, watch, halt or resume it.

The release folder comes from ``provision release build`` on the release
manager's machine; the hub never holds the release key.
"""

import argparse
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from hub.accounts import audit
from hub.cli.common import actor, in_session, load_config


def cmd_publish(args: argparse.Namespace) -> int:
    from hub.devices import releases

    config = load_config(args)

    def work(session):
        row = releases.publish(session, args.folder, config.updates, actor=actor().username,
                               now=datetime.now(timezone.utc))
        audit.record(session, actor(), "release.publish", f"release:{row.version}", None,
                     audit.snapshot(row, manifest=None))
        return row.version

    version = in_session(args, work)
    print(f"release {version} published into {config.updates.release_dir / version}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from hub.devices import releases

    for version, at, by in in_session(args, lambda s: [(r.version, r.published_at, r.published_by)
                                                       for r in releases.list_releases(s)]):
        print(f"{version}\tpublished {at:%Y-%m-%d %H:%M} by {by}")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from hub.devices import rollout

    config = load_config(args)
    _print(in_session(args, lambda s: _audited(s, "release.rollout", rollout.start(
        s, args.version, actor=actor().username, now=datetime.now(timezone.utc), config=config.updates))))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hub.devices import rollout
    from hub.devices.models import Rollout

    def work(session):
        rows = session.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(args.last))
        return [rollout.progress(session, row) for row in rows]

    for progress in in_session(args, work):
        _print(progress)
    return 0


def cmd_halt(args: argparse.Namespace) -> int:
    from hub.devices import rollout

    _print(in_session(args, lambda s: _audited(s, "release.halt", rollout.halt(
        s, args.rollout_id, f"halted from the command line by {actor().username}", datetime.now(timezone.utc)))))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from hub.devices import rollout

    _print(in_session(args, lambda s: _audited(s, "release.resume", rollout.resume(
        s, args.rollout_id, datetime.now(timezone.utc)))))
    return 0


def _audited(session, action: str, row) -> dict:
    """Record the change in the audit log (as the API does) and return the rollout's progress."""
    from hub.devices import rollout

    audit.record(session, actor(), action, f"rollout:{row.id}", None, audit.snapshot(row))
    return rollout.progress(session, row)


def _print(progress: dict) -> None:
    rings = ", ".join(f"ring {r['ring']}: {r['installed']}/{r['total']} updated, {r['failed']} failed"
                      + (f", {r['degraded']} worse" if r["degraded"] else "") for r in progress["rings"])
    print(f"rollout {progress['id']} of {progress['version']}: {progress['state']} (ring {progress['ring']}); "
          f"{rings}" + (f"; {progress['detail']}" if progress["detail"] else ""))


def register(command: Callable, with_config: Callable) -> None:
    sub = command("release", None, "signed kiosk releases and their rollout in rings").add_subparsers(
        dest="release_command", required=True)
    p = with_config(command("publish", cmd_publish, "store a release folder (provision release build) to serve it",
                            sub))
    p.add_argument("folder", type=Path, metavar="FOLDER")
    with_config(command("list", cmd_list, "the published releases", sub))
    p = with_config(command("rollout", cmd_rollout, "send a published release to every kiosk, ring by ring", sub))
    p.add_argument("version", metavar="VERSION")
    p = with_config(command("status", cmd_status, "the latest rollouts and their progress", sub))
    p.add_argument("--last", type=int, default=3, metavar="N")
    p = with_config(command("halt", cmd_halt, "stop sending a rollout's release", sub))
    p.add_argument("rollout_id", type=int, metavar="ID")
    p = with_config(command("resume", cmd_resume, "run a halted rollout on (its ring's failed kiosks again)", sub))
    p.add_argument("rollout_id", type=int, metavar="ID")
