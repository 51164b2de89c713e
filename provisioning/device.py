"""Provision one device: identity, bundle, hub registration; and read the devices CSV of a batch.

The bundle is written before the hub is asked, so a registration that fails
half-way never loses the key the hub may already hold: the rerun reuses it.
``registered_at`` in provision.json is set only once the hub said yes;
``provision broker`` gives broker access only to such bundles.
"""

import csv
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from provisioning import bundle as bundles
from provisioning.errors import BundleError, ProvisionError
from provisioning.hubclient import HubClient, Registration

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceRequest:
    device_id: str
    site_id: str
    hostname: str | None = None


@dataclass(frozen=True)
class BundleOptions:
    """What every bundle of a run shares: where the broker is, the CA the kiosks trust, the camera kind.

    ``ca_file`` has no default: the CLI takes it from the broker folder and
    passes None only for ``--plaintext-mqtt``, so no caller gets a plaintext
    bundle by leaving it out.
    """

    hub_url: str
    mqtt_host: str
    ca_file: Path | None  # None: plaintext MQTT, allowed in kiosk.yaml (mqtt.allow_plaintext)
    mqtt_port: int | None = None  # default: 8883 with TLS, else 1883
    camera: str = "picamera2"
    timezone: str = "Asia/Kolkata"
    release_key: str | None = None  # base64 public release key (kiosk.yaml update.release_key); None: no updates


def provision_device(hub: HubClient, request: DeviceRequest, bundle_dir: Path, options: BundleOptions) -> Registration:
    """Make or reuse the identity in ``bundle_dir``, write the bundle, register at the hub."""
    bundles.check_device_id(request.device_id)
    identity = bundles.load_identity(bundle_dir, request.device_id)
    meta = bundles.read_meta(bundle_dir) if identity else {}
    if meta.get("retired_at"):
        raise BundleError(f"{bundle_dir} belongs to retired device {request.device_id}; use a new bundle folder")
    if meta.get("registered_at") and meta.get("site_id") != request.site_id:
        raise BundleError(
            f"{bundle_dir} was made for site {meta.get('site_id')!r}, not {request.site_id!r}; "
            "move a device between sites at the hub, or provision a new device id"
        )
    identity = identity or bundles.new_identity()
    meta = {
        **meta,
        "device_id": request.device_id,
        "site_id": request.site_id,
        "hub": options.hub_url,
        "public_key": identity.public_key,
        "hostname": request.hostname or meta.get("hostname") or default_hostname(request.device_id),
    }
    tls = options.ca_file is not None
    config = bundles.kiosk_config(
        request.device_id,
        request.site_id,
        options.mqtt_host,
        options.mqtt_port or (8883 if tls else 1883),
        tls=tls,
        camera=options.camera,
        timezone=options.timezone,
        release_key=options.release_key,
        hub_url=options.hub_url,
    )
    if bundles.has_client_cert(bundle_dir):  # issued by `provision broker --client-certs`; a rerun keeps it
        config["mqtt"] |= bundles.client_cert_config()
    bundles.write_bundle(bundle_dir, identity, config, meta, options.ca_file)
    result = hub.register_device(request.device_id, request.site_id, identity.public_key)
    if "registered_at" not in meta:
        meta["registered_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        bundles.write_meta(bundle_dir, meta)
    return result


def default_hostname(device_id: str) -> str:
    """A DNS-safe host name from the device id (``K.01_a`` -> ``kiosk-k-01-a``)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in device_id.lower()).strip("-")
    return f"kiosk-{cleaned}"[:63].rstrip("-")


def read_devices_csv(path: Path) -> list[tuple[str, DeviceRequest | str]]:
    """Rows of ``device_id,site_id[,hostname]`` as (label, request or reason it is bad).

    A bad row becomes a reason, not an exception: the other rows still run.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ProvisionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = {"device_id", "site_id"} - set(reader.fieldnames or [])
    if missing:
        raise ProvisionError(f"{path}: header must name device_id,site_id[,hostname]; missing {sorted(missing)}")
    rows: list[tuple[str, DeviceRequest | str]] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        device_id = (row.get("device_id") or "").strip()
        site_id = (row.get("site_id") or "").strip()
        label = f"line {line} ({device_id or 'no device_id'})"
        if not device_id or not site_id:
            rows.append((label, "device_id and site_id are both required"))
        elif device_id in seen:
            rows.append((label, f"device {device_id} appears twice in the file"))
        else:
            seen.add(device_id)
            rows.append((label, DeviceRequest(device_id, site_id, (row.get("hostname") or "").strip() or None)))
    return rows
