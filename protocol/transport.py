"""When the MQTT link may go without TLS: the one rule the kiosk's and the hub's configs share.

Plaintext MQTT carries the login password and every punch readable, and
changeable, by anyone on the path, so ``mqtt.ca_file`` (TLS, the broker's
certificate checked against it and against ``mqtt.host``) is required
unless the broker is on this machine: tests, ``make demo`` and a hub beside
the broker on ``provision broker --plaintext-port`` (bound to 127.0.0.1)
never put those bytes on a network. Anything else needs
``mqtt.allow_plaintext: true``, written by hand or by ``provision device
--plaintext-mqtt``, so a plaintext fleet is a choice someone made.

The host is judged as written and never resolved: the config must not be
valid today and invalid tomorrow because DNS changed.
"""

import ipaddress
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError


class BrokerLink(Protocol):
    """The fields of a kiosk's or the hub's ``mqtt`` section this module reads."""

    host: str
    port: int
    ca_file: Path | None
    cert_file: Path | None
    allow_plaintext: bool


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``, RFC 6761) and loopback IP literals."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _tls_off_loopback(ca_file: Path | None, info: ValidationInfo) -> Path | None:
    """Refuse plaintext to a broker elsewhere unless allowed; reads ``host`` and
    ``allow_plaintext`` from ``info.data``, so both are declared before ``ca_file``."""
    host = info.data.get("host", "")
    if ca_file is None and not info.data.get("allow_plaintext") and not is_loopback_host(host):
        raise PydanticCustomError(
            "plaintext_mqtt",
            "needed for broker {host}, which is not this machine: without it the MQTT password and "
            "punches cross the network unencrypted. Set it to the broker's CA (ca.crt from `provision "
            "broker`), or set mqtt.allow_plaintext: true to accept plaintext",
            {"host": repr(host)},
        )
    return ca_file


# ``mqtt.allow_plaintext`` and ``mqtt.ca_file`` of both configs, declared in this order after ``host``.
AllowPlaintext = Annotated[bool, Field(
    description="connect without TLS (no ca_file) to a broker that is not on this machine; "
    "false: such a config is refused (plaintext to a loopback address is always accepted)"
)]
CaFile = Annotated[Path | None, Field(
    validate_default=True,
    description="broker CA certificate; enables TLS, and the broker's certificate must name `host`; "
    "required unless `host` is a loopback address or allow_plaintext is true",
), AfterValidator(_tls_off_loopback)]


def mode_line(link: BrokerLink) -> str:
    """One line for ``check-config``: TLS or plaintext, to where, and why plaintext is accepted."""
    where = f"{link.host}:{link.port}"
    if link.ca_file is not None:
        client = f", client certificate {link.cert_file}" if link.cert_file else ""
        checked = f"broker certificate checked against {link.ca_file} and the name {link.host}"
        return f"mqtt: TLS to {where}, {checked}{client}"
    if is_loopback_host(link.host):
        return f"mqtt: plaintext to {where} (loopback: never leaves this machine)"
    return f"mqtt: PLAINTEXT to {where} (mqtt.allow_plaintext): password and punches cross the network unencrypted"
