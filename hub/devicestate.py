"""Pure decisions about a kiosk's state, from what the hub has heard of it.

``online``/``offline`` come from the retained status topic (birth / last
will); a device that says it is online but has sent no health for longer
than ``stale_after_s`` is ``stale`` (hung process, half-open TCP link).
Clock skew is measured from health messages: device time minus hub receive
time. Network delay only ever makes the device look *behind*, so the skew
estimate is the median of recent samples, robust to one slow delivery.
"""

from collections import deque
from datetime import datetime
from statistics import median
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


class SkewEstimate:
    """Median of the last ``window`` skew samples of one device."""

    def __init__(self, window: int = 9) -> None:
        self._samples: deque[float] = deque(maxlen=window)

    def add(self, skew_s: float) -> float:
        self._samples.append(skew_s)
        return self.value

    @property
    def value(self) -> float:
        return median(self._samples) if self._samples else 0.0
