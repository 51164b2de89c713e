"""``provision release keygen|build|verify``: make the offline release key, and signed releases with it.

The release key is the one secret that decides what code every kiosk runs,
so it stays OFF the hub: made and kept on the release manager's machine
(better, an offline one), used only by ``build``. Its public half goes onto
each card (``provision device|batch --release-key``, kiosk.yaml
``update.release_key``). The hub gets the finished release folder
(``hub release publish``) and can serve it, not change it.
"""

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from protocol import release, signing
from provisioning.errors import ProvisionError

PUBLIC_SUFFIX = ".pub"


@dataclass(frozen=True)
class BuiltRelease:
    folder: Path
    manifest: release.Manifest


def keygen(key_file: Path) -> str:
    """Write a new release key (0600) and its public half beside it (``<key>.pub``); the public key, base64."""
    if key_file.exists():
        raise ProvisionError(f"{key_file} exists; a new release key would orphan every card that trusts the old one "
                             "(remove it first if that is what you want)")
    key = signing.generate_private_key()
    signing.write_private_key(key, key_file)
    public = signing.public_key_b64(key)
    public_file(key_file).write_text(public + "\n")
    return public


def public_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + PUBLIC_SUFFIX)


def read_public_key(path: Path) -> str:
    """The base64 public release key in ``path`` (a ``.pub`` file), checked."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(f"cannot read the public release key {path}: {exc}") from exc
    try:
        signing.load_public_key(text)
    except ValueError as exc:
        raise ProvisionError(f"{path} is not a public release key (`provision release keygen` writes one): {exc}") \
            from exc
    return text


def build(wheelhouse: Path, version: str, key_file: Path, out: Path,
          now: datetime | None = None) -> BuiltRelease:
    """Copy the wheelhouse into ``out`` and write ``manifest.json`` signed with the release key."""
    if not release.is_version(version):
        raise ProvisionError(f"bad version {version!r}: letters, digits and . + _ - only, at most 64")
    wheels = sorted(wheelhouse.glob("*.whl")) if wheelhouse.is_dir() else []
    if not wheels:
        raise ProvisionError(f"no wheels in {wheelhouse}")
    if out.exists() and any(out.iterdir()):
        raise ProvisionError(f"{out} is not empty; a release folder is written once")
    try:
        key = signing.load_private_key(key_file)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        shutil.copyfile(wheel, out / wheel.name)
    try:
        manifest = release.sign_manifest(release.describe(out, version, now or datetime.now(timezone.utc)), key)
    except release.ReleaseRefused as exc:
        raise ProvisionError(str(exc)) from exc
    (out / release.MANIFEST).write_bytes(manifest.to_json())
    return BuiltRelease(out, manifest)


def verify(folder: Path, public_key: str) -> release.Manifest:
    """Check a release folder as a kiosk would (signature, then every file); ReleaseRefused says what is wrong."""
    try:
        payload = (folder / release.MANIFEST).read_bytes()
    except OSError as exc:
        raise release.ReleaseRefused(f"cannot read {folder / release.MANIFEST}: {exc.strerror or exc}") from exc
    manifest = release.verify_manifest(payload, public_key)
    release.check_files(folder, manifest)
    return manifest
