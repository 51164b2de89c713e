"""``provision image --read-only-root``: the card Raspberry Pi OS runs with an overlay root.

Built on an image laid out like Raspberry Pi OS's (tests/raspios_image.py:
boot FAT32 at sector 8192, ext4 root after it), with the tools the real
image uses, mounting nothing. What is checked is what the card gets: a third
partition, ext4 labelled kiosk-data, after room for the root to grow; boot
and root partitions unchanged but for the bundle; the bundle's flag file and
the first-boot steps that mount the partition at the kiosk's state_dir and
turn the overlay on; the kiosk's config pointing its state there.
"""

import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kiosk import slots
from kiosk.config import KioskConfig
from kiosk.updater import install_slot
from protocol.settings import load_config
from provisioning import datapart, firstboot
from provisioning.cli import main
from provisioning.errors import ImageError
from provisioning.partitions import SECTOR
from tests.raspios_image import Layout, build_image, copy_boot_folder, needs_image_tools, os_tree, read_boot, sh
from tests.test_provision_batch import GOOD, card_batch_env, devices_csv, fleet  # noqa: F401 (fleet: fixture)
from tests.test_provision_image import bundle  # noqa: F401 (fixture)
from tests.updatekit import build_kiosk_wheel, outer_site_packages

pytestmark = needs_image_tools
MIB = 1024 * 1024


def digest(image: Path, offset: int, size: int) -> str:
    with image.open("rb") as f:
        f.seek(offset)
        return hashlib.sha256(f.read(size)).hexdigest()


@pytest.fixture
def pi_image(tmp_path) -> tuple[Path, Layout]:
    img = tmp_path / "raspios.img"
    return img, build_image(img, os_tree(tmp_path / "tree"))


def test_read_only_root_adds_a_data_partition_for_the_state_and_first_boot_mounts_it(tmp_path, bundle, pi_image):
    img, layout = pi_image
    root_before = digest(img, layout.root_offset, layout.root_mib * MIB)
    args = ["image", "--image", str(img), "--bundle", str(bundle), "--read-only-root", "--data-mb", "16",
            "--root-room-mb", "8"]
    assert main(args) == 0

    parts = datapart.read_mbr_partitions(img)
    assert [p.number for p in parts] == [1, 2, 3]
    root_end = layout.root_offset // SECTOR + layout.root_mib * MIB // SECTOR
    data = parts[2]
    assert data.start_lba == root_end + 8 * MIB // SECTOR and data.start_lba % datapart.ALIGN_SECTORS == 0
    assert data.sectors == 16 * MIB // SECTOR and img.stat().st_size == data.offset + data.size
    assert datapart.ext4_label(img, data) == datapart.DATA_LABEL
    stats = sh("debugfs", "-R", "stats", f"{img}?offset={data.offset}").decode()
    assert "Filesystem volume name:   kiosk-data" in stats and "Block count:" in stats
    assert digest(img, layout.root_offset, layout.root_mib * MIB) == root_before      # the root is untouched

    flag = read_boot(img, layout, f"{firstboot.BUNDLE_DIR}/{firstboot.READONLY_CONF}").decode()
    assert "label=kiosk-data\nmount=/var/lib/kiosk\n" in flag
    card = copy_boot_folder(img, layout, firstboot.BUNDLE_DIR, tmp_path / "card")
    config = load_config(card / "kiosk.yaml", KioskConfig)
    assert config.state_dir == Path(datapart.DATA_MOUNT)      # outbox, gallery and log spill on kiosk-data
    script = (card / "install.sh").read_text()
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)
    fstab = "LABEL=kiosk-data /var/lib/kiosk ext4 defaults,noatime,nodev,nosuid,noexec 0 2"
    assert f"echo '{fstab}' >> /etc/fstab" in script and "mount /var/lib/kiosk" in script
    assert script.index("mount /var/lib/kiosk") < script.index("systemctl enable kiosk.service")
    assert script.index('touch "$MARKER"') < script.index("raspi-config nonint enable_overlayfs")
    assert "RequiresMountsFor=/var/lib/kiosk" in (card / "systemd" / firstboot.KIOSK_UNIT).read_text()

    size = img.stat().st_size
    assert main(args) == 0                                     # again: the partition is there, nothing added
    assert len(datapart.read_mbr_partitions(img)) == 3 and img.stat().st_size == size


@pytest.mark.parametrize("cmdline, expected", [
    ("overlayroot=tmpfs console=tty1 root=PARTUUID=6c586e13-02 rootwait",     # as raspi-config writes it
     "overlayroot=tmpfs:recurse=0 console=tty1 root=PARTUUID=6c586e13-02 rootwait"),
    ("console=tty1 rootwait overlayroot=tmpfs", "console=tty1 rootwait overlayroot=tmpfs:recurse=0"),
    ("overlayroot=tmpfs:recurse=0 console=tty1", "overlayroot=tmpfs:recurse=0 console=tty1"),   # again: the same
])
def test_the_overlay_covers_the_root_only_so_the_data_partition_stays_on_the_card(tmp_path, cmdline, expected):
    """overlayroot's default (recurse=1) would put kiosk-data under the RAM overlay too: first boot's own sed,
    run on cmdline.txt as raspi-config leaves it, keeps the overlay to the root."""
    script = firstboot.install_script()
    after = script[script.index("raspi-config nonint enable_overlayfs"):]
    edit = re.search(rf"sed -i -E '([^']+)' {firstboot.CMDLINE}\n", after)
    assert edit and after.index(edit.group(0)) < after.index("systemctl reboot")
    (tmp_path / "cmdline.txt").write_text(cmdline + "\n")
    subprocess.run(["sed", "-i", "-E", edit.group(1), str(tmp_path / "cmdline.txt")], check=True)
    assert (tmp_path / "cmdline.txt").read_text() == expected + "\n"


def test_without_the_option_the_card_has_no_data_partition_and_no_flag(tmp_path, bundle, pi_image):
    img, layout = pi_image
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 0
    assert len(datapart.read_mbr_partitions(img)) == 2
    card = copy_boot_folder(img, layout, firstboot.BUNDLE_DIR, tmp_path / "card")
    assert not (card / firstboot.READONLY_CONF).exists()


def test_a_too_small_data_partition_is_refused_and_the_image_left_alone(tmp_path, bundle, pi_image, capsys):
    img, _layout = pi_image
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    assert main(["image", "--image", str(img), "--bundle", str(bundle), "--read-only-root", "--data-mb", "4"]) == 1
    assert "needs at least 16 MiB" in capsys.readouterr().err
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before


@pytest.mark.broker
def test_batch_cards_each_get_the_data_partition_and_the_base_stays_as_it_was(tmp_path, fleet, capsys):
    hub, _brk = fleet
    base = tmp_path / "raspios-lite.img"
    layout = build_image(base, os_tree(tmp_path / "tree"), Layout(root_mib=8))
    base_digest = hashlib.sha256(base.read_bytes()).hexdigest()
    cards = tmp_path / "cards"
    good = GOOD[:3]
    argv = ["batch", str(devices_csv(tmp_path / "a.csv", good)), "--image", str(base), "--out", str(cards),
            *hub.auth, "--read-only-root", "--data-mb", "16", "--root-room-mb", "4"]
    assert main(argv) == 1                                      # the CSV's two bad rows fail, the rest go on
    assert "cards: 3 written" in capsys.readouterr().out
    assert hashlib.sha256(base.read_bytes()).hexdigest() == base_digest
    for device_id in good:
        card = cards / f"{device_id}.img"
        parts = datapart.read_mbr_partitions(card)
        assert len(parts) == 3 and datapart.ext4_label(card, parts[2]) == datapart.DATA_LABEL
        flag = read_boot(card, layout, f"{firstboot.BUNDLE_DIR}/{firstboot.READONLY_CONF}").decode()
        assert "mount=/var/lib/kiosk" in flag
    assert main(argv) == 1                                      # rerun: the same cards, nothing rewritten
    assert "cards: 0 written, 3 unchanged" in capsys.readouterr().out


@pytest.fixture
def updates_bundle(tmp_path) -> Path:
    """A bundle made as `provision device --release-key` makes it: its kiosk takes signed updates."""
    from provisioning import tls
    from tests.fake_hub_api import FakeHub

    hub = FakeHub()
    (tmp_path / "token").write_text(hub.token)
    (tmp_path / "broker").mkdir()
    tls.ensure_ca(tmp_path / "broker")
    key = tmp_path / "release" / "release.key"
    assert main(["release", "keygen", "--key", str(key)]) == 0
    out = tmp_path / "bundles" / "K-9"
    assert main(["device", "--device-id", "K-9", "--site", "S1", "--hub", "https://hub.example.org",
                 "--token-file", str(tmp_path / "token"), "--out", str(out), "--broker-dir", str(tmp_path / "broker"),
                 "--release-key", f"{key}.pub"], transport=hub.transport()) == 0
    return out


class Card:
    """What the Pi makes of the card's first-boot files: the mounts install.sh adds to /etc/fstab, with
    ``data`` standing for the kiosk-data partition and ``overlay`` for the root (all of it lost at a reboot)."""

    def __init__(self, script: str, data: Path, overlay: Path) -> None:
        self.fstab = [line.split() for line in re.findall(r"echo '([^']+)' >> /etc/fstab", script)]
        self.data, self.overlay = data, overlay

    def resolve(self, path: str) -> Path:
        """Where ``path`` lives on the Pi: on the data partition under its mount (or a bind of a folder of it),
        else on the overlay root. Bind mounts resolve through their source."""
        for source, target, fstype, *_ in sorted(self.fstab, key=lambda entry: -len(entry[1])):
            if path == target or path.startswith(target + "/"):
                rest = path[len(target):].lstrip("/")
                base = self.data if source == f"LABEL={datapart.DATA_LABEL}" else self.resolve(source)
                assert fstype in ("ext4", "none"), fstype
                return base / rest if rest else base
        return self.overlay / path.lstrip("/")

    def options(self, target: str) -> set[str]:
        return next(set(entry[3].split(",")) for entry in self.fstab if entry[1] == target)

    def reboot(self) -> None:
        """The overlay root comes back as the card's root: whatever was written to it is gone."""
        shutil.rmtree(self.overlay, ignore_errors=True)
        self.overlay.mkdir()


def test_read_only_root_with_signed_updates_keeps_the_slots_on_the_data_partition(tmp_path, updates_bundle,
                                                                                   pi_image):
    img, layout = pi_image
    assert main(["image", "--image", str(img), "--bundle", str(updates_bundle), "--read-only-root",
                 "--root-room-mb", "8"]) == 0

    # the partition's default size holds two slots, a download and the state (provisioning/README.md)
    data = datapart.read_mbr_partitions(img)[2]
    default_mb = datapart.default_data_mb(2)
    assert data.size == default_mb * MIB and datapart.ext4_label(img, data) == datapart.DATA_LABEL
    assert default_mb >= 2 * datapart.SLOT_MB + datapart.DOWNLOAD_MB + datapart.STATE_MB > datapart.default_data_mb(0)
    flag = read_boot(img, layout, f"{firstboot.BUNDLE_DIR}/{firstboot.READONLY_CONF}").decode()
    assert f"size_mb={default_mb}\n" in flag and "slots=data\n" in flag

    files = copy_boot_folder(img, layout, firstboot.BUNDLE_DIR, tmp_path / "boot")
    config = load_config(files / "kiosk.yaml", KioskConfig)
    assert config.update.release_key and config.update.root == Path("/opt/kiosk")
    script = (files / "install.sh").read_text()
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)
    card = Card(script, tmp_path / "kiosk-data", tmp_path / "overlay")
    # the slots are the partition's software/ folder at /opt/kiosk, executable, while the state stays noexec
    assert card.resolve("/opt/kiosk/current") == card.data / "software" / "current"
    assert card.resolve(str(config.state_dir)) == card.data and card.resolve("/etc/kiosk") == card.overlay / "etc/kiosk"
    assert "noexec" in card.options("/var/lib/kiosk") and {"exec", "nosuid", "nodev"} <= card.options("/opt/kiosk")
    assert "noexec" not in card.options("/opt/kiosk")
    # mounted before the factory slot is installed into it, so that slot is on the partition too
    assert script.index('mount "$SLOTS"') < script.index('python3 -m venv --system-site-packages "$VENV"')
    units = {unit: (files / "systemd" / unit).read_text() for unit in ("kiosk.service", "kiosk-update.service")}
    for text in units.values():
        assert re.search(r"^RequiresMountsFor=.*/opt/kiosk\b", text, re.M), text
    pre, start = (re.search(rf"^{key}=(.+)$", units["kiosk.service"], re.M).group(1).split()
                  for key in ("ExecStartPre", "ExecStart"))
    assert start[0] == "/opt/kiosk/current/bin/kiosk"

    # The kiosk on that card: factory slot by first boot, then a release that is kept, across reboots
    root = card.resolve(str(config.update.root))
    update = config.update.model_copy(update={"root": root, "python": Path(sys.executable),
                                              "base_site_dirs": [outer_site_packages()], "max_starts": 2})
    card.resolve("/var/lib/kiosk").mkdir(parents=True)
    outbox = card.resolve(str(config.state_dir / "outbox.db"))
    outbox.write_bytes(b"punches not yet acked")
    # the first slot, as first boot makes it (there named versions/factory)
    install_slot(update, "0.1.0", [build_kiosk_wheel(tmp_path / "wheels" / "0.1.0", "0.1.0")])
    slots.switch(root, "0.1.0")
    shutil.copyfile(slots.__file__, card.resolve(pre[2]))            # install.sh copies the guard to /opt/kiosk
    guard = [sys.executable if arg == "/usr/bin/python3" else str(card.resolve(arg)) if arg.startswith("/") else arg
             for arg in pre]

    def boot() -> str:
        """A reboot, then kiosk.service's ExecStartPre; the version its ExecStart then runs."""
        card.reboot()
        subprocess.run(guard, check=True, capture_output=True, cwd="/", timeout=60)
        kiosk = card.resolve(start[0])
        assert kiosk.is_file(), f"{start[0]} is not on the card after the reboot"
        return slots.current_version(root)

    assert boot() == "0.1.0"
    wheels = [build_kiosk_wheel(tmp_path / "wheels" / "0.2.0", "0.2.0")]
    assert slots.prune_before_install(root, update.keep_versions) == []
    install_slot(update, "0.2.0", wheels)
    slots.begin_trial(root, "0.2.0", trial_s=600, max_starts=2, now=time.time())
    assert boot() == "0.2.0"
    assert slots.confirm(root, "0.2.0", time.time())                   # healthy: kept
    assert boot() == "0.2.0" and boot() == "0.2.0"                     # and still there after reboots
    said = subprocess.run([str(root / "versions/0.2.0/bin/python"), "-I", "-c",
                           "import kiosk; print(kiosk.__version__)"],
                          capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    assert said == "0.2.0"

    # a release that never becomes healthy: rolled back by the guard across reboots, the partition's slots intact
    assert slots.prune_before_install(root, update.keep_versions) == ["0.1.0"]
    install_slot(update, "0.3.0", [build_kiosk_wheel(tmp_path / "wheels" / "0.3.0", "0.3.0", broken=True)])
    slots.begin_trial(root, "0.3.0", trial_s=600, max_starts=2, now=time.time())
    assert boot() == "0.3.0" and boot() == "0.3.0"                     # two starts, neither kept
    assert boot() == "0.2.0"                                            # the third: rolled back
    outcome = slots.read_outcome(root)
    assert outcome.outcome == slots.ROLLED_BACK and outcome.version == "0.3.0"
    assert sorted(p.name for p in (root / slots.VERSIONS).iterdir()) == ["0.2.0"]
    assert outbox.read_bytes() == b"punches not yet acked"


def test_signed_updates_refuse_a_data_partition_too_small_for_the_slots(tmp_path, updates_bundle, pi_image, capsys):
    img, _ = pi_image
    before = digest(img, 0, img.stat().st_size)
    assert main(["image", "--image", str(img), "--bundle", str(updates_bundle), "--read-only-root",
                 "--data-mb", "512"]) == 1
    err = capsys.readouterr().err
    assert f"needs at least {datapart.min_data_mb(2)} MiB" in err and "too small for signed updates" in err
    assert f"the default, {datapart.default_data_mb(2)} MiB" in err
    assert digest(img, 0, img.stat().st_size) == before
    config = yaml.safe_load((updates_bundle / "kiosk.yaml").read_text())
    config["update"]["root"] = "/srv/kiosk"
    (updates_bundle / "kiosk.yaml").write_text(yaml.safe_dump(config))
    assert main(["image", "--image", str(img), "--bundle", str(updates_bundle), "--read-only-root"]) == 1
    assert "update.root is /srv/kiosk" in capsys.readouterr().err
    assert digest(img, 0, img.stat().st_size) == before
    # a base that already has a small kiosk-data partition (made without updates) is not taken for slots
    datapart.ensure_data_partition(img, 16, 8)
    with pytest.raises(ImageError, match="already has a kiosk-data partition of 16 MiB, too small"):
        datapart.ensure_data_partition(img, datapart.default_data_mb(2), 8, slots=2)


def test_read_only_root_cards_written_straight_to_a_card_reader(tmp_path, monkeypatch, capsys):
    """A file stands in for the reader's device: the data partition is added on the card, which never grows."""
    hub, base, layout, hub_args = card_batch_env(tmp_path)
    reader = tmp_path / "sdb"
    with reader.open("wb") as f:
        f.truncate(base.stat().st_size + 8 * MIB)                    # too small for 4 MiB of room + 16 MiB of data
    (tmp_path / "sites.csv").write_text("device_id,site_id\nK-1,S1\n")
    argv = ["batch", str(tmp_path / "sites.csv"), "--image", str(base), "--card-reader", str(reader),
            "--out", str(tmp_path / "cards"), *hub_args, "--read-only-root", "--data-mb", "16", "--root-room-mb", "4"]
    monkeypatch.setattr("builtins.input", lambda prompt: "")
    assert main(argv, transport=hub.transport()) == 1
    assert "with its kiosk-data partition needs" in capsys.readouterr().out
    assert reader.read_bytes().count(0) == reader.stat().st_size         # refused before a byte was written

    size = base.stat().st_size + 32 * MIB
    with reader.open("r+b") as f:
        f.truncate(size)
    assert main(argv, transport=hub.transport()) == 0
    out = capsys.readouterr().out
    assert reader.stat().st_size == size                                  # a card does not grow
    parts = datapart.read_mbr_partitions(reader)
    assert len(parts) == 3 and datapart.ext4_label(reader, parts[2]) == datapart.DATA_LABEL
    assert parts[2].sectors == 16 * MIB // SECTOR
    flag = read_boot(reader, layout, f"{firstboot.BUNDLE_DIR}/{firstboot.READONLY_CONF}").decode()
    assert "mount=/var/lib/kiosk" in flag and "slots=root" in flag
    card_sha = hashlib.sha256(reader.read_bytes()[:parts[2].offset + parts[2].size]).hexdigest()
    assert "card sdb written" in out and card_sha in out             # the checksum covers the data partition


def test_the_readme_gives_the_sizes_and_the_overlay_edit_the_code_uses():
    readme = (Path(__file__).resolve().parents[1] / "provisioning" / "README.md").read_text()
    text = " ".join(readme.split())
    assert f"default 512, or {datapart.default_data_mb(2)} for a kiosk that takes signed updates" in text
    assert f"refused below {datapart.min_data_mb(2)} MiB" in text
    assert f"its default is {datapart.default_data_mb(2)} MiB" in text
    assert datapart.default_data_mb(0) == 512 and datapart.slots_fstab_line().strip() in readme
    assert f"sudo sed -i -E '{firstboot.OVERLAY_ROOT_ONLY}' {firstboot.CMDLINE}" in readme


def test_a_batch_with_signed_updates_refuses_a_too_small_data_partition_before_any_row(tmp_path, capsys):
    hub, base, _layout, hub_args = card_batch_env(tmp_path)
    key = tmp_path / "release.key"
    assert main(["release", "keygen", "--key", str(key)]) == 0
    (tmp_path / "sites.csv").write_text("device_id,site_id\nK-1,S1\n")
    argv = ["batch", str(tmp_path / "sites.csv"), "--image", str(base), "--out", str(tmp_path / "cards"),
            *hub_args, "--release-key", f"{key}.pub", "--read-only-root", "--data-mb", "1024"]
    assert main(argv, transport=hub.transport()) == 1
    assert "--data-mb 1024 is too small for signed updates" in capsys.readouterr().err
    assert not (tmp_path / "cards" / "K-1").exists()    # refused before any row: nothing registered, no bundle


def test_a_dead_read_only_kiosks_punches_are_read_off_its_data_partition(tmp_path):
    """`provision replace --old-card`: on a read-only-root card the outbox is on kiosk-data, not the root."""
    from kiosk.outbox import Outbox
    from protocol import signing
    from provisioning import oldcard
    from tests.test_provision_replace import signed

    state = tmp_path / "old-state"
    outbox = Outbox(state / "outbox.sqlite")
    key = signing.generate_private_key()
    ids = [outbox.add(lambda seq: signed(key, seq)).id for _ in range(2)]
    outbox.close()
    tree = os_tree(tmp_path / "old-root")
    (tree / "var/lib/kiosk").mkdir(parents=True)           # the mount point, empty on the root
    card = tmp_path / "old-card.img"
    build_image(card, tree, Layout(root_mib=8))
    data = datapart.ensure_data_partition(card, 16, 4).partition
    sh("mkfs.ext4", "-q", "-F", "-L", datapart.DATA_LABEL, "-E", f"offset={data.offset}", "-d", str(state),
       str(card), "16M")                                     # the partition as the kiosk left it

    rows, note = oldcard.read_unacked(card, Path(datapart.DATA_MOUNT), tmp_path / "scratch")
    assert [punch_id for _seq, punch_id, _payload, _at in rows] == ids and "2 unacked punches read" in note
