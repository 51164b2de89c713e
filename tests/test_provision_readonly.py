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
import subprocess
from pathlib import Path

import pytest
import yaml

from kiosk.config import KioskConfig
from protocol.settings import load_config
from provisioning import datapart, firstboot
from provisioning.cli import main
from provisioning.partitions import SECTOR
from tests.raspios_image import Layout, build_image, copy_boot_folder, needs_image_tools, os_tree, read_boot, sh
from tests.test_provision_batch import GOOD, devices_csv, fleet  # noqa: F401 (fleet: fixture)
from tests.test_provision_image import bundle  # noqa: F401 (fixture)

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


def test_read_only_root_with_signed_updates_is_refused_before_any_card_is_written(tmp_path, bundle, pi_image,
                                                                                  capsys):
    """An update installed on the RAM overlay would be gone at the next reboot: the pair is refused, clearly."""
    img, _ = pi_image
    before = digest(img, 0, img.stat().st_size)
    config = yaml.safe_load((bundle / "kiosk.yaml").read_text())
    config["update"] = {"release_key": "A" * 43 + "=", "hub_url": "https://hub.example.org"}
    (bundle / "kiosk.yaml").write_text(yaml.safe_dump(config))     # as `provision device --release-key` writes it
    args = ["image", "--image", str(img), "--bundle", str(bundle), "--read-only-root"]
    assert main(args) != 0
    assert "--read-only-root cannot be combined with signed updates" in capsys.readouterr().err
    assert digest(img, 0, img.stat().st_size) == before
