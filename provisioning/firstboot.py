"""First-boot files for the image's boot partition, as text (no I/O here).

Raspberry Pi OS since late 2025 runs cloud-init from the boot partition
(``user-data``, ``network-config``, ``meta-data``); older images run a
``firstrun.sh`` named in ``cmdline.txt``. Both paths do the same small
thing: install ``kiosk-firstboot.service`` and start it. That service runs
``install.sh`` from the bundle until it succeeds once (a power cut half-way
through ``pip install`` is retried on the next boot), and the install is
offline: the wheels come from the bundle's wheelhouse.

No secret is inlined in any of these files: the device key and MQTT password
are separate files in the bundle, copied to ``/etc/kiosk/credentials`` and
then deleted from the boot partition; the Wi-Fi passphrase is stored only as
its WPA PSK.
"""

import hashlib
import shlex
from dataclasses import dataclass

import yaml

from provisioning import datapart

BOOT_MOUNT = "/boot/firmware"
BUNDLE_DIR = "kiosk"  # folder in the boot partition
BUNDLE_ON_PI = f"{BOOT_MOUNT}/{BUNDLE_DIR}"
FIRSTBOOT_UNIT = "kiosk-firstboot.service"
KIOSK_UNIT = "kiosk.service"
JOURNALD_CONF = "journald.conf"  # in the bundle folder; install.sh puts it into JOURNALD_DROPIN
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/50-kiosk.conf"
JOURNAL_RAM_MB = 32
READONLY_CONF = "read-only-root.conf"  # in the bundle folder with --read-only-root (provisioning/datapart.py)
CMDLINE = f"{BOOT_MOUNT}/cmdline.txt"
# sed -E: raspi-config's `overlayroot=tmpfs` made `overlayroot=tmpfs:recurse=0`, an overlay of the root only
# (overlayroot's default, recurse=1, would put the kiosk-data partition under the RAM overlay as well)
OVERLAY_ROOT_ONLY = r"s/(^| )overlayroot=tmpfs( |$)/\1overlayroot=tmpfs:recurse=0\2/"
# Debian packages the kiosk needs beyond Raspberry Pi OS Lite, installed by install.sh:
# the screen (SDL window through pygame; Noto fonts with Devanagari; fontTools reads their
# glyph coverage), the voice (espeak-ng makes the clips and speaks names; aplay plays them).
# Keep in step with the Makefile's SYSTEM_PACKAGES.
KIOSK_APT_PACKAGES = ("python3-pygame", "fonts-noto-core", "espeak-ng", "alsa-utils")
VOICES_DIR = "/opt/kiosk/voices"
FIRSTRUN_ARGS = (
    f"systemd.run={BOOT_MOUNT}/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target"
)


@dataclass(frozen=True)
class Wifi:
    ssid: str
    passphrase: str
    country: str  # ISO 3166 alpha-2, sets the radio's regulatory domain

    def __post_init__(self) -> None:
        if not 1 <= len(self.ssid.encode()) <= 32 or any(ord(c) < 32 for c in self.ssid):
            raise ValueError("Wi-Fi SSID must be 1 to 32 bytes without control characters")
        if not 8 <= len(self.passphrase) <= 63:
            raise ValueError("Wi-Fi passphrase must be 8 to 63 characters (WPA2-PSK)")
        if len(self.country) != 2 or not self.country.isalpha():
            raise ValueError(f"Wi-Fi country must be a two-letter code such as IN, not {self.country!r}")

    @property
    def psk(self) -> str:
        """The 256-bit WPA PSK (as wpa_passphrase computes it): the card never holds the passphrase."""
        raw = hashlib.pbkdf2_hmac("sha1", self.passphrase.encode(), self.ssid.encode(), 4096, 32)
        return raw.hex()


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def user_data(
    hostname: str, timezone: str, admin_user: str | None = None, ssh_public_key: str | None = None
) -> str:
    """cloud-config: the kiosk system user, host name, and the once-only install service."""
    users: list[dict] = [
        {
            "name": "kiosk",
            "system": True,
            "no_create_home": True,
            "groups": ["video", "gpio", "audio"],
            "shell": "/usr/sbin/nologin",
            "lock_passwd": True,
        }
    ]
    runcmd: list[list[str]] = [
        ["install", "-m", "0644", f"{BUNDLE_ON_PI}/systemd/{FIRSTBOOT_UNIT}", f"/etc/systemd/system/{FIRSTBOOT_UNIT}"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", FIRSTBOOT_UNIT],
        ["systemctl", "start", "--no-block", FIRSTBOOT_UNIT],
    ]
    if admin_user and ssh_public_key:
        users.append(
            {
                "name": admin_user,
                "groups": ["sudo", "adm"],
                "shell": "/bin/bash",
                "lock_passwd": True,
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [ssh_public_key.strip()],
            }
        )
        runcmd.append(["systemctl", "enable", "--now", "ssh"])
    config = {
        "hostname": hostname,
        "manage_etc_hosts": True,
        "timezone": timezone,
        "users": users,
        "ssh_pwauth": False,
        "runcmd": runcmd,
    }
    return "#cloud-config\n# Written by `provision image`. No secrets here: they are files under " + (
        f"{BUNDLE_ON_PI}/credentials, deleted after install.\n" + _yaml(config)
    )


def meta_data(instance_id: str, hostname: str) -> str:
    return _yaml({"instance-id": instance_id, "local-hostname": hostname})


def network_config(wifi: Wifi | None) -> str:
    """netplan v2 for cloud-init: wired DHCP always, Wi-Fi when given."""
    network: dict = {
        "version": 2,
        "renderer": "NetworkManager",
        "ethernets": {"eth0": {"dhcp4": True, "optional": True}},
    }
    if wifi is not None:
        network["wifis"] = {
            "wlan0": {
                "dhcp4": True,
                "optional": True,
                "regulatory-domain": wifi.country.upper(),
                "access-points": {wifi.ssid: {"auth": {"key-management": "psk", "password": wifi.psk}}},
            }
        }
    return _yaml({"network": network})


INSTALL_SH = r"""#!/bin/bash
# Installs the face-attendance kiosk from this bundle. Run as root by
# kiosk-firstboot.service until it succeeds once; safe to run again.
# Never use `set -x` here: it would print paths of secrets into the journal.
set -euo pipefail
umask 022  # the venv must be readable by the kiosk user; secrets get explicit modes below
BUNDLE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
SLOTS=/opt/kiosk
VENV=$SLOTS/versions/factory  # the first slot; signed updates add versions/<version> beside it (kiosk/slots.py)
MARKER=/var/lib/kiosk-firstboot/done
SYNC_WAIT_QUERY='import sys
from kiosk.config import KioskConfig
from protocol.settings import load_config
print(load_config(sys.argv[1], KioskConfig).clock.sync_wait_s)'
say() { echo "kiosk-install: $*"; }

if ! id kiosk >/dev/null 2>&1; then
  say "creating the kiosk system user"
  useradd --system --no-create-home --home-dir /var/lib/kiosk --shell /usr/sbin/nologin kiosk
fi
for group in video gpio audio; do
  getent group "$group" >/dev/null && usermod -aG "$group" kiosk
done

say "installing config and credentials into /etc/kiosk"
install -d -m 0755 -o root -g root /etc/kiosk
install -d -m 0750 -o root -g kiosk /etc/kiosk/credentials
install -m 0644 -o root -g root "$BUNDLE/kiosk.yaml" /etc/kiosk/kiosk.yaml
for secret in device.key mqtt.password; do
  if [ -f "$BUNDLE/credentials/$secret" ]; then
    install -m 0640 -o root -g kiosk "$BUNDLE/credentials/$secret" "/etc/kiosk/credentials/$secret"
  elif [ ! -f "/etc/kiosk/credentials/$secret" ]; then
    say "missing credentials/$secret in the bundle"; exit 1
  fi
done
if [ -f "$BUNDLE/ca.crt" ]; then install -m 0644 -o root -g root "$BUNDLE/ca.crt" /etc/kiosk/ca.crt; fi
for optional in mqtt-client.key mqtt-client.crt; do  # only when the broker requires client certificates
  if [ -f "$BUNDLE/credentials/$optional" ]; then
    install -m 0640 -o root -g kiosk "$BUNDLE/credentials/$optional" "/etc/kiosk/credentials/$optional"
  fi
done

readonly_root=0
if [ -f "$BUNDLE/@READONLY_CONF@" ]; then
  # provision image --read-only-root (provisioning/datapart.py): the outbox, the gallery cache and the
  # log spill live on the kiosk-data partition; everything else is read-only from the next boot on.
  # Before the software install: with signed updates the slots (the factory one too) live there as well.
  readonly_root=1
  say "read-only root: mounting the partition labelled @DATA_LABEL@ at @DATA_MOUNT@ for the kiosk's state"
  if ! blkid -L @DATA_LABEL@ >/dev/null 2>&1; then
    say "no partition labelled @DATA_LABEL@ on this card; make the card again with provision image --read-only-root"
    exit 1
  fi
  grep -q '^LABEL=@DATA_LABEL@ ' /etc/fstab || echo '@FSTAB_LINE@' >> /etc/fstab
  install -d -m 0700 @DATA_MOUNT@
  mountpoint -q @DATA_MOUNT@ || mount @DATA_MOUNT@
  install -d -m 0700 -o kiosk -g kiosk @DATA_MOUNT@
  if grep -qx 'slots=data' "$BUNDLE/@READONLY_CONF@"; then
    # Signed updates: the kiosk installs releases under $SLOTS, which on the overlay root would be gone at
    # the next reboot. $SLOTS is the partition's @SLOTS_SUBDIR@/ folder, bind-mounted with exec (the state
    # stays noexec); every path stays the same (kiosk.service, update.root). Why: provisioning/datapart.py.
    say "read-only root: the software slots live on @DATA_LABEL@ too (@DATA_MOUNT@/@SLOTS_SUBDIR@ at $SLOTS)"
    grep -q '^@DATA_MOUNT@/@SLOTS_SUBDIR@ ' /etc/fstab || echo '@SLOTS_FSTAB_LINE@' >> /etc/fstab
    install -d -m 0755 -o root -g root @DATA_MOUNT@/@SLOTS_SUBDIR@ "$SLOTS"
    if mountpoint -q "$SLOTS"; then :
    elif [ -n "$(ls -A "$SLOTS")" ]; then
      say "$SLOTS already holds files on the root; move them away and run this again"; exit 1
    else mount "$SLOTS"; fi
  fi
fi

if [ -d "$BUNDLE/wheelhouse" ]; then
  say "installing the kiosk software from the bundle's wheelhouse (offline)"
  install -d -m 0755 /opt/kiosk
  # system site packages: picamera2 and libcamera come from Raspberry Pi OS itself
  [ -x "$VENV/bin/pip" ] || python3 -m venv --system-site-packages "$VENV"
  # a dlib wheel built against OpenBLAS (not dlib_bin) in the wheelhouse: use it, it is 3-4x faster
  extra=kiosk
  if ls "$BUNDLE"/wheelhouse/dlib-*.whl >/dev/null 2>&1; then extra=kiosk-blas; fi
  "$VENV/bin/pip" install --no-index --find-links "$BUNDLE/wheelhouse" "face-attendance[$extra,pi]"
elif [ ! -x "$VENV/bin/kiosk" ]; then
  say "no wheelhouse in the bundle and no kiosk installed at $VENV; rerun provision image with --wheelhouse"
  exit 1
fi
# kiosk.service starts $SLOTS/current; an update switches it (never reset here: a rerun keeps the running version)
[ -L "$SLOTS/current" ] || ln -s versions/factory "$SLOTS/current"
# the slot guard, beside the slots and run by the system Python, so no release can break it
"$VENV/bin/python" -c 'import shutil, sys, kiosk.slots; shutil.copyfile(kiosk.slots.__file__, sys.argv[1])' \
  "$SLOTS/slots.py"
chmod 0644 "$SLOTS/slots.py"
# the kiosk installs signed releases into new slots itself (kiosk/updater.py)
install -d -m 0755 -o kiosk -g kiosk "$SLOTS/versions"
chown -R kiosk:kiosk "$SLOTS/versions"
chown -h kiosk:kiosk "$SLOTS/current"
chown kiosk:kiosk "$SLOTS"

# The screen and the voice (KIOSK_APT_PACKAGES in provisioning/firstboot.py). They need the
# network once; without it the kiosk still runs (lights and buzzer) and the next boot tries again.
packages_ok=1
missing_packages=$(for pkg in @KIOSK_APT_PACKAGES@; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
  grep -q "install ok installed" || echo "$pkg"; done)
if [ -n "$missing_packages" ]; then
  say "installing the screen and voice packages: $missing_packages"
  # shellcheck disable=SC2086
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing_packages; }; then
    say "could not install $missing_packages (no network?); the kiosk runs without screen or voice until they are"
    packages_ok=0   # not marked done: the next boot tries again
  fi
fi
if command -v espeak-ng >/dev/null 2>&1; then
  say "making the voice clips in @VOICES_DIR@ (recorded clips already there are kept)"
  "$VENV/bin/kiosk" voices build --config /etc/kiosk/kiosk.yaml --out @VOICES_DIR@ || say "voice clips not made"
fi

say "allowing the kiosk user to restart time sync (self-healing of a clock that is off)"
install -d -m 0755 /etc/polkit-1/rules.d
cat > /etc/polkit-1/rules.d/50-kiosk-timesync.rules <<'RULES'
polkit.addRule(function (action, subject) {
  if (subject.user == "kiosk" && action.id == "org.freedesktop.systemd1.manage-units" &&
      action.lookup("unit") == "systemd-timesyncd.service" && action.lookup("verb") == "restart") {
    return polkit.Result.YES;
  }
});
RULES

say "allowing the kiosk user to reboot the device (the hub's remote 'reboot' command)"
install -d -m 0755 /etc/polkit-1/rules.d
cat > /etc/polkit-1/rules.d/50-kiosk-reboot.rules <<'RULES'
polkit.addRule(function (action, subject) {
  if (subject.user == "kiosk" && (action.id == "org.freedesktop.login1.reboot" ||
      action.id == "org.freedesktop.login1.reboot-multiple-sessions")) {
    return polkit.Result.YES;
  }
});
RULES

if [ -f "$BUNDLE/journald.conf" ]; then
  say "keeping the journal in RAM, bounded, so that logging does not wear out the SD card"
  install -d -m 0755 /etc/systemd/journald.conf.d
  install -m 0644 "$BUNDLE/journald.conf" /etc/systemd/journald.conf.d/50-kiosk.conf
  systemctl restart systemd-journald || true
fi

say "installing and enabling kiosk.service and kiosk-update.timer"
for unit in kiosk.service kiosk-update.service kiosk-update.timer; do
  install -m 0644 "$BUNDLE/systemd/$unit" "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable kiosk.service kiosk-update.timer
"$VENV/bin/kiosk" check-config /etc/kiosk/kiosk.yaml

# Time: a Pi without a real-time clock boots at the last saved time. From the next boot on,
# systemd-time-wait-sync holds time-sync.target (and kiosk.service, ordered after it) until
# NTP has synchronised the clock, at most clock.sync_wait_s; then the kiosk starts anyway and
# refuses punches ("clock not set") until the clock is synchronised (kiosk/clock.py).
sync_wait_s=$("$VENV/bin/python" -c "$SYNC_WAIT_QUERY" /etc/kiosk/kiosk.yaml)
DROPIN=/etc/systemd/system/systemd-time-wait-sync.service.d
if [ "$sync_wait_s" -gt 0 ]; then
  say "kiosk.service waits up to ${sync_wait_s} s at boot for network time"
  install -d -m 0755 "$DROPIN"
  printf '[Service]\n# kiosk.yaml clock.sync_wait_s\nTimeoutStartSec=%ss\n' "$sync_wait_s" > "$DROPIN/kiosk.conf"
  systemctl enable systemd-time-wait-sync.service
else
  say "clock.sync_wait_s is 0: kiosk.service does not wait for network time"
  rm -f "$DROPIN/kiosk.conf"
  systemctl disable systemd-time-wait-sync.service || true
fi
systemctl daemon-reload

say "removing the credentials from the boot partition"
rm -f "$BUNDLE/credentials/device.key" "$BUNDLE/credentials/mqtt.password" "$BUNDLE/credentials/mqtt-client.key"
install -d -m 0755 "$(dirname "$MARKER")"
if [ "$packages_ok" = 1 ]; then touch "$MARKER"; fi
if [ "$readonly_root" = 1 ] && [ "$packages_ok" = 1 ]; then
  # Last: from the next boot on, writes to / go to RAM (the marker above is already on the card).
  say "turning on the read-only (overlay) root and rebooting into it"
  raspi-config nonint enable_overlayfs
  # raspi-config writes overlayroot=tmpfs into cmdline.txt, and overlayroot's default (recurse=1) then puts
  # every other partition of /etc/fstab under a RAM overlay too (raspberrypi/bookworm-feedback#137): the
  # outbox and the software slots on @DATA_LABEL@ would be lost at each reboot. recurse=0: the root only.
  sed -i -E '@OVERLAY_ROOT_ONLY@' @CMDLINE@
  if ! grep -qE '(^| )overlayroot=tmpfs:recurse=0( |$)' @CMDLINE@; then
    say "cannot limit the overlay to the root in @CMDLINE@ ($(grep -oE 'overlayroot=[^ ]*' @CMDLINE@ || true))"
    say "leaving the root writable instead, so that no punch is lost at a reboot"
    sed -i -E 's/(^| )overlayroot=[^ ]*//' @CMDLINE@
    systemctl start --no-block kiosk.service
    exit 1
  fi
  systemctl reboot
  exit 0
fi
systemctl start --no-block kiosk.service
say "done"
"""


def journald_conf(ram_mb: int = JOURNAL_RAM_MB) -> str:
    """A journald drop-in: logs in RAM only (``Storage=volatile``), at most ``ram_mb`` of it.

    An SD card wears out by writes, and a kiosk's journal is a steady
    trickle of them; what matters of its state reaches the hub as health,
    so losing the local log at a reboot is the cheaper loss. When the
    limit is reached journald drops the oldest entries (bounded, never a
    full RAM disk); nothing is forwarded to a syslog file on the card.
    """
    return (
        "# Written by the kiosk's first boot (provisioning/firstboot.py): the journal lives in RAM, bounded,\n"
        "# so logging does not wear out the SD card. Logs are lost at a reboot; health goes to the hub.\n"
        "[Journal]\n"
        "Storage=volatile\n"
        f"RuntimeMaxUse={ram_mb}M\n"
        f"RuntimeMaxFileSize={max(1, ram_mb // 4)}M\n"
        "ForwardToSyslog=no\n"
    )


def install_script() -> str:
    fills = {"@KIOSK_APT_PACKAGES@": " ".join(KIOSK_APT_PACKAGES), "@VOICES_DIR@": VOICES_DIR,
             "@READONLY_CONF@": READONLY_CONF, "@DATA_LABEL@": datapart.DATA_LABEL,
             "@DATA_MOUNT@": datapart.DATA_MOUNT, "@FSTAB_LINE@": datapart.fstab_line().strip(),
             "@SLOTS_SUBDIR@": datapart.SLOTS_SUBDIR, "@SLOTS_FSTAB_LINE@": datapart.slots_fstab_line().strip(),
             "@OVERLAY_ROOT_ONLY@": OVERLAY_ROOT_ONLY, "@CMDLINE@": CMDLINE}
    text = INSTALL_SH
    for key, value in fills.items():
        text = text.replace(key, value)
    return text


def firstrun_script(hostname: str, wifi: Wifi | None, connection_uuid: str) -> str:
    """For images without cloud-init: run once via ``systemd.run=`` in cmdline.txt, then reboot."""
    lines = [
        "#!/bin/bash",
        "# Written by `provision image` for Raspberry Pi OS images without cloud-init.",
        "set -eu",
        f"echo {shlex.quote(hostname)} > /etc/hostname",
        f"sed -i 's/^127\\.0\\.1\\.1.*/127.0.1.1\\t'{shlex.quote(hostname)}'/' /etc/hosts",
    ]
    if wifi is not None:
        conn = "/etc/NetworkManager/system-connections/kiosk-wifi.nmconnection"
        keyfile = (
            f"[connection]\nid=kiosk-wifi\nuuid={connection_uuid}\ntype=wifi\n\n"
            f"[wifi]\nmode=infrastructure\nssid={wifi.ssid}\n\n"
            f"[wifi-security]\nkey-mgmt=wpa-psk\npsk={wifi.psk}\n\n"
            "[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n"
        )
        lines += [
            f"install -m 0600 /dev/null {conn}",
            f"cat > {conn} <<'KIOSK_EOF'\n{keyfile}KIOSK_EOF",
            f"iw reg set {wifi.country.upper()} || true",
            "rfkill unblock wifi || true",
        ]
    lines += [
        f"install -m 0644 {BUNDLE_ON_PI}/systemd/{FIRSTBOOT_UNIT} /etc/systemd/system/{FIRSTBOOT_UNIT}",
        f"systemctl enable {FIRSTBOOT_UNIT}",
        f"rm -f {BOOT_MOUNT}/firstrun.sh",
        f"sed -i 's| systemd.run=.*||' {BOOT_MOUNT}/cmdline.txt",
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def cmdline_with_firstrun(cmdline: str) -> str:
    """cmdline.txt (one line) with the ``systemd.run=`` arguments appended once."""
    line = cmdline.strip().split(" systemd.run=")[0]
    return f"{line} {FIRSTRUN_ARGS}\n"
