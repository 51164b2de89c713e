"""A/B software slots of the kiosk: which version runs, the trial of a new one, and rolling it back.

Layout under ``root`` (kiosk.yaml ``update.root``, /opt/kiosk on a card)::

    versions/<version>/     one virtualenv per installed version
    current -> versions/<version>    what kiosk.service starts (switched with one rename)
    trial.json              a new version on trial: previous version, deadline, starts so far
    outcome.json            how the last update ended: kept or rolled back, and why

A new version is on trial from its install until the kiosk running it has
been healthy for ``update.confirm_after_s`` (kiosk/app.py calls ``confirm``).
It is rolled back to the previous version, by ``guard`` before a start
(kiosk.service ExecStartPre) or by ``check`` (kiosk-update.timer), when it was
started ``max_starts`` times without being kept or its deadline passed.

Standard library only, and run as a script (``python3 -I slots.py guard
ROOT``) from a copy first boot puts beside the slots: the guard must work
even when the new version cannot even be imported.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VERSIONS = "versions"
CURRENT = "current"
TRIAL = "trial.json"
OUTCOME = "outcome.json"
KEPT, ROLLED_BACK = "kept", "rolled_back"


class SlotError(RuntimeError):
    """The slots cannot be read or switched (missing version, unwritable folder)."""


@dataclass
class Trial:
    """A version installed and switched to, not yet kept."""

    version: str
    previous: str
    deadline: float      # Unix time: not kept by then -> rolled back
    max_starts: int
    starts: int = 0


@dataclass(frozen=True)
class Outcome:
    version: str
    outcome: str         # KEPT or ROLLED_BACK
    detail: str
    at: float


def version_dir(root: Path, version: str) -> Path:
    return root / VERSIONS / version


def current_version(root: Path) -> str | None:
    """The version ``current`` points to, or None when there is no link yet (a card before its first update)."""
    try:
        return Path(os.readlink(root / CURRENT)).name
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SlotError(f"cannot read {root / CURRENT}: {exc.strerror or exc}") from exc


def switch(root: Path, version: str) -> None:
    """Point ``current`` at ``version`` with one rename, so a power cut leaves the old link or the new one."""
    target = version_dir(root, version)
    if not target.is_dir():
        raise SlotError(f"version {version} is not installed ({target} is missing)")
    tmp = root / f".{CURRENT}.new"
    tmp.unlink(missing_ok=True)
    os.symlink(Path(VERSIONS) / version, tmp)
    os.replace(tmp, root / CURRENT)
    _sync_dir(root)


def read_trial(root: Path) -> Trial | None:
    data = _read_json(root / TRIAL)
    return Trial(**data) if data else None


def read_outcome(root: Path) -> Outcome | None:
    data = _read_json(root / OUTCOME)
    return Outcome(**data) if data else None


def begin_trial(root: Path, version: str, *, trial_s: float, max_starts: int, now: float) -> Trial:
    """Switch to an installed ``version`` on trial; the version running now is what a rollback returns to."""
    previous = current_version(root)
    if previous is None:
        raise SlotError(f"no {root / CURRENT} link: cannot tell what to roll back to")
    trial = Trial(version=version, previous=previous, deadline=now + trial_s, max_starts=max_starts)
    _write_json(root / TRIAL, asdict(trial))
    switch(root, version)
    log.info("switched to %s on trial (previous %s, deadline in %.0f s)", version, previous, trial_s)
    return trial


def confirm(root: Path, version: str, now: float, keep_versions: int = 2) -> bool:
    """Keep ``version`` if it is the one on trial (the kiosk running it is healthy); True when it was."""
    trial = read_trial(root)
    if trial is None or trial.version != version or current_version(root) != version:
        return False
    _write_json(root / OUTCOME, asdict(Outcome(version, KEPT, f"healthy; replaced {trial.previous}", now)))
    (root / TRIAL).unlink()
    _sync_dir(root)
    prune(root, keep={version, trial.previous}, keep_versions=keep_versions)
    log.info("version %s kept (was on trial)", version)
    return True


def guard(root: Path, now: float) -> Outcome | None:
    """Before each start: count a start of the version on trial; roll back when it has had its chances."""
    trial = read_trial(root)
    if trial is None:
        return None
    if current_version(root) != trial.version:   # switched by hand: the trial is over
        (root / TRIAL).unlink()
        return None
    if now > trial.deadline:
        return rollback(root, trial, f"not healthy within its trial (deadline passed after {trial.starts} starts)",
                        now)
    if trial.starts >= trial.max_starts:
        return rollback(root, trial, f"started {trial.starts} times without becoming healthy", now)
    trial.starts += 1
    _write_json(root / TRIAL, asdict(trial))
    return None


def check(root: Path, now: float) -> Outcome | None:
    """From the timer: roll back a version on trial past its deadline (one that hangs rather than exits)."""
    trial = read_trial(root)
    if trial is None or now <= trial.deadline or current_version(root) != trial.version:
        return None
    return rollback(root, trial, "not healthy within its trial (deadline passed while running)", now)


def rollback(root: Path, trial: Trial, reason: str, now: float) -> Outcome:
    """Back to ``trial.previous``; the failed version's folder is removed (a later update installs it again)."""
    switch(root, trial.previous)
    outcome = Outcome(trial.version, ROLLED_BACK, f"{trial.version} rolled back to {trial.previous}: {reason}", now)
    _write_json(root / OUTCOME, asdict(outcome))
    (root / TRIAL).unlink(missing_ok=True)
    _sync_dir(root)
    shutil.rmtree(version_dir(root, trial.version), ignore_errors=True)
    log.warning("%s", outcome.detail)
    return outcome


def prune(root: Path, *, keep: set[str], keep_versions: int) -> list[str]:
    """Remove the oldest installed versions beyond ``keep_versions``, never one in ``keep``."""
    installed = [p for p in (root / VERSIONS).iterdir() if p.is_dir() and not p.name.startswith(".")]
    spare = sorted((p for p in installed if p.name not in keep), key=lambda p: p.stat().st_mtime)
    removed = []
    for path in spare[:max(0, len(installed) - keep_versions)]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def prune_before_install(root: Path, keep_versions: int) -> list[str]:
    """Make way for a new version: keep ``keep_versions - 1`` installed, always the running one (and, during a
    trial, the one it would roll back to), so the card never holds more than ``keep_versions`` slots, not even
    while the new one is being installed. With a read-only root the slots share the kiosk-data partition with
    the outbox (provisioning/datapart.py), which is sized for exactly that many."""
    if not (root / VERSIONS).is_dir():
        return []
    keep = {current_version(root)}
    trial = read_trial(root)
    if trial is not None:
        keep.add(trial.previous)
    return prune(root, keep={v for v in keep if v}, keep_versions=max(1, keep_versions - 1))


def slot_bytes(root: Path, version: str) -> int:
    """Disk space the installed ``version`` takes (allocated blocks, links not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(version_dir(root, version)):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SlotError(f"cannot read {path}: {exc}") from exc


def _write_json(path: Path, data: dict) -> None:
    """Write with fsync and a rename: a power cut leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.new")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """``guard ROOT`` (ExecStartPre of kiosk.service) or ``check ROOT [--restart UNIT]`` (kiosk-update.timer)."""
    parser = argparse.ArgumentParser(prog="kiosk-slots", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["guard", "check", "show"])
    parser.add_argument("root", type=Path)
    parser.add_argument("--restart", metavar="UNIT", help="check: restart this unit after a rollback")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="kiosk-slots: %(message)s")
    try:
        if args.action == "show":
            print(json.dumps({"current": current_version(args.root), "trial": _read_json(args.root / TRIAL),
                              "outcome": _read_json(args.root / OUTCOME)}))
            return 0
        outcome = (guard if args.action == "guard" else check)(args.root, time.time())
    except SlotError as exc:  # never keep the kiosk from starting over a slot problem: say it and go on
        print(f"kiosk-slots: {exc}", file=sys.stderr)
        return 0
    if outcome is not None and args.restart:
        subprocess.run(["systemctl", "restart", args.restart], check=False, timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
