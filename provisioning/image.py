"""``provision image``: put a device bundle and first-boot config into an OS image.

Only the FAT boot partition is written (through mtools at its byte offset);
the root file system and everything else in the image stays byte-for-byte
as it was. The files are staged in a private temporary folder first, so a
refused image (no FAT partition, bad bundle) is never half-written. The one
exception is ``--read-only-root``: it also appends the writable kiosk-data
partition (provisioning/datapart.py), once.
"""

import logging
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import KioskConfig
from protocol.settings import load_config
from provisioning import bundle as bundles
from provisioning import datapart, firstboot
from provisioning.errors import BundleError, ImageError
from provisioning.fatimage import FatImage
from provisioning.partitions import Partition, find_boot_partition

log = logging.getLogger(__name__)

DEFAULT_UNITS_DIR = Path(__file__).resolve().parents[1] / "systemd"
UNITS_ON_IMAGE = (firstboot.KIOSK_UNIT, firstboot.FIRSTBOOT_UNIT, "kiosk-update.service", "kiosk-update.timer")
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class ImageRequest:
    image: Path
    bundle: Path
    hostname: str | None = None
    wifi: firstboot.Wifi | None = None
    wheelhouse: Path | None = None
    admin_user: str | None = None
    ssh_public_key: str | None = None
    firstrun: bool = False  # also write firstrun.sh + cmdline.txt, for images without cloud-init
    units_dir: Path = DEFAULT_UNITS_DIR
    read_only_root: bool = False  # a kiosk-data partition for state_dir, and the overlay root (datapart.py)
    data_mb: int | None = None    # None: datapart.default_data_mb, larger when the bundle takes signed updates
    root_room_mb: int = 2048


@dataclass(frozen=True)
class DataPlan:
    """The kiosk-data partition of one card: its size, and how many software slots it holds (0: none)."""

    size_mb: int
    slots: int


def data_plan(request: ImageRequest, config: KioskConfig | None = None) -> DataPlan | None:
    """With ``read_only_root``, the card's data partition; ImageError when it cannot work.

    A bundle that takes signed updates (``update.release_key``) keeps its
    software slots on the partition (datapart.py), ``update.keep_versions``
    of them, so the partition must hold them as well as the state.
    """
    if not request.read_only_root:
        return None
    if config is None:
        config = load_config(request.bundle / bundles.KIOSK_YAML, KioskConfig)
    slots = config.update.keep_versions if config.update.release_key else 0
    if slots and config.update.root != Path(datapart.SLOTS_MOUNT):
        raise ImageError(f"update.root is {config.update.root} in {request.bundle / bundles.KIOSK_YAML}: with "
                         f"--read-only-root the software slots must be at {datapart.SLOTS_MOUNT}, the folder first "
                         "boot mounts from the kiosk-data partition (anything else is lost at a reboot)")
    if config.state_dir != Path(datapart.DATA_MOUNT):
        raise ImageError(f"state_dir is {config.state_dir} in {request.bundle / bundles.KIOSK_YAML}: with "
                         f"--read-only-root it must be {datapart.DATA_MOUNT}, where the kiosk-data partition is "
                         "mounted (anything else is lost at a reboot)")
    size_mb = request.data_mb if request.data_mb is not None else datapart.default_data_mb(slots)
    datapart.check_data_mb(size_mb, slots)
    return DataPlan(size_mb, slots)


def locate_boot_partition(image: Path) -> tuple[Partition, str]:
    """The image's FAT boot partition and its FAT variant, or ImageError saying why not."""
    try:
        size = image.stat().st_size
        with image.open("rb") as f:

            def read_at(offset: int, length: int) -> bytes:
                f.seek(offset)
                return f.read(length)

            return find_boot_partition(read_at, size)
    except OSError as exc:
        raise ImageError(f"cannot read {image}: {exc.strerror or exc}") from exc


def write_image(request: ImageRequest) -> tuple[Partition, list[str]]:
    """Write bundle + first-boot files into the boot partition; returns it and the paths written."""
    partition, _variant = locate_boot_partition(request.image)
    fat = FatImage(request.image, partition)
    with tempfile.TemporaryDirectory(prefix="provision-image-") as tmp:
        stage = Path(tmp)
        stage_files(request, fat, stage)
        add_data_partition(request, request.image)
        fat.copy_in(sorted(stage.iterdir()))
        written = staged_paths(stage)
    return partition, written


def stage_files(request: ImageRequest, fat: FatImage, stage: Path) -> None:
    """Everything ``write_image`` puts into the boot partition, as files under ``stage``.

    Checks the bundle, the wheelhouse and the host name first, so a refused
    request writes nothing; ``fat`` is only read (``cmdline.txt`` for
    ``--firstrun``), so it may be the shared base image of a batch.
    """
    meta = check_bundle(request.bundle)
    config = load_config(request.bundle / bundles.KIOSK_YAML, KioskConfig)  # refuse a bundle the kiosk would
    wheels = check_wheelhouse(request.wheelhouse) if request.wheelhouse else []
    log.info("staging first-boot files for partition %s at offset %s", fat.partition.number, fat.partition.offset)
    hostname = request.hostname or meta.get("hostname") or meta["device_id"]
    if not _HOSTNAME.match(hostname):
        raise ImageError(f"invalid host name {hostname!r}: lower-case letters, digits and '-', up to 63")
    kiosk_dir = stage / firstboot.BUNDLE_DIR
    _stage_bundle(request, kiosk_dir, wheels, data_plan(request, config))
    (stage / "user-data").write_text(
        firstboot.user_data(hostname, config.timezone, request.admin_user, request.ssh_public_key)
    )
    (stage / "meta-data").write_text(firstboot.meta_data(f"kiosk-{meta['device_id']}", hostname))
    (stage / "network-config").write_text(firstboot.network_config(request.wifi))
    if request.firstrun:
        _stage_firstrun(fat, stage, hostname, request.wifi)


def add_data_partition(request: ImageRequest, card: Path, grow: bool = True) -> None:
    """With ``read_only_root``: the card's writable kiosk-data partition (appended once; datapart.py).

    ``card`` is a card file (``grow``) or an SD card in a card reader (``grow=False``: it must be large enough).
    """
    plan = data_plan(request)
    if plan is not None:
        datapart.ensure_data_partition(card, plan.size_mb, request.root_room_mb, slots=plan.slots, grow=grow)


def staged_paths(stage: Path) -> list[str]:
    """The files under ``stage``, relative and sorted (what the partition receives)."""
    return sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())


def check_bundle(bundle: Path) -> dict:
    meta = bundles.read_meta(bundle)
    secrets = (f"{bundles.CREDENTIALS}/{bundles.DEVICE_KEY}", f"{bundles.CREDENTIALS}/{bundles.MQTT_PASSWORD}")
    for name in (bundles.KIOSK_YAML, *secrets):
        if not (bundle / name).is_file():
            raise BundleError(f"{bundle} is not a complete device bundle: {name} is missing (run provision device)")
    if meta.get("retired_at"):
        raise BundleError(f"device {meta['device_id']} is retired; provision a new device id")
    return meta


def check_wheelhouse(wheelhouse: Path) -> list[Path]:
    wheels = sorted(wheelhouse.glob("*.whl")) if wheelhouse.is_dir() else []
    if not any(w.name.startswith("face_attendance-") for w in wheels):
        raise ImageError(f"{wheelhouse} holds no face_attendance-*.whl; build it with `pip wheel . -w {wheelhouse}`")
    return wheels


def _stage_bundle(request: ImageRequest, kiosk_dir: Path, wheels: list[Path], plan: DataPlan | None) -> None:
    src = request.bundle
    (kiosk_dir / bundles.CREDENTIALS).mkdir(parents=True)
    for name in (bundles.KIOSK_YAML, bundles.META_JSON, bundles.CA_CERT):
        if (src / name).is_file():
            shutil.copyfile(src / name, kiosk_dir / name)
    for name in (bundles.DEVICE_KEY, bundles.MQTT_PASSWORD):
        shutil.copyfile(src / bundles.CREDENTIALS / name, kiosk_dir / bundles.CREDENTIALS / name)
    for name in (bundles.CLIENT_KEY, bundles.CLIENT_CERT):  # only when the broker requires client certificates
        if (src / bundles.CREDENTIALS / name).is_file():
            shutil.copyfile(src / bundles.CREDENTIALS / name, kiosk_dir / bundles.CREDENTIALS / name)
    (kiosk_dir / "install.sh").write_text(firstboot.install_script())
    (kiosk_dir / firstboot.JOURNALD_CONF).write_text(firstboot.journald_conf())
    if plan is not None:
        (kiosk_dir / firstboot.READONLY_CONF).write_text(
            datapart.readonly_conf(plan.size_mb, request.root_room_mb, slots=bool(plan.slots)))
    (kiosk_dir / "systemd").mkdir()
    for unit in UNITS_ON_IMAGE:
        unit_path = request.units_dir / unit
        if not unit_path.is_file():
            raise ImageError(f"{unit_path} not found; pass --units-dir with the repository's systemd/ folder")
        shutil.copyfile(unit_path, kiosk_dir / "systemd" / unit)
    if wheels:
        (kiosk_dir / "wheelhouse").mkdir()
        for wheel in wheels:
            _link_or_copy(wheel, kiosk_dir / "wheelhouse" / wheel.name)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it: the stage is only read, and a batch stages
    the same ~165 MB wheelhouse for every card (a link also lets its checksum be reused)."""
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copyfile(source, target)


def _stage_firstrun(fat: FatImage, stage: Path, hostname: str, wifi: firstboot.Wifi | None) -> None:
    if not fat.exists("cmdline.txt"):
        raise ImageError("--firstrun needs cmdline.txt in the boot partition, and there is none")
    cmdline = fat.read("cmdline.txt").decode("utf-8", errors="strict")
    (stage / "cmdline.txt").write_text(firstboot.cmdline_with_firstrun(cmdline))
    connection_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, hostname))  # same inputs, same card: batch reruns skip it
    (stage / "firstrun.sh").write_text(firstboot.firstrun_script(hostname, wifi, connection_uuid))
