"""MQTT topics of the ``att/v1`` contract, built and parsed in one place.

The broker ACL (provisioning) relies on every device topic living under
``att/v1/dev/{device_id}/``; device ids therefore may not contain MQTT
wildcards or separators (see ``DEVICE_ID_PATTERN``).
"""

import re
from typing import NamedTuple

PREFIX = "att/v1"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)

# Topic kinds below att/v1/dev/{device}/, with who publishes them.
PUNCH = "punch"                        # kiosk -> hub, QoS 1
ACK = "ack"                            # hub -> kiosk, QoS 1
STATUS = "status"                      # kiosk -> hub, QoS 1, retained (birth / last will)
HEALTH = "health"                      # kiosk -> hub, QoS 0
GALLERY_REQUEST = "gallery/request"    # kiosk -> hub: "I hold version N"
GALLERY_DELTA = "gallery/delta"        # hub -> kiosk: changes since N
GALLERY_APPLIED = "gallery/applied"    # kiosk -> hub: "I now hold version M"
GALLERY_KEY_REQUEST = "gallery/key/request"  # kiosk -> hub: "send me my gallery key" (held in memory only)
GALLERY_KEY = "gallery/key"            # hub -> kiosk: the gallery key, sealed to the device's own key
CMD = "cmd"                            # hub -> kiosk
CMD_RESULT = "cmd/result"              # kiosk -> hub

KIOSK_PUBLISHES = (PUNCH, STATUS, HEALTH, GALLERY_REQUEST, GALLERY_APPLIED, GALLERY_KEY_REQUEST, CMD_RESULT)
HUB_PUBLISHES = (ACK, GALLERY_DELTA, GALLERY_KEY, CMD)

SHARED_GROUP = "hub"


class DeviceTopic(NamedTuple):
    device_id: str
    kind: str


def is_device_id(device_id: str) -> bool:
    """True when ``device_id`` is safe to embed in a topic and an ACL."""
    return bool(_DEVICE_ID.match(device_id))


def device_topic(device_id: str, kind: str) -> str:
    """``att/v1/dev/{device_id}/{kind}``; refuses ids that would escape the ACL."""
    if not is_device_id(device_id):
        raise ValueError(f"invalid device_id for a topic: {device_id!r}")
    return f"{PREFIX}/dev/{device_id}/{kind}"


def subscription(kind: str, shared_group: str | None = None) -> str:
    """Wildcard subscription over all devices for ``kind``.

    With ``shared_group`` this is an MQTT v5 shared subscription, so several
    hub ingest workers split the stream between them.
    """
    topic = f"{PREFIX}/dev/+/{kind}"
    return f"$share/{shared_group}/{topic}" if shared_group else topic


def parse_device_topic(topic: str) -> DeviceTopic:
    """Split ``att/v1/dev/{device}/{kind}``; raises ValueError otherwise."""
    head = f"{PREFIX}/dev/"
    if not topic.startswith(head):
        raise ValueError(f"not a device topic: {topic!r}")
    device_id, _, kind = topic[len(head):].partition("/")
    if not is_device_id(device_id) or not kind:
        raise ValueError(f"not a device topic: {topic!r}")
    return DeviceTopic(device_id, kind)
