"""Mosquitto configuration for the fleet: logins, client ids, topics and TLS.

``provision broker`` writes, for Mosquitto 2.0's dynamic security plugin,
one user per device (user name = client id = ``device_id``) and one for the
hub, each device with a role naming its own topics only; and a TLS listener
with a small CA (``provisioning.tls``). Why the plugin and not
``password_file``/``acl_file``, established against Mosquitto 2.0.11
(tests/test_hostile_broker.py keeps it so):

- With ``acl_file``, a device holding its own credentials could log in
  with another device's client id, or ``hub-ingest``, and Mosquitto closed
  the victim's connection ("already connected, closing old connection"),
  firing its last will. ``use_username_as_clientid`` stops that, but it
  also renames every hub connection to ``hub`` (seen in the broker's log;
  the ingest worker
  opens ``<client_id>`` and ``<client_id>-out``, ``--workers N`` more), so
  the hub's connections would knock each other off. The plugin instead
  binds each device *user* to one client id (``clientid``) and refuses any
  other at CONNECT ("not authorised"), while the hub user keeps any id.
- ``acl_file`` in 2.0.11 grants every SUBSCRIBE (``#``, ``$share/hub/...``)
  and filters only on delivery: a device in the hub's shared group got
  nothing itself, but each punch the broker handed to its subscription was
  dropped, so the hub received 20 of 40 and kiosks waited on resends (the
  same with ``use_username_as_clientid``). The plugin checks subscriptions
  (``subscribeLiteral``), so they are refused and the hub gets all 40.
- The plugin does not expand ``%u`` in its ACLs (tested: a ``%u`` role
  matched nothing), hence one literal role per device.

The plugin reads its file only at start (tested: SIGHUP does not reload it),
so after regenerating the broker is restarted; the fleet then logs in again
at once, which is why passwords keep Mosquitto's own 101 PBKDF2 iterations.
Its hashes are the same PBKDF2-SHA512 as ``$7$`` password-file hashes, made
here so the IT laptop needs no mosquitto tools.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from protocol.topics import HUB_PUBLISHES, KIOSK_PUBLISHES, PREFIX, device_topic, is_device_id
from provisioning import bundle as bundles
from provisioning import tls
from provisioning.errors import BrokerConfigError, BundleError

# Mosquitto's own default (mosquitto_passwd). The passwords hashed here are random 192-bit tokens,
# which no amount of stretching makes harder to guess, while every iteration is paid by the
# single-threaded broker on every login: at 1000, 9,000 kiosks logging in at once took 55 s instead
# of 3 s (its listen queue overflowed and TCP retried later; benchmarks.broker_logins).
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12

DYNSEC_FILE = "dynamic-security.json"
LEGACY_PASSWORD_FILE = "passwd"  # written before the plugin; read once so no device is lost
CONF_FILE = "att.conf"
OPTIONS_FILE = "options.json"  # listeners and install folder, so a rerun (or retire) keeps them
HUB_PASSWORD_FILE = "hub-mqtt.password"
HUB_CLIENT_CERT = "hub-mqtt.crt"
HUB_CLIENT_KEY = "hub-mqtt.key"
# Found by the loader's library path on Debian and Raspberry Pi OS whatever the architecture.
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"
HUB_ROLE = "hub"
DEVICE_ROLE_PREFIX = "device-"
DEFAULT_ACL_ACCESS = {"publishClientSend": False, "publishClientReceive": False, "subscribe": False,
                      "unsubscribe": True}


def hash_password(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` PBKDF2-HMAC-SHA512 hash of ``password``."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``hashed`` (``$7$`` or ``$6$`` form) is the hash of ``password``."""
    parts = hashed.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[2]))
        elif len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode("utf-8") + salt).digest()
        else:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def parse_password_file(text: str) -> dict[str, str]:
    """``user:hash`` lines into a mapping; blank and ``#`` lines are skipped."""
    entries = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            user, sep, hashed = line.partition(":")
            if sep:
                entries[user] = hashed
    return entries


def device_role(device_id: str) -> dict[str, Any]:
    """The dynamic-security role of one device: publish its own kiosk topics, subscribe to and
    receive its own hub topics, by literal name (2.0.11 does not expand ``%u`` in these ACLs)."""
    acls = [_acl("publishClientSend", device_topic(device_id, kind)) for kind in KIOSK_PUBLISHES]
    for kind in HUB_PUBLISHES:
        topic = device_topic(device_id, kind)
        acls += [_acl("subscribeLiteral", topic), _acl("publishClientReceive", topic)]
    return {"rolename": f"{DEVICE_ROLE_PREFIX}{device_id}", "acls": acls}


def hub_role() -> dict[str, Any]:
    """The hub's role: every device topic, directly or through a shared subscription of any group."""
    dev = f"{PREFIX}/dev/#"
    return {"rolename": HUB_ROLE, "acls": [
        _acl("publishClientSend", dev),
        _acl("publishClientReceive", dev),
        _acl("subscribePattern", dev),
        _acl("subscribePattern", f"$share/+/{dev}"),
    ]}


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def dynsec_document(entries: dict[str, str], hub_user: str) -> dict[str, Any]:
    """The dynamic-security plugin's whole configuration for ``entries`` (user -> ``$7$`` hash).

    Everything is denied unless a role allows it, so a device may not subscribe to ``#`` or to
    ``$share/...``; each device is bound to the client id equal to its user name, so its
    credentials cannot take over another device's or the hub's session.
    """
    clients, roles = [], [hub_role()]
    for user in sorted(entries):
        client: dict[str, Any] = {"username": user, **_dynsec_password(user, entries[user])}
        if user == hub_user:
            client["roles"] = [{"rolename": HUB_ROLE}]
        else:
            role = device_role(user)
            roles.append(role)
            client |= {"clientid": user, "roles": [{"rolename": role["rolename"]}]}
        clients.append(client)
    return {"defaultACLAccess": DEFAULT_ACL_ACCESS, "clients": clients, "groups": [], "roles": roles}


def _dynsec_password(user: str, hashed: str) -> dict[str, Any]:
    """A ``$7$`` hash as the plugin stores it: the same PBKDF2-SHA512, fields apart."""
    parts = hashed.split("$")
    if hash_iterations(hashed) is None:
        raise BrokerConfigError(f"the password hash of {user!r} is not PBKDF2-SHA512 ($7$); give its bundle")
    return {"password": parts[4], "salt": parts[3], "iterations": int(parts[2])}


def parse_dynsec_document(text: str) -> dict[str, str]:
    """The users of a dynamic-security file with their passwords as ``$7$`` hashes."""
    try:
        clients = json.loads(text)["clients"]
        return {c["username"]: f"$7${c['iterations']}${c['salt']}${c['password']}" for c in clients if "password" in c}
    except (ValueError, KeyError, TypeError) as exc:
        raise BrokerConfigError(f"not a dynamic-security file written by provision broker: {exc!r}") from exc


@dataclass(frozen=True)
class BrokerOptions:
    """Where the broker listens (TLS always, plaintext only when asked, loopback by default) and
    where its files live on the broker host (the paths in ``att.conf``; the output folder if unset)."""

    tls_port: int = 8883
    require_client_certs: bool = False
    plaintext_port: int | None = None
    plaintext_bind: str = "127.0.0.1"
    install_dir: str | None = None


def options_for(out: Path, **changes: Any) -> BrokerOptions:
    """The options of the last run in ``out`` (defaults on the first) with ``changes``; a change
    of None keeps the saved value, a ``plaintext_port`` of 0 closes that listener again."""
    path = out / OPTIONS_FILE
    try:
        saved = BrokerOptions(**json.loads(path.read_text(encoding="utf-8"))) if path.exists() else BrokerOptions()
    except (ValueError, TypeError) as exc:
        raise BrokerConfigError(f"{path} is damaged ({exc}); delete it and give the broker options again") from exc
    merged = replace(saved, **{k: v for k, v in changes.items() if v is not None})
    return replace(merged, plaintext_port=merged.plaintext_port or None)


def auth_conf_lines(dynsec_file: Path) -> list[str]:
    """mosquitto.conf lines that hand logins, client ids and topics to the plugin with ``dynsec_file``."""
    return [
        "# Face-attendance fleet (generated by `provision broker`): logins, client ids and topics are",
        "# checked by the dynamic security plugin, which reads its file only at start: after",
        "# regenerating, restart mosquitto (a SIGHUP does not reload it).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {DYNSEC_PLUGIN}",
        f"plugin_opt_config_file {dynsec_file}",
    ]


def conf_text(where: Path, options: BrokerOptions) -> str:
    """A snippet for /etc/mosquitto/conf.d/; ``where`` is the folder of the other files on the broker host."""
    lines = auth_conf_lines(where / DYNSEC_FILE) + [
        "",
        "# TLS for kiosks and the hub: clients check this server's name against server.crt.",
        f"listener {options.tls_port}",
        f"cafile {where / tls.CA_CERT}",
        f"certfile {where / tls.SERVER_CERT}",
        f"keyfile {where / tls.SERVER_KEY}",
    ]
    if options.require_client_certs:
        lines.append("require_certificate true")
    if options.plaintext_port is not None:
        lines += ["", "# Plaintext (--plaintext-port), e.g. for a hub on this machine; same logins and ACL.",
                  f"listener {options.plaintext_port} {options.plaintext_bind}"]
    return "\n".join(lines) + "\n"


@dataclass
class BrokerPlan:
    """Who gets a login (user -> ``$7$`` hash), and why anything known was left out."""

    entries: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)


def plan_entries(
    *,
    bundle_passwords: dict[str, str],
    retired: Iterable[str],
    existing: dict[str, str],
    hub_active: set[str] | None,
    hub_user: str,
    hub_password: str,
    salt: Callable[[], bytes] = lambda: os.urandom(SALT_BYTES),
) -> BrokerPlan:
    """Decide who gets a login.

    Devices come from bundles (plain passwords, hashed here) and from the
    existing broker files (kept, so devices provisioned elsewhere are not
    lost). Left out: ``retired`` ones, and with ``hub_active`` (the hub's
    list) every device the hub does not hold as active. A hash that already
    matches the bundle's password is kept, so reruns change nothing.
    """
    if not is_device_id(hub_user):
        raise BrokerConfigError(f"invalid hub MQTT user {hub_user!r}")
    retired = set(retired)
    plan = BrokerPlan()
    for device_id in sorted((set(existing) | set(bundle_passwords)) - {hub_user}):
        if device_id in retired:
            plan.left_out.append((device_id, "retired"))
        elif hub_active is not None and device_id not in hub_active:
            plan.left_out.append((device_id, "not an active device at the hub"))
        elif not is_device_id(device_id):
            plan.left_out.append((device_id, "not a valid device id"))
        elif device_id.startswith(f"{hub_user}-"):
            plan.left_out.append((device_id, f"reserved for the hub's client ids ({hub_user}-...)"))
        else:
            plan.entries[device_id] = _hash_reusing(bundle_passwords.get(device_id), existing.get(device_id), salt)
            plan.devices.append(device_id)
    plan.entries[hub_user] = _hash_reusing(hub_password, existing.get(hub_user), salt)
    return plan


def _hash_reusing(password: str | None, old_hash: str | None, salt: Callable[[], bytes]) -> str:
    """The existing hash if it is of ``password`` at today's iteration count (so a rerun changes
    nothing), else a new one."""
    if password is None:
        assert old_hash is not None
        return old_hash
    if old_hash and hash_iterations(old_hash) == PBKDF2_ITERATIONS and verify_password(password, old_hash):
        return old_hash
    return hash_password(password, salt())


def hash_iterations(hashed: str) -> int | None:
    """The PBKDF2 iteration count of a ``$7$`` hash; None for any other form."""
    parts = hashed.split("$")
    if len(parts) == 5 and parts[1] == "7" and parts[2].isdigit():
        return int(parts[2])
    return None


def new_hub_password() -> str:
    return secrets.token_urlsafe(24)


def bundle_credentials(root: Path) -> tuple[dict[str, str], set[str], list[tuple[str, str]]]:
    """From the bundles under ``root``: MQTT passwords, retired ids, and unusable bundles with why."""
    passwords: dict[str, str] = {}
    retired: set[str] = set()
    problems: list[tuple[str, str]] = []
    if not root.is_dir():
        raise BrokerConfigError(f"{root} is not a folder of device bundles")
    for folder in sorted(p for p in root.iterdir() if (p / bundles.META_JSON).exists()):
        try:
            meta = bundles.read_meta(folder)
        except BundleError as exc:
            problems.append((folder.name, str(exc)))
            continue
        device_id = meta["device_id"]
        if meta.get("retired_at"):
            retired.add(device_id)
        elif not meta.get("registered_at"):
            problems.append((device_id, "never registered at the hub (rerun provision device)"))
        else:
            path = folder / bundles.CREDENTIALS / bundles.MQTT_PASSWORD
            try:
                passwords[device_id] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append((device_id, f"cannot read {path}: {exc.strerror or exc}"))
    return passwords, retired, problems


def write_broker_files(
    out: Path,
    *,
    devices_from: Path | None,
    hub_active: set[str] | None,
    broker_hosts: list[str],
    options: BrokerOptions,
    retire: Iterable[str] = (),
    hub_user: str = "hub",
) -> BrokerPlan:
    """(Re)generate the plugin's file, ``att.conf``, the CA and server certificate, the hub's password.

    The hub's password, the CA and the server key are made once and reused,
    so regenerating never logs out a running hub nor breaks the fleet's
    trust. ``broker_hosts`` are the names and addresses clients use for the
    broker (its certificate names them; may be empty on a rerun, which keeps
    the certificate's). ``options`` are saved in ``out`` for the next run.
    """
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    ca = tls.ensure_ca(out)
    if broker_hosts or not (out / tls.SERVER_CERT).exists():
        tls.ensure_server_cert(out, ca, broker_hosts)
    passwords, retired, problems = bundle_credentials(devices_from) if devices_from else ({}, set(), [])
    plan = plan_entries(
        bundle_passwords=passwords,
        retired=retired | set(retire),
        existing=_existing_entries(out),
        hub_active=hub_active,
        hub_user=hub_user,
        hub_password=_hub_password(out),
    )
    plan.left_out += problems
    if options.require_client_certs:
        _issue_client_certs(out, ca, devices_from, plan, hub_user)
    where = Path(options.install_dir or out).absolute()
    bundles.write_private_text(out / DYNSEC_FILE, json.dumps(dynsec_document(plan.entries, hub_user), indent=1))
    bundles.write_private_text(out / CONF_FILE, conf_text(where, options), mode=0o644)
    bundles.write_private_text(out / OPTIONS_FILE, json.dumps(asdict(options)) + "\n", mode=0o644)
    return plan


def _existing_entries(out: Path) -> dict[str, str]:
    """Users already given broker access: from the plugin's file, or the password file it replaced."""
    dynsec, legacy = out / DYNSEC_FILE, out / LEGACY_PASSWORD_FILE
    if dynsec.exists():
        return parse_dynsec_document(dynsec.read_text(encoding="utf-8"))
    if legacy.exists():
        return parse_password_file(legacy.read_text(encoding="utf-8"))
    return {}


def _hub_password(out: Path) -> str:
    path = out / HUB_PASSWORD_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = new_hub_password()
    bundles.write_private_text(path, password + "\n")
    return password


def _issue_client_certs(
    out: Path, ca: tls.Authority, devices_from: Path | None, plan: BrokerPlan, hub_user: str
) -> None:
    """A client certificate for the hub (in ``out``) and for each planned device with a bundle, once."""
    if not (out / HUB_CLIENT_CERT).exists():
        key_pem, cert_pem = tls.issue_client(ca, hub_user)
        bundles.write_private_text(out / HUB_CLIENT_KEY, key_pem)
        bundles.write_private_text(out / HUB_CLIENT_CERT, cert_pem, mode=0o644)
    for device_id in plan.devices:
        folder = devices_from / device_id if devices_from else None
        if folder is not None and (folder / bundles.META_JSON).exists() and not bundles.has_client_cert(folder):
            bundles.write_client_cert(folder, *tls.issue_client(ca, device_id))
