"""provision image on a real disk image built here with sfdisk + mkfs.vfat.

The image has a FAT boot partition (with a cmdline.txt, as Raspberry Pi OS
has) and a Linux partition full of random bytes; everything outside the FAT
partition must come out byte-for-byte unchanged.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kiosk.config import KioskConfig
from protocol.settings import load_config
from provisioning import firstboot, tls
from provisioning.cli import main
from provisioning.errors import ImageError
from tests.fake_hub_api import FakeHub
from provisioning.partitions import SECTOR, parse_mbr

TOOLS = {"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "fsck.vfat": "dosfstools", "mcopy": "mtools", "mdir": "mtools"}
_missing = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"needs Debian packages: {' '.join(_missing)}")

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
FAT_START, FAT_SECTORS = 2048, 40 * MIB // SECTOR  # FAT32 needs ~33 MiB of clusters at least
LINUX_SECTORS = 8 * MIB // SECTOR
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
MT_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def sh(*args: str, stdin: str | None = None) -> bytes:
    data = stdin.encode() if stdin else None
    return subprocess.run(args, input=data, capture_output=True, check=True, env=MT_ENV).stdout


def make_image(path: Path, label: str = "dos", fat: str | None = "32", fat_kib: int | None = None) -> None:
    """An image with partition 1 (FAT, or Linux when ``fat`` is None) and a Linux partition 2.

    ``fat_kib`` makes the file system that size instead of the partition's (to test the overflow guard).
    """
    linux_start = FAT_START + FAT_SECTORS
    total = (linux_start + LINUX_SECTORS + 2048) * SECTOR  # room for the backup GPT
    with path.open("wb") as f:
        f.truncate(total)
    if label == "dos":
        ptype = {"32": "c", "16": "e", None: "83"}[fat]
        script = (f"label: dos\nstart={FAT_START}, size={FAT_SECTORS}, type={ptype}\n"
                  f"start={linux_start}, size={LINUX_SECTORS}, type=83\n")
    else:
        ptype = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" if fat else "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        script = (f"label: gpt\nstart={FAT_START}, size={FAT_SECTORS}, type={ptype}\n"
                  f"start={linux_start}, size={LINUX_SECTORS}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    sh("sfdisk", "-q", str(path), stdin=script)
    with path.open("r+b") as f:
        f.seek(linux_start * SECTOR)
        f.write(os.urandom(LINUX_SECTORS * SECTOR))
    if fat:
        blocks = str(fat_kib or FAT_SECTORS * SECTOR // 1024)
        sh("mkfs.vfat", "-F", fat, "-n", "BOOTFS", "--offset", str(FAT_START), str(path), blocks)
        cmdline = path.parent / "cmdline.txt"
        cmdline.write_text(CMDLINE)
        sh("mcopy", "-i", f"{path}@@{FAT_START * SECTOR}", str(cmdline), "::/cmdline.txt")


def outside_fat_digest(path: Path) -> str:
    """Hash of every byte of the image except the FAT partition's."""
    data = path.read_bytes()
    fat = slice(FAT_START * SECTOR, (FAT_START + FAT_SECTORS) * SECTOR)
    return hashlib.sha256(data[: fat.start] + data[fat.stop :]).hexdigest()


def linux_digest(path: Path) -> str:
    start = (FAT_START + FAT_SECTORS) * SECTOR
    with path.open("rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read(LINUX_SECTORS * SECTOR)).hexdigest()


def read_fat(path: Path, name: str) -> bytes:
    return sh("mcopy", "-n", "-i", f"{path}@@{FAT_START * SECTOR}", f"::/{name}", "-")


@pytest.fixture
def bundle(tmp_path) -> Path:
    hub = FakeHub()
    token = tmp_path / "token"
    token.write_text(hub.token)
    out = tmp_path / "bundle"
    (tmp_path / "broker").mkdir()
    tls.ensure_ca(tmp_path / "broker")  # what `provision broker` makes first
    rc = main(["device", "--device-id", "K-7", "--site", "S1", "--hub", "https://hub.example.org",
               "--token-file", str(token), "--out", str(out), "--broker-dir", str(tmp_path / "broker")],
              transport=hub.transport())
    assert rc == 0
    return out


@pytest.fixture
def wheelhouse(tmp_path) -> Path:
    wh = tmp_path / "wheelhouse"
    wh.mkdir()
    # Stand-ins for wheels: the image writer copies them byte for byte and never opens them.
    (wh / "face_attendance-0.1.0-py3-none-any.whl").write_bytes(os.urandom(4096))
    (wh / "numpy-2.0.0-cp313-cp313-manylinux_2_17_aarch64.whl").write_bytes(os.urandom(8192))
    return wh


@pytest.mark.parametrize("label, fat", [("dos", "32"), ("dos", "16"), ("gpt", "32")])
def test_image_gets_bundle_and_first_boot_files_and_nothing_else_changes(tmp_path, bundle, wheelhouse, label, fat):
    img = tmp_path / "raspios.img"
    make_image(img, label, fat)
    outside, linux = outside_fat_digest(img), linux_digest(img)
    wifi_pw = tmp_path / "wifi"
    wifi_pw.write_text("correct horse battery staple\n")
    argv = ["image", "--image", str(img), "--bundle", str(bundle), "--wheelhouse", str(wheelhouse),
            "--wifi-ssid", "Office WiFi", "--wifi-password-file", str(wifi_pw), "--wifi-country", "IN"]
    assert main(argv) == 0
    assert main(argv) == 0  # rerun: same result, no error
    assert outside_fat_digest(img) == outside and linux_digest(img) == linux

    assert read_fat(img, "kiosk/credentials/device.key") == (bundle / "credentials/device.key").read_bytes()
    assert read_fat(img, "kiosk/credentials/mqtt.password") == (bundle / "credentials/mqtt.password").read_bytes()
    for wheel in wheelhouse.iterdir():
        assert read_fat(img, f"kiosk/wheelhouse/{wheel.name}") == wheel.read_bytes()
    assert read_fat(img, "kiosk/systemd/kiosk.service") == (REPO / "systemd/kiosk.service").read_bytes()
    assert read_fat(img, "kiosk/install.sh").decode() == firstboot.install_script()
    assert read_fat(img, "kiosk/journald.conf").decode() == firstboot.journald_conf()
    assert read_fat(img, "cmdline.txt").decode() == CMDLINE  # untouched without --firstrun

    yaml_copy = tmp_path / "kiosk.yaml"
    yaml_copy.write_bytes(read_fat(img, "kiosk/kiosk.yaml"))
    assert load_config(yaml_copy, KioskConfig).device_id == "K-7"

    user_data = read_fat(img, "user-data").decode()
    assert user_data.startswith("#cloud-config\n")
    cloud = yaml.safe_load(user_data)
    assert cloud["hostname"] == "kiosk-k-7"
    assert cloud["users"][0]["name"] == "kiosk" and cloud["users"][0]["lock_passwd"] is True
    assert ["systemctl", "enable", "kiosk-firstboot.service"] in cloud["runcmd"]
    assert yaml.safe_load(read_fat(img, "meta-data")) == {"instance-id": "kiosk-K-7", "local-hostname": "kiosk-k-7"}
    net = yaml.safe_load(read_fat(img, "network-config"))["network"]
    ap = net["wifis"]["wlan0"]["access-points"]["Office WiFi"]
    assert ap["auth"]["key-management"] == "psk"
    assert ap["auth"]["password"] == firstboot.Wifi("Office WiFi", "correct horse battery staple", "IN").psk
    assert net["wifis"]["wlan0"]["regulatory-domain"] == "IN"

    # The Wi-Fi passphrase itself is nowhere on the card; the file system is clean.
    fat_bytes = img.read_bytes()[FAT_START * SECTOR : (FAT_START + FAT_SECTORS) * SECTOR]
    assert b"correct horse" not in fat_bytes
    part = tmp_path / "fat.bin"
    part.write_bytes(fat_bytes)
    sh("fsck.vfat", "-n", str(part))


def test_firstrun_path_for_images_without_cloud_init(tmp_path, bundle):
    img = tmp_path / "raspios.img"
    make_image(img)
    linux = linux_digest(img)
    assert main(["image", "--image", str(img), "--bundle", str(bundle), "--firstrun", "--hostname", "gate-2"]) == 0
    assert main(["image", "--image", str(img), "--bundle", str(bundle), "--firstrun", "--hostname", "gate-2"]) == 0
    assert read_fat(img, "cmdline.txt").decode() == CMDLINE.strip() + " " + firstboot.FIRSTRUN_ARGS + "\n"
    script = read_fat(img, "firstrun.sh").decode()
    assert "echo gate-2 > /etc/hostname" in script
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)
    assert linux_digest(img) == linux


def test_image_without_fat_partition_is_refused_untouched(tmp_path, bundle, capsys):
    img = tmp_path / "linux-only.img"
    make_image(img, fat=None)
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 1
    assert "no FAT boot partition" in capsys.readouterr().err
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before


def test_fat_file_system_larger_than_its_partition_is_refused(tmp_path, bundle, capsys):
    img = tmp_path / "bad.img"
    make_image(img, fat_kib=FAT_SECTORS * SECTOR // 1024 + 4096)  # spills 4 MiB into partition 2
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 1
    assert "claims" in capsys.readouterr().err
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xfd7zXZ\x00" + bytes(600), "compressed with xz"),
        (bytes(1024), "no partition table"),
        (bytes(446) + bytes(64) + b"\x55\xaa", "empty"),
    ],
)
def test_not_an_image_is_refused_clearly(tmp_path, bundle, capsys, content, message):
    img = tmp_path / "x.img"
    img.write_bytes(content)
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 1
    assert message in capsys.readouterr().err


def test_incomplete_bundle_and_bad_wheelhouse_are_refused(tmp_path, bundle, capsys):
    img = tmp_path / "raspios.img"
    make_image(img)
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    empty = tmp_path / "wh"
    empty.mkdir()
    assert main(["image", "--image", str(img), "--bundle", str(bundle), "--wheelhouse", str(empty)]) == 1
    assert "no face_attendance" in capsys.readouterr().err
    kiosk_yaml = (bundle / "kiosk.yaml").read_text()
    (bundle / "kiosk.yaml").write_text(kiosk_yaml.replace("port: 8883", "port: 70000"))
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 1
    assert "mqtt.port: Input should be less than or equal to 65535" in capsys.readouterr().err
    (bundle / "kiosk.yaml").write_text(kiosk_yaml)
    (bundle / "credentials/mqtt.password").unlink()
    assert main(["image", "--image", str(img), "--bundle", str(bundle)]) == 1
    assert "mqtt.password is missing" in capsys.readouterr().err
    assert main(["image", "--image", str(img), "--bundle", str(tmp_path / "nothing")]) == 1
    assert "not a device bundle" in capsys.readouterr().err
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before


def test_mbr_parsing_table():
    sector = bytearray(512)
    sector[510:512] = b"\x55\xaa"
    entry = bytes([0x80, 0, 0, 0, 0x0C, 0, 0, 0]) + (8192).to_bytes(4, "little") + (1048576).to_bytes(4, "little")
    sector[446:462] = entry
    sector[462 + 4] = 0x83
    sector[462 + 8 : 462 + 16] = (1056768).to_bytes(4, "little") + (4000000).to_bytes(4, "little")
    parts = parse_mbr(bytes(sector))
    assert [(p.number, p.kind, p.offset, p.is_fat_type) for p in parts] == [
        (1, "0x0c", 8192 * 512, True),
        (2, "0x83", 1056768 * 512, False),
    ]
    sector[446 + 4] = 0xEE
    assert parse_mbr(bytes(sector)) is None  # GPT follows
    with pytest.raises(ImageError):
        parse_mbr(bytes(512))


def test_wifi_psk_matches_the_ieee_802_11i_test_vector():
    assert firstboot.Wifi("IEEE", "password", "IN").psk == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    )
    for bad in (("", "password1", "IN"), ("ssid", "short", "IN"), ("ssid", "password1", "India")):
        with pytest.raises(ValueError):
            firstboot.Wifi(*bad)


def test_install_script_is_valid_bash_and_installs_what_the_unit_expects():
    script = firstboot.install_script()
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)
    unit = (REPO / "systemd/kiosk.service").read_text()
    assert "ExecStart=/opt/kiosk/current/bin/kiosk run --config /etc/kiosk/kiosk.yaml" in unit
    assert "ExecStartPre=/usr/bin/python3 -I /opt/kiosk/slots.py guard /opt/kiosk" in unit
    for needed in ("VENV=$SLOTS/versions/factory", 'ln -s versions/factory "$SLOTS/current"', '"$SLOTS/slots.py"',
                   "systemctl enable kiosk.service kiosk-update.timer", "/etc/kiosk/kiosk.yaml", "/etc/kiosk/credentials", "face-attendance[$extra,pi]",
                   "extra=kiosk-blas", "org.freedesktop.login1.reboot",
                   "pip\" install --no-index --find-links"):
        assert needed in script, needed
    assert "set -x" not in script.replace("Never use `set -x`", "")
    firstboot_unit = (REPO / "systemd/kiosk-firstboot.service").read_text()
    assert f"ExecStart=/bin/bash {firstboot.BUNDLE_ON_PI}/install.sh" in firstboot_unit
    assert "MARKER=/var/lib/kiosk-firstboot/done" in script
    assert "ConditionPathExists=!/var/lib/kiosk-firstboot/done" in firstboot_unit


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze (Debian package systemd)")
def test_first_boot_keeps_the_journal_in_ram_with_a_bound(tmp_path):
    """SD-card wear: install.sh puts the bundle's journald drop-in where journald reads it; systemd itself
    (``cat-config`` on a root folder laid out as the Pi's) sees Storage=volatile and the RAM bound."""
    script = firstboot.install_script()
    assert f'install -m 0644 "$BUNDLE/{firstboot.JOURNALD_CONF}" {firstboot.JOURNALD_DROPIN}' in script
    dropin = tmp_path / firstboot.JOURNALD_DROPIN.lstrip("/")
    dropin.parent.mkdir(parents=True)
    dropin.write_text(firstboot.journald_conf(ram_mb=48))
    merged = sh("systemd-analyze", "cat-config", f"--root={tmp_path}", "systemd/journald.conf").decode()
    settings = dict(line.split("=", 1) for line in merged.splitlines() if "=" in line and not line.startswith("#"))
    assert settings == {"Storage": "volatile", "RuntimeMaxUse": "48M", "RuntimeMaxFileSize": "12M",
                        "ForwardToSyslog": "no"}
