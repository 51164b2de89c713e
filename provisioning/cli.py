"""``provision``: device identity and bundles, SD-card images, broker credentials.

Each subcommand parses its arguments, calls one function of this package and
prints what happened. Secrets (hub admin token, Wi-Fi passphrase) are read
from files, never taken from the command line where ``ps`` and shell
history would keep them.
"""

import argparse
import functools
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
import yaml

from kiosk.config import UpdateConfig
from protocol.settings import ConfigError, read_secret
from provisioning import batch, broker, datapart, device, firstboot, handover, image, oldcard, release, replace
from provisioning import tls
from provisioning import bundle as bundles
from provisioning import cards as cards_module
from provisioning.cards import CardMaker
from provisioning.errors import ProvisionError
from provisioning.hubclient import HubClient
from provisioning.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_BROKER_DIR = "broker"  # beside the bundles folder, as in provisioning/README.md


def _hub_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--hub", required=required, metavar="URL", help="hub base URL, e.g. https://hub.example.org")
    p.add_argument("--token-file", type=Path, metavar="F", help="file holding the hub's admin bearer token")


def _bundle_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt-host", metavar="H", help="broker host the kiosk connects to (default: the hub's host)")
    p.add_argument("--mqtt-port", type=int, metavar="P", help="broker port (default 8883; 1883 with --plaintext-mqtt)")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--broker-dir", type=Path, metavar="DIR",
                       help="the `provision broker --out` folder, whose ca.crt goes into the bundle (default: "
                            f"{DEFAULT_BROKER_DIR}/ beside the bundles folder: device --out bundles/K-1 or "
                            f"batch --out bundles -> {DEFAULT_BROKER_DIR}/)")
    trust.add_argument("--ca-file", type=Path, metavar="F", help="the broker's CA certificate (PEM), from elsewhere")
    trust.add_argument("--plaintext-mqtt", action="store_true",
                       help="no TLS: the kiosk sends its MQTT password and punches unencrypted (a lab broker)")
    p.add_argument("--camera", default="picamera2", choices=["picamera2", "opencv", "replay"], help="camera backend")
    p.add_argument("--timezone", default="Asia/Kolkata", help="IANA time zone of the site")
    p.add_argument("--release-key", type=Path, metavar="F.pub",
                   help="public release key (`provision release keygen` writes it): kiosks install only releases "
                        "signed with its private half; without it they take no updates")


def _image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wheelhouse", type=Path, metavar="DIR", help="wheels to install the kiosk from, offline")
    p.add_argument("--wifi-ssid", metavar="SSID", help="Wi-Fi network name")
    p.add_argument("--wifi-password-file", type=Path, metavar="F", help="file holding the Wi-Fi passphrase")
    p.add_argument("--wifi-country", default="IN", metavar="CC", help="Wi-Fi regulatory country (default IN)")
    p.add_argument("--admin-user", metavar="U", help="also create this sudo user, SSH key only (cloud-init images)")
    p.add_argument("--ssh-key-file", type=Path, metavar="F", help="public SSH key for --admin-user")
    p.add_argument("--firstrun", action="store_true", help="also write firstrun.sh for images without cloud-init")
    p.add_argument("--units-dir", type=Path, default=image.DEFAULT_UNITS_DIR, help="folder with the unit files")
    p.add_argument("--read-only-root", action="store_true",
                   help="run the root read-only (Raspberry Pi OS overlay); outbox and gallery, and with signed "
                        "updates the software slots, on an added writable partition (provisioning/README.md)")
    p.add_argument("--data-mb", type=int, metavar="MB",
                   help="with --read-only-root: size of the writable kiosk-data partition (default "
                        f"{datapart.default_data_mb(0)}; {datapart.default_data_mb(UpdateConfig().keep_versions)} "
                        "for a bundle with signed updates, whose software slots live there too)")
    p.add_argument("--root-room-mb", type=int, default=2048, metavar="MB",
                   help="with --read-only-root: free space left after the root for it to grow into (default 2048)")


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hub-user", default="hub", help="the hub's MQTT username (default: hub)")
    p.add_argument("--broker-host", action="append", default=[], metavar="NAME",
                   help="a host name or IP clients use for the broker; named in its TLS certificate "
                        "(repeat for several; needed on the first run, kept on reruns without it)")
    # These options are kept in the output folder: a rerun or `retire` without them changes nothing.
    p.add_argument("--install-dir", type=Path, metavar="DIR",
                   help="where the broker files go on the broker host (the paths in att.conf)")
    p.add_argument("--tls-port", type=int, metavar="P", help="TLS listener port (default 8883)")
    p.add_argument("--client-certs", action=argparse.BooleanOptionalAction,
                   help="require a TLS client certificate too; issues one for the hub and each bundle")
    p.add_argument("--plaintext-port", type=int, metavar="P",
                   help="also open a plaintext listener (off by default; 0 closes it again), "
                        "e.g. for a hub on the broker host")
    p.add_argument("--plaintext-bind", metavar="ADDR",
                   help="address of the plaintext listener (default 127.0.0.1: this machine only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provision", description="Device identity and bundles, SD-card images, broker credentials."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("device", help="make a device identity, register it at the hub, write its bundle")
    p.add_argument("--device-id", required=True, metavar="D", help="the kiosk's id (also its MQTT username)")
    p.add_argument("--site", required=True, metavar="S", help="the site the kiosk stands at")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="bundle folder (reused when rerun)")
    p.add_argument("--hostname", help="host name for the image (default kiosk-<device id>)")
    _hub_args(p)
    _bundle_args(p)

    p = sub.add_parser("batch", help="provision every device of a CSV (device_id,site_id[,hostname]), "
                                      "with --image also its card image")
    p.add_argument("csv", type=Path, help="the devices file")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="one bundle per device in DIR/<device_id>, its card in DIR/<device_id>.img")
    p.add_argument("--image", type=Path, metavar="IMG",
                   help="the uncompressed Raspberry Pi OS image every card is made from (only read)")
    p.add_argument("--card-reader", type=Path, metavar="DEV",
                   help="with --image: write each card straight onto the SD card in this reader (e.g. /dev/sdb; "
                        "asks for each card, reads it back to check) instead of a card file")
    p.add_argument("--max-cards", type=int, metavar="N",
                   help="with --image: write at most N card files this run (the rest: a later run), so a batch "
                        "fits the disk in chunks; flash them, then rerun with --flashed")
    p.add_argument("--flashed", type=Path, nargs="+", metavar="CARD",
                   help="card files (DIR/<device_id>.img) already flashed: recorded in cards.json as made, then "
                        "deleted, before this run's cards are made; a rerun does not remake them")
    p.add_argument("--hub-user", default="hub", help="the hub's MQTT username in the broker files (default: hub)")
    _hub_args(p)
    _bundle_args(p)
    _image_args(p)

    p = sub.add_parser("image", help="write a bundle and first-boot config into a Raspberry Pi OS image")
    p.add_argument("--image", required=True, type=Path, help="the uncompressed .img file (changed in place)")
    p.add_argument("--bundle", required=True, type=Path, metavar="DIR", help="the device bundle")
    p.add_argument("--hostname", help="host name (default: the bundle's)")
    _image_args(p)

    p = sub.add_parser("replace", help="a new kiosk in a dead one's place: same site, its unacked punches "
                                        "delivered, the old identity retired at the hub and the broker")
    p.add_argument("old", help="the dead kiosk's device id (its bundle must be in --out)")
    p.add_argument("new", help="the replacement's device id")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="the bundles folder (batch --out): DIR/OLD is read, DIR/NEW written")
    p.add_argument("--old-card", type=Path, metavar="IMG",
                   help="the old kiosk's SD card (a card reader's device, e.g. /dev/sdb, or an image of it), "
                        "to deliver the punches still waiting on it")
    p.add_argument("--image", type=Path, metavar="IMG", help="also make the new kiosk's card, DIR/NEW.img, from this")
    p.add_argument("--handover-timeout", type=float, default=60.0, metavar="S",
                   help="how long to wait for the hub's acks of the old punches (default 60)")
    p.add_argument("--hub-user", default="hub", help="the hub's MQTT username in the broker files (default: hub)")
    _hub_args(p)
    _bundle_args(p)
    _image_args(p)

    p = sub.add_parser("broker", help="write the Mosquitto logins, ACL, TLS certificates and config snippet")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for dynamic-security.json, att.conf, the CA and the server certificate")
    p.add_argument("--devices-from", type=Path, metavar="DIR", help="folder of device bundles (batch --out)")
    _hub_args(p, required=False)
    _broker_args(p)

    rel = sub.add_parser("release", help="the offline release key and signed kiosk releases (run away from the hub)")
    rel_sub = rel.add_subparsers(dest="release_command", required=True, metavar="ACTION")
    p = rel_sub.add_parser("keygen", help="make the release key (0600) and KEY.pub, the public half for the cards")
    p.add_argument("--key", required=True, type=Path, metavar="F", help="where to write the private key")
    p = rel_sub.add_parser("build", help="a release folder: the wheelhouse and manifest.json signed with the key")
    p.add_argument("--wheelhouse", required=True, type=Path, metavar="DIR", help="the kiosk's wheels")
    p.add_argument("--version", required=True, help="the version the release installs (the kiosk's __version__)")
    p.add_argument("--key", required=True, type=Path, metavar="F", help="the private release key")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the release folder (new or empty)")
    p = rel_sub.add_parser("verify", help="check a release folder as a kiosk does: signature, then every file")
    p.add_argument("folder", type=Path)
    p.add_argument("--release-key", required=True, type=Path, metavar="F.pub", help="the public release key")

    p = sub.add_parser("retire", help="retire a device at the hub and shut it out of the broker")
    p.add_argument("device_id", help="the device to retire")
    p.add_argument("--broker-dir", required=True, type=Path, metavar="DIR", help="the `provision broker --out` folder")
    p.add_argument("--devices-from", type=Path, metavar="DIR", help="folder of device bundles, to mark it retired")
    _hub_args(p)
    _broker_args(p)
    return parser


def main(argv: list[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Run the CLI; ``transport`` lets tests put an ``httpx.MockTransport`` in front of the hub."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        with httpx.Client(transport=transport, timeout=30.0) as http:
            return COMMANDS[args.command](args, http)
    except (ProvisionError, ConfigError, ValueError, OSError) as exc:
        print(f"provision {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _hub(args: argparse.Namespace, http: httpx.Client) -> HubClient:
    token = read_secret(args.token_file, "hub admin token") if args.token_file else None
    return HubClient(http, args.hub, token)


def _options(args: argparse.Namespace, bundles_folder: Path) -> device.BundleOptions:
    """The shared bundle options; ``bundles_folder`` holds the bundles, the broker folder is beside it."""
    host = args.mqtt_host or urlparse(args.hub).hostname
    if not host:
        raise ProvisionError(f"cannot tell the broker host from --hub {args.hub!r}; pass --mqtt-host")
    if args.plaintext_mqtt:
        print(f"provision {args.command}: warning: --plaintext-mqtt: kiosks will send their MQTT password and "
              f"punches unencrypted to {host}:{args.mqtt_port or 1883} (their kiosk.yaml says "
              "mqtt.allow_plaintext: true); `provision broker` opens a plaintext listener only with "
              "--plaintext-port, on 127.0.0.1 unless --plaintext-bind", file=sys.stderr)
    ca_file = None if args.plaintext_mqtt else _broker_ca(args, bundles_folder)
    release_key = release.read_public_key(args.release_key) if args.release_key else None
    return device.BundleOptions(args.hub, host, ca_file, args.mqtt_port, args.camera, args.timezone, release_key)


def _broker_ca(args: argparse.Namespace, bundles_folder: Path) -> Path:
    """The CA the kiosks will trust: --ca-file, else the broker folder's, checked before any bundle is written."""
    if args.ca_file:
        return args.ca_file
    broker_dir = args.broker_dir or bundles_folder.parent / DEFAULT_BROKER_DIR
    ca_file = broker_dir / tls.CA_CERT
    if not ca_file.is_file():
        raise ProvisionError(
            f"no broker CA at {ca_file}: run `provision broker --out {broker_dir} --broker-host NAME` first "
            "(it makes the CA kiosks trust), or point --broker-dir or --ca-file at it; "
            "--plaintext-mqtt only for a broker without TLS"
        )
    return ca_file


def cmd_device(args: argparse.Namespace, http: httpx.Client) -> int:
    request = device.DeviceRequest(args.device_id, args.site, args.hostname)
    options = _options(args, bundles_folder=args.out.parent)
    outcome = device.provision_device(_hub(args, http), request, args.out, options)
    print(f"{args.device_id}: {outcome.value}; bundle in {args.out}")
    return 0


def cmd_batch(args: argparse.Namespace, http: httpx.Client) -> int:
    rows = device.read_devices_csv(args.csv)
    options = _options(args, bundles_folder=args.out)
    for option, given in (("--card-reader", args.card_reader), ("--max-cards", args.max_cards),
                          ("--flashed", args.flashed)):
        if given and not args.image:
            raise ProvisionError(f"{option} needs --image, the base image the cards are made from")
    if args.card_reader and (args.max_cards or args.flashed):
        raise ProvisionError("--max-cards and --flashed are for card files; --card-reader makes none")
    cards = None
    if args.image:
        cards = CardMaker(_image_request(args, args.image, bundle=args.out), args.out, args.card_reader,
                          _ask_for_card(args.card_reader) if args.card_reader else None, args.max_cards).open()
        if args.flashed:
            print(f"recorded as flashed, files deleted: {len(cards.mark_flashed(args.flashed))} cards")
    hub = _hub(args, http)
    result = batch.provision_batch(hub, rows, args.out, options, cards, Progress(len(rows)))
    broker_dir = _broker_dir_to_refresh(args, args.out)
    if broker_dir is not None:
        plan = _refresh_broker(hub, broker_dir, args.out, args.hub_user)
        print(f"broker files in {broker_dir}: {len(plan.devices)} devices; restart mosquitto to apply")
    elif not args.ca_file and not args.plaintext_mqtt:
        print(f"broker logins not regenerated: no {broker.OPTIONS_FILE} in the broker folder; run "
              f"`provision broker --devices-from {args.out} --out DIR` (once with --broker-host)")
    if args.image:
        print(result.table())
        print(f"checksums in {args.out / cards_module.CHECKSUMS} (sha256sum -c)")
    print(result.summary())
    if result.deferred:
        print(f"{len(result.deferred)} cards left to make: flash the card files in {args.out}, then run this "
              f"command again with --flashed {args.out}/*{cards_module.CARD_SUFFIX}")
    return 1 if result.failed else 0


def _ask_for_card(reader: Path) -> Callable[[str], bool]:
    """Asks, on the terminal, for the next device's card to be put into ``reader``; False to skip it."""

    def ready(device_id: str) -> bool:
        answer = input(f"\nput the SD card for {device_id} into {reader}, then press Enter (s, Enter: skip it) ")
        return answer.strip().lower() not in ("s", "skip")

    return ready


def _broker_dir_to_refresh(args: argparse.Namespace, bundles_folder: Path) -> Path | None:
    """The `provision broker` folder whose logins a batch regenerates: the one its CA came from,
    if `provision broker` has written its files there (its options.json); None with --ca-file."""
    if args.ca_file or (args.plaintext_mqtt and not args.broker_dir):
        return None
    broker_dir = args.broker_dir or bundles_folder.parent / DEFAULT_BROKER_DIR
    return broker_dir if (broker_dir / broker.OPTIONS_FILE).exists() else None


def _refresh_broker(
    hub: HubClient, broker_dir: Path, devices_from: Path, hub_user: str, retire: tuple[str, ...] = ()
) -> broker.BrokerPlan:
    """Regenerate the broker's logins and ACL from the bundles, with the options saved in ``broker_dir``."""
    hub_active = {d.device_id for d in hub.list_devices() if not d.retired}
    return broker.write_broker_files(broker_dir, devices_from=devices_from, hub_active=hub_active, broker_hosts=[],
                                     options=broker.options_for(broker_dir), retire=retire, hub_user=hub_user)


def _image_request(args: argparse.Namespace, image_path: Path, bundle: Path) -> image.ImageRequest:
    """The image options of ``provision image`` and ``batch --image``; secrets read from their files."""
    wifi = None
    if args.wifi_ssid:
        if not args.wifi_password_file:
            raise ProvisionError("--wifi-ssid needs --wifi-password-file (the passphrase is never taken from argv)")
        passphrase = args.wifi_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        wifi = firstboot.Wifi(args.wifi_ssid, passphrase, args.wifi_country)
    ssh_key = None
    if args.admin_user:
        if not args.ssh_key_file:
            raise ProvisionError("--admin-user needs --ssh-key-file (no password logins)")
        ssh_key = args.ssh_key_file.read_text(encoding="utf-8").strip()
    if args.read_only_root and args.data_mb is not None and getattr(args, "release_key", None):
        # the bundles will take signed updates: a --data-mb too small for the slots fails every card, so say it now
        datapart.check_data_mb(args.data_mb, UpdateConfig().keep_versions)
    return image.ImageRequest(image_path, bundle, getattr(args, "hostname", None), wifi, args.wheelhouse,
                              args.admin_user, ssh_key, args.firstrun, args.units_dir,
                              args.read_only_root, args.data_mb, args.root_room_mb)


def cmd_replace(args: argparse.Namespace, http: httpx.Client) -> int:
    options = _options(args, bundles_folder=args.out)
    broker_dir = _broker_dir_to_refresh(args, args.out)
    if broker_dir is None:
        raise ProvisionError("replace regenerates the broker's logins: give --broker-dir, the `provision broker "
                             "--out` folder (its options.json must be there), not --ca-file")
    cards = CardMaker(_image_request(args, args.image, bundle=args.out), args.out).open() if args.image else None
    hub = _hub(args, http)
    read_card = None
    if args.old_card:
        bundles.read_meta(args.out / args.old)  # "not a device bundle" before anything else about it
        state_dir = _old_state_dir(args.out / args.old)
        scratch = Path(tempfile.mkdtemp(prefix="provision-oldcard-"))
        read_card = functools.partial(oldcard.read_unacked, args.old_card, state_dir, scratch)
    port = options.mqtt_port or (8883 if options.ca_file else 1883)

    def deliver(bundle_dir: Path, rows: list[tuple[str, bytes]]) -> handover.Delivery:
        return handover.deliver(bundle_dir, rows, options.mqtt_host, port, args.handover_timeout)

    try:
        result = replace.replace_device(hub, args.old, args.new, args.out, options, deliver, read_card)
    finally:
        if args.old_card:
            shutil.rmtree(scratch, ignore_errors=True)
    for line in result.lines():
        print(line)
    plan = _refresh_broker(hub, broker_dir, args.out, args.hub_user, retire=(args.old,))
    print(f"broker files in {broker_dir}: {len(plan.devices)} devices, {args.old} left out; restart mosquitto to apply")
    if cards is not None:
        card = cards.make(args.out / args.new)
        print(f"card {card.path} ({'written' if card.written else 'unchanged'}) sha256 {card.sha256}")
    return 0


def _old_state_dir(old_bundle: Path) -> Path:
    """Where the old kiosk kept its outbox: its kiosk.yaml's state_dir, as installed."""
    try:
        config = yaml.safe_load((old_bundle / bundles.KIOSK_YAML).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProvisionError(f"cannot read {old_bundle / bundles.KIOSK_YAML}: {exc}") from exc
    return Path(config.get("state_dir") or bundles.PI_STATE_DIR)


def cmd_image(args: argparse.Namespace, http: httpx.Client) -> int:
    request = _image_request(args, args.image, args.bundle)
    partition, written = image.write_image(request)
    print(f"wrote {len(written)} files to partition {partition.number} of {args.image}:")
    for path in written:
        print(f"  {path}")
    return 0


def cmd_broker(args: argparse.Namespace, http: httpx.Client) -> int:
    if not args.devices_from and not args.hub:
        raise ProvisionError("give --devices-from DIR (bundles) and/or --hub URL (to drop retired devices)")
    return _write_broker(args, http, retire=())


def cmd_retire(args: argparse.Namespace, http: httpx.Client) -> int:
    bundles.check_device_id(args.device_id)
    hub = _hub(args, http)
    hub.retire_device(args.device_id)
    print(f"{args.device_id}: retired at the hub")
    folder = args.devices_from / args.device_id if args.devices_from else None
    if folder is not None and (folder / bundles.META_JSON).exists():
        bundles.mark_retired(folder)
    return _write_broker(args, http, retire=(args.device_id,), out=args.broker_dir)


def _write_broker(
    args: argparse.Namespace, http: httpx.Client, retire: tuple[str, ...], out: Path | None = None
) -> int:
    hub_active = None
    if args.hub:
        hub_active = {d.device_id for d in _hub(args, http).list_devices() if not d.retired}
    install_dir = str(args.install_dir) if args.install_dir else None
    options = broker.options_for(out or args.out, tls_port=args.tls_port, require_client_certs=args.client_certs,
                                 plaintext_port=args.plaintext_port, plaintext_bind=args.plaintext_bind,
                                 install_dir=install_dir)
    plan = broker.write_broker_files(
        out or args.out,
        devices_from=args.devices_from,
        hub_active=hub_active,
        broker_hosts=args.broker_host,
        options=options,
        retire=retire,
        hub_user=args.hub_user,
    )
    print(f"broker files in {out or args.out}: {len(plan.devices)} devices + hub user {args.hub_user!r}; "
          f"TLS on port {options.tls_port}; restart mosquitto to apply")
    for device_id, why in plan.left_out:
        print(f"  left out {device_id}: {why}")
    return 0


def cmd_release(args: argparse.Namespace, http: httpx.Client) -> int:
    if args.release_command == "keygen":
        public = release.keygen(args.key)
        print(f"release key in {args.key} (keep it offline); public key in {release.public_file(args.key)}: {public}")
        return 0
    if args.release_command == "build":
        built = release.build(args.wheelhouse, args.version, args.key, args.out)
        print(f"release {built.manifest.version}: {len(built.manifest.files)} files signed in {built.folder}")
        return 0
    try:
        manifest = release.verify(args.folder, release.read_public_key(args.release_key))
    except ValueError as exc:
        print(f"provision release verify: REFUSED: {exc}", file=sys.stderr)
        return 1
    print(f"release {manifest.version}: signature and {len(manifest.files)} files good")
    return 0


COMMANDS = {
    "release": cmd_release,
    "device": cmd_device,
    "batch": cmd_batch,
    "image": cmd_image,
    "broker": cmd_broker,
    "retire": cmd_retire,
    "replace": cmd_replace,
}


if __name__ == "__main__":
    sys.exit(main())
