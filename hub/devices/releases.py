"""Published kiosk releases: stored in ``updates.release_dir``, listed in ``releases``, served to kiosks.

The hub cannot make a release (the release key stays offline,
provisioning/release.py); it checks the signature at publishing when
``updates.release_key`` is set, so a wrong folder is refused here rather
than by every kiosk, and then only stores and serves the files.
"""

import json
import logging
import shutil
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import UpdatesConfig
from hub.devices.models import Release
from hub.errors import Conflict, InvalidInput, NotFound
from protocol import release

log = logging.getLogger(__name__)


def publish(session: Session, folder: Path, config: UpdatesConfig, *, actor: str, now: datetime) -> Release:
    """Copy a release folder into ``release_dir`` and record it; the caller commits."""
    try:
        payload = (folder / release.MANIFEST).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {folder / release.MANIFEST}: {exc.strerror or exc}") from exc
    try:
        if config.release_key:
            manifest = release.verify_manifest(payload, config.release_key)
        else:
            manifest = release.parse_manifest(payload)[1]
        release.check_files(folder, manifest)
    except release.ReleaseRefused as exc:
        raise InvalidInput(f"release in {folder} refused: {exc}") from exc
    if manifest.sig is None:
        raise InvalidInput(f"release in {folder} is not signed (`provision release build` signs it)")
    if session.get(Release, manifest.version) is not None:
        raise Conflict(f"release {manifest.version} is already published; a version is published once")
    target = config.release_dir / manifest.version
    partial = config.release_dir / f".{manifest.version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in [release.MANIFEST, *manifest.file_names()]:
        shutil.copyfile(folder / name, partial / name)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    row = Release(version=manifest.version, manifest=payload.decode("utf-8"), published_at=now,
                  published_by=actor[:100])
    session.add(row)
    session.flush()
    log.info("release %s published by %s: %d files", manifest.version, actor, len(manifest.files))
    return row


def list_releases(session: Session) -> list[Release]:
    return list(session.scalars(select(Release).order_by(Release.published_at.desc())))


def manifest_of(row: Release) -> release.Manifest:
    return release.Manifest.model_validate(json.loads(row.manifest))


def release_file(session: Session, config: UpdatesConfig, version: str, name: str) -> Path:
    """The path of one file of a published release; NotFound for anything the manifest does not name."""
    row = session.get(Release, version)
    if row is None:
        raise NotFound(f"no release {version!r}")
    if name != release.MANIFEST and name not in manifest_of(row).file_names():
        raise NotFound(f"release {version} has no file {name!r}")
    path = config.release_dir / version / name
    if not path.is_file():
        raise NotFound(f"release {version}: {name} is missing from {config.release_dir}")
    return path
