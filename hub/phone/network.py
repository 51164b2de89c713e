"""The optional office-network check of a phone punch: is the client address inside the site's networks?

A site may list the networks its office reaches the hub from
(``sites.phone_networks``, CIDR strings such as ``10.20.0.0/16`` or the
office's public ``203.0.113.0/28``). The address is the one
``hub.api.proxies`` resolved (forwarded-for believed only from trusted
proxies), so a phone cannot claim the office's address by a header. A punch
from outside the listed networks is flagged for the officer (or refused,
``phone.refuse_outside_network``); a site with no list is not checked.
"""

import ipaddress
from collections.abc import Sequence

MAX_NETWORKS = 64


def normalise_networks(values: Sequence[str]) -> list[str]:
    """The networks in canonical form; ValueError naming the first bad entry.

    Host bits are refused (``10.0.0.1/8`` is almost always a typo for
    ``10.0.0.0/8`` or ``10.0.0.1/32``), as are duplicates and more than
    ``MAX_NETWORKS`` entries.
    """
    if len(values) > MAX_NETWORKS:
        raise ValueError(f"at most {MAX_NETWORKS} networks, got {len(values)}")
    out: list[str] = []
    for value in values:
        try:
            net = ipaddress.ip_network(str(value).strip(), strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a network in CIDR form (e.g. 10.20.0.0/16): {exc}") from None
        if str(net) in out:
            raise ValueError(f"{value!r} is listed twice")
        out.append(str(net))
    return out


def is_inside(address: str | None, networks: Sequence[str]) -> bool:
    """Whether ``address`` (an IP, as resolved by the proxy middleware) is in any of ``networks``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in (ipaddress.ip_network(n) for n in networks) if net.version == ip.version)
