"""A device bundle: everything one kiosk needs to join the fleet, in one folder.

Layout (directories 0700, secrets 0600)::

    kiosk.yaml               the kiosk config, paths as installed on the Pi
    provision.json           device_id, site_id, hub, public key, hostname (no secrets)
    credentials/device.key   Ed25519 private key (PEM)
    credentials/mqtt.password
    credentials/mqtt-client.key, mqtt-client.crt
                             TLS client certificate, when the broker requires one
                             (added by ``provision broker --client-certs``)
    ca.crt                   broker CA certificate (``provision broker``'s); absent only
                             for a plaintext bundle (``--plaintext-mqtt``)

First boot (``firstboot.install_script``) copies it to ``/etc/kiosk``; the
paths inside ``kiosk.yaml`` are those, absolute, so the kiosk needs no
``$CREDENTIALS_DIRECTORY`` resolution and ``kiosk check-config`` works from
a shell on the Pi. The bundle is the only copy of the device's secrets on
the provisioning side: rerunning ``provision device`` reuses it.
"""

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import signing
from protocol.topics import is_device_id
from provisioning.errors import BundleError

# Where first boot installs the bundle on the Pi (see systemd/kiosk.service).
PI_CONFIG_DIR = Path("/etc/kiosk")
PI_CONFIG_FILE = PI_CONFIG_DIR / "kiosk.yaml"
PI_CREDENTIALS_DIR = PI_CONFIG_DIR / "credentials"
PI_STATE_DIR = Path("/var/lib/kiosk")

KIOSK_YAML = "kiosk.yaml"
META_JSON = "provision.json"
CREDENTIALS = "credentials"
DEVICE_KEY = "device.key"
MQTT_PASSWORD = "mqtt.password"
CA_CERT = "ca.crt"
CLIENT_KEY = "mqtt-client.key"
CLIENT_CERT = "mqtt-client.crt"


@dataclass(frozen=True)
class Identity:
    key: Ed25519PrivateKey
    mqtt_password: str

    @property
    def public_key(self) -> str:
        return signing.public_key_b64(self.key)


def kiosk_config(
    device_id: str,
    site_id: str,
    mqtt_host: str,
    mqtt_port: int,
    tls: bool,
    camera: str = "picamera2",
    timezone: str = "Asia/Kolkata",
    release_key: str | None = None,
    hub_url: str | None = None,
) -> dict[str, Any]:
    """The kiosk.yaml content, with the paths first boot installs to.

    Without ``tls`` it says ``allow_plaintext: true``: the operator asked for
    plaintext (``--plaintext-mqtt``), and the kiosk refuses plaintext to a
    broker elsewhere without it. With ``release_key`` (the public release
    key) the kiosk takes signed updates from ``hub_url``.
    """
    mqtt: dict[str, Any] = {
        "host": mqtt_host,
        "port": mqtt_port,
        "username": device_id,
        "password_file": str(PI_CREDENTIALS_DIR / MQTT_PASSWORD),
    }
    if tls:
        mqtt["ca_file"] = str(PI_CONFIG_DIR / CA_CERT)
    else:
        mqtt["allow_plaintext"] = True
    config = {
        "device_id": device_id,
        "site_id": site_id,
        "state_dir": str(PI_STATE_DIR),
        "signing_key_file": str(PI_CREDENTIALS_DIR / DEVICE_KEY),
        "timezone": timezone,
        "mqtt": mqtt,
        "camera": {"kind": camera},
        "indicators": {},  # the LEDs and buzzer of hardware/README.md on their default pins
    }
    if release_key:  # signed updates from the hub (kiosk/updater.py); only releases this key signed
        config["update"] = {"release_key": release_key, "hub_url": hub_url}
    return config


def check_device_id(device_id: str) -> None:
    if not is_device_id(device_id):
        raise BundleError(
            f"invalid device id {device_id!r}: letters, digits, '_', '.', '-' only, up to 64, "
            "starting with a letter or digit (it becomes an MQTT topic level and username)"
        )


def load_identity(bundle: Path, device_id: str) -> Identity | None:
    """The identity of an existing bundle in ``bundle``, None when there is none yet.

    The key is the last file ``write_bundle`` writes and the hub is asked
    only after it, so without a key there is nothing to keep. With one,
    refuses a bundle made for another device or a damaged one rather than
    silently making a new key (that would orphan the registered one).
    """
    key_path = bundle / CREDENTIALS / DEVICE_KEY
    password_path = bundle / CREDENTIALS / MQTT_PASSWORD
    if not key_path.exists():
        return None
    meta = read_meta(bundle)
    if meta.get("device_id") != device_id:
        raise BundleError(f"{bundle} holds the bundle of device {meta.get('device_id')!r}, not {device_id!r}")
    try:
        key = signing.load_private_key(key_path)
        password = password_path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:
        raise BundleError(f"{bundle} has an unreadable identity: {exc}") from exc
    if not password:
        raise BundleError(f"{password_path} is empty")
    return Identity(key, password)


def new_identity() -> Identity:
    return Identity(signing.generate_private_key(), secrets.token_urlsafe(24))


def read_meta(bundle: Path) -> dict[str, Any]:
    path = bundle / META_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a device bundle ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("device_id"), str):
        raise BundleError(f"{path}: device_id missing")
    return meta


def write_bundle(
    bundle: Path,
    identity: Identity,
    config: dict[str, Any],
    meta: dict[str, Any],
    ca_file: Path | None = None,
) -> None:
    """Write (or rewrite) every file of the bundle with tight modes.

    The CA is checked before anything is written, and provision.json goes
    first: a run cut short leaves either no key (the rerun makes one) or a
    complete, reusable identity.
    """
    ca = None
    if ca_file is not None:
        try:
            ca = Path(ca_file).read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read the CA certificate {ca_file}: {exc.strerror or exc}") from exc
        if b"-----BEGIN CERTIFICATE-----" not in ca:
            raise BundleError(f"{ca_file} is not a PEM certificate")
    _mkdir_private(bundle)
    _mkdir_private(bundle / CREDENTIALS)
    write_meta(bundle, meta)
    write_private_text(bundle / KIOSK_YAML, yaml.safe_dump(config, sort_keys=False))
    if ca is not None:
        write_private_text(bundle / CA_CERT, ca.decode("ascii"))
    else:  # a bundle rewritten for plaintext: no CA the image would install and nothing uses
        (bundle / CA_CERT).unlink(missing_ok=True)
    write_private_text(bundle / CREDENTIALS / MQTT_PASSWORD, identity.mqtt_password + "\n")
    signing.write_private_key(identity.key, bundle / CREDENTIALS / DEVICE_KEY)
    os.chmod(bundle / CREDENTIALS / DEVICE_KEY, 0o600)  # also when it existed with looser modes


def has_client_cert(bundle: Path) -> bool:
    return (bundle / CREDENTIALS / CLIENT_CERT).exists()


def write_client_cert(bundle: Path, key_pem: str, cert_pem: str) -> None:
    """Add a TLS client certificate to the bundle and point its kiosk.yaml at it (installed paths)."""
    config_path = bundle / KIOSK_YAML
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"cannot read {config_path}: {exc}") from exc
    write_private_text(bundle / CREDENTIALS / CLIENT_KEY, key_pem)
    write_private_text(bundle / CREDENTIALS / CLIENT_CERT, cert_pem)
    config["mqtt"] |= client_cert_config()
    write_private_text(config_path, yaml.safe_dump(config, sort_keys=False))


def client_cert_config() -> dict[str, str]:
    """The ``mqtt`` keys of a bundle's client certificate, as installed on the Pi."""
    return {"cert_file": str(PI_CREDENTIALS_DIR / CLIENT_CERT), "key_file": str(PI_CREDENTIALS_DIR / CLIENT_KEY)}


def mark_retired(bundle: Path) -> None:
    """Record in provision.json that the device is retired: no broker access, no new image."""
    meta = read_meta(bundle)
    meta.setdefault("retired_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_meta(bundle, meta)


def write_meta(bundle: Path, meta: dict[str, Any]) -> None:
    write_private_text(bundle / META_JSON, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def write_private_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Write atomically (temp file + rename), the file created with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _mkdir_private(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
