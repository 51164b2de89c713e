"""The hub's ``update`` command: fetch a signed release, check it, install it into a new slot.

Steps, each refusing the release with a reason the hub shows (the
command's result) and nothing changed on the kiosk:

1. ``manifest.json`` from the hub's HTTPS API (requests signed with the
   device key, protocol/device_auth.py), checked against the release key on
   the card (kiosk.yaml ``update.release_key``) and the version asked for;
2. each file it names, checked against its size and SHA-256;
3. old slots removed down to ``update.keep_versions`` - 1 (never the running
   one), and refused unless the new one fits with ``RESERVE_MB`` to spare;
   a virtualenv ``versions/<version>`` (``--system-site-packages``: the face
   stack comes from the OS) with the wheels installed offline
   (``pip --no-index --no-deps``), and its ``kiosk`` must say it is that version;
4. ``current`` switched to it on trial (kiosk/slots.py), the result sent,
   and the kiosk exits so that systemd starts the new version.

The outbox and gallery live in the state directory, outside the slots, so
punches taken before, during and after the switch are all kept and sent.
Runs on its own thread: a download never holds up punching or the link.
"""

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk import slots
from kiosk.config import UpdateConfig
from protocol import device_auth, messages, release

log = logging.getLogger(__name__)

DOWNLOADS = "updates"    # under the state directory: releases being fetched
RELEASES_PATH = "/api/v1/device/releases"
TOOL_TIMEOUT_S = 600
MIB = 1024 * 1024
# Left free after a new slot: with a read-only root the slots share the kiosk-data partition with the
# outbox (provisioning/datapart.py), and a full partition would refuse punches. Above the defaults of
# heal.disk_trim_below_mb (32: the log spill is trimmed) and storage.min_free_mb (16: punches refused).
RESERVE_MB = 64

# (command id, ok, detail, restart): the result to send; restart: exit afterwards for systemd to start the new version
DoneHandler = Callable[[str, bool, str, bool], None]


class UpdateRefused(RuntimeError):
    """This release is not installed; the message says why (sent to the hub as the command's result)."""


class Updater:
    """One update at a time; ``begin`` from the link's thread, the work on a thread of its own."""

    def __init__(self, config: UpdateConfig, *, device_id: str, key: Ed25519PrivateKey, state_dir: Path,
                 running_version: str, on_done: DoneHandler,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self.device_id = device_id
        self._key = key
        self.downloads = state_dir / DOWNLOADS
        self.running_version = running_version
        self.on_done = on_done
        self._clock = clock
        self._lock = threading.Lock()
        self._busy: str | None = None

    def begin(self, command_id: str, args: messages.UpdateArgs) -> str | None:
        """Start installing ``args.version``; a refusal now (text), or None: the result follows."""
        with self._lock:
            if self._busy is not None:
                return f"busy installing {self._busy}; send the update again when it is done"
            self._busy = args.version
        threading.Thread(target=self._run, args=(command_id, args.version), name="kiosk-update", daemon=True).start()
        return None

    def _run(self, command_id: str, version: str) -> None:
        try:
            detail = self.install(version)
        except UpdateRefused as exc:
            log.error("update to %s refused: %s", version, exc)
            self.on_done(command_id, False, f"refused: {exc}", False)
        except Exception as exc:  # noqa: BLE001 - an update must never end the kiosk; it says why instead
            log.exception("update to %s failed", version)
            self.on_done(command_id, False, f"failed: {type(exc).__name__}: {exc}", False)
        else:
            self.on_done(command_id, True, detail, detail.startswith("installed"))
        finally:
            with self._lock:
                self._busy = None

    def install(self, version: str) -> str:
        """Fetch, check, install and switch to ``version``; what was done, or UpdateRefused."""
        if version == self.running_version:
            return f"already running {version}"
        if not self.config.release_key or not self.config.hub_url:
            raise UpdateRefused("update.release_key and update.hub_url are not set in kiosk.yaml: "
                                "this kiosk takes no updates")
        if slots.current_version(self.config.root) is None:
            raise UpdateRefused(f"{self.config.root / slots.CURRENT} is not a link to a version: this kiosk was "
                                "not installed in slots (provisioning/firstboot.py)")
        folder = self.downloads / version
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            manifest = self.fetch(version, folder)
            self._install(manifest, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return f"installed {version} on trial (from {self.running_version}); restarting into it"

    def fetch(self, version: str, folder: Path) -> release.Manifest:
        """Download and check the release into ``folder``; the verified manifest."""
        with self._client() as http:
            payload = self._get(http, f"{RELEASES_PATH}/{version}/{release.MANIFEST}", folder / release.MANIFEST,
                                release.MAX_MANIFEST_BYTES)
            try:
                manifest = release.verify_manifest(payload, self.config.release_key, expected_version=version)
            except release.ReleaseRefused as exc:
                raise UpdateRefused(str(exc)) from exc
            for entry in manifest.files:
                self._get(http, f"{RELEASES_PATH}/{version}/files/{entry.name}", folder / entry.name, entry.size)
        try:
            release.check_files(folder, manifest)
        except release.ReleaseRefused as exc:
            raise UpdateRefused(str(exc)) from exc
        log.info("release %s downloaded and verified: %d files", version, len(manifest.files))
        return manifest

    def _client(self) -> httpx.Client:
        verify: str | bool = str(self.config.ca_file) if self.config.ca_file else True
        return httpx.Client(base_url=self.config.hub_url or "", verify=verify,
                            timeout=self.config.download_timeout_s)

    def _get(self, http: httpx.Client, path: str, dest: Path, max_bytes: int) -> bytes | None:
        """GET ``path`` (signed) into ``dest``, refusing more than ``max_bytes`` (the signed size: a hostile
        hub cannot fill the card); the bytes too when it is the manifest."""
        headers = device_auth.sign_request(self._key, self.device_id, "GET", path, self._clock())
        try:
            with http.stream("GET", path, headers=headers) as response:
                if response.status_code != 200:
                    response.read()
                    raise UpdateRefused(f"the hub answered {response.status_code} for {path}: "
                                        f"{response.text[:300]}")
                written = 0
                with open(dest, "wb") as f:
                    for chunk in response.iter_bytes():
                        written += len(chunk)
                        if written > max_bytes:
                            raise UpdateRefused(f"{path} is larger than the {max_bytes} bytes it may be")
                        f.write(chunk)
        except httpx.HTTPError as exc:
            raise UpdateRefused(f"cannot download {path} from the hub: {type(exc).__name__}: {exc}") from exc
        return dest.read_bytes() if dest.name == release.MANIFEST else None

    def _install(self, manifest: release.Manifest, folder: Path) -> None:
        """A new slot with the release's wheels, then ``current`` switched to it on trial."""
        wheels = [folder / f.name for f in manifest.files if f.name.endswith(".whl")]
        removed = slots.prune_before_install(self.config.root, self.config.keep_versions)
        if removed:
            log.info("removed old versions %s to make way for %s", ", ".join(removed), manifest.version)
        running = slots.current_version(self.config.root)
        check_room(slots.slot_bytes(self.config.root, running) if running else 0,
                   shutil.disk_usage(self.config.root).free, self.config.root)
        install_slot(self.config, manifest.version, wheels)
        slots.begin_trial(self.config.root, manifest.version, trial_s=self.config.trial_s,
                          max_starts=self.config.max_starts, now=time.time())


def check_room(slot_bytes: int, free_bytes: int, root: Path, reserve_mb: int = RESERVE_MB) -> None:
    """UpdateRefused unless a new slot (taken as large as the running one) fits with ``reserve_mb`` to spare."""
    needed = slot_bytes + reserve_mb * MIB
    if free_bytes < needed:
        raise UpdateRefused(f"not enough room in {root} for a new version: {free_bytes // MIB} MiB free, and it needs "
                            f"~{slot_bytes // MIB} MiB (the size of the running one) plus {reserve_mb} MiB kept "
                            "free for the outbox")


def install_slot(config: UpdateConfig, version: str, wheels: list[Path]) -> Path:
    """Make ``versions/<version>``: a virtualenv with ``wheels`` installed offline, whose kiosk must say it is
    ``version``.

    Made in place (a virtualenv's scripts name its path, so it cannot be
    renamed into place); a slot is started only once ``current`` points to
    it, which happens after this returns, and a half-made one left by a power
    cut is removed by the next attempt.
    """
    if not wheels:
        raise UpdateRefused("the release holds no wheel")
    target = slots.version_dir(config.root, version)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _make_slot(config, version, target, wheels)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    log.info("version %s installed in %s", version, target)
    return target


def _make_slot(config: UpdateConfig, version: str, target: Path, wheels: list[Path]) -> None:
    _tool([str(config.python), "-m", "venv", "--system-site-packages", str(target)], "making the virtualenv")
    python = target / "bin" / "python"
    if config.base_site_dirs:
        purelib = _tool([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        "asking the virtualenv for its site-packages").strip()
        lines = "".join(f"import site; site.addsitedir({str(d)!r})\n" for d in config.base_site_dirs)
        (Path(purelib) / "kiosk-base.pth").write_text(lines)
    _tool([str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
           "--disable-pip-version-check", "--quiet", *map(str, wheels)], "installing the wheels")
    # -I: not the current directory's ``kiosk`` (a checkout), only what the slot itself holds
    said = _tool([str(python), "-I", "-c", "import kiosk; print(kiosk.__version__)"], "starting the new kiosk").strip()
    if said != version:
        raise UpdateRefused(f"the release is {version} but its kiosk says it is {said!r}")


def _tool(args: list[str], what: str) -> str:
    """Run a step of the install; UpdateRefused with the tail of its output when it fails."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateRefused(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        raise UpdateRefused(f"{what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}")
    return proc.stdout
