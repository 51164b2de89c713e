"""A kiosk's health history as chart series: a day or a week of samples in fixed time buckets.

A week at one sample a minute is 10,080 samples; a chart 600 pixels wide
shows no more than a few hundred points, so the hub averages per bucket
(the outbox backlog takes the bucket's largest value: a short backlog must
not vanish in an average) and leaves empty buckets as gaps (None), so a
kiosk that was off shows as a gap, not as a line drawn across it.
Pure: samples in, points out.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.db import DeviceHealthSample

SERIES = ("cpu_temp_c", "outbox_depth", "clock_skew_s", "camera_fps")
PEAK = frozenset({"outbox_depth"})  # the largest value of a bucket; the others are averaged
WINDOWS = {"day": (timedelta(days=1), timedelta(minutes=15)), "week": (timedelta(days=7), timedelta(hours=1))}


@dataclass(frozen=True)
class Point:
    start: datetime  # bucket start (hub time, UTC)
    samples: int
    values: dict[str, float | None]  # per series; None: no sample in the bucket had it


def bucket_series(samples: Iterable[DeviceHealthSample], *, end: datetime, window: timedelta,
                  bucket: timedelta) -> list[Point]:
    """Buckets of ``bucket`` from ``end - window`` to ``end`` (oldest first), by hub receive time."""
    start = end - window
    count = int(window / bucket)
    sums: list[dict[str, list[float]]] = [{name: [] for name in SERIES} for _ in range(count)]
    seen = [0] * count
    for sample in samples:
        index = int((sample.received_at - start) / bucket)
        if index == count and sample.received_at == end:  # the newest sample, received at this very moment
            index -= 1
        if not 0 <= index < count:
            continue
        seen[index] += 1
        for name in SERIES:
            value = getattr(sample, name)
            if value is not None:
                sums[index][name].append(float(value))
    return [Point(start + i * bucket, seen[i], {name: _combine(name, sums[i][name]) for name in SERIES})
            for i in range(count)]


def _combine(name: str, values: list[float]) -> float | None:
    if not values:
        return None
    if name in PEAK:
        return max(values)
    return round(sum(values) / len(values), 3)
