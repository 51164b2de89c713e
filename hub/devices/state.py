"""Pure decisions about a kiosk's state, from what the hub has heard of it.

``online``/``offline`` come from the retained status topic (birth / last
will); a device that says it is online but has sent no health for longer
than ``stale_after_s`` is ``stale`` (hung process, half-open TCP link).
Clock skew is measured from health messages: device time minus hub receive
time, judged on each message at once (``hub.devices.health``). Network delay makes
a device look *behind* by that delay, which is seconds against a bound of
minutes.
"""

from datetime import datetime
from typing import Literal

DeviceState = Literal["online", "offline", "stale", "never seen"]


def device_state(
    status: str | None, last_seen: datetime | None, now: datetime, stale_after_s: float
) -> DeviceState:
    if status is None and last_seen is None:
        return "never seen"
    if status == "offline":
        return "offline"
    if last_seen is None or (now - last_seen).total_seconds() > stale_after_s:
        return "stale"
    return "online"


def clock_skew_s(device_ts: datetime, received_at: datetime) -> float:
    """Positive when the device clock is ahead of the hub's."""
    return (device_ts - received_at).total_seconds()


def is_clock_suspect(skew_s: float | None, bound_s: float) -> bool:
    """True when a device's clock is off by more than ``bound_s`` either way."""
    return skew_s is not None and abs(skew_s) > bound_s
