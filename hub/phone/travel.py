"""Impossible travel: could the employee have got here since their last punch? (pure)

The last punch may be a kiosk punch (its position is the kiosk's site) or a
phone punch (its reported position). Position noise and large sites would
make two punches at the same office look like movement, so the first
``tolerance_m`` plus both accuracy radii are forgiven before speed is judged.
"""

from dataclasses import dataclass
from datetime import datetime

from hub.phone.geofence import haversine_m
from hub.phone.reasons import Refused


@dataclass(frozen=True)
class Sighting:
    """Where and when the employee was seen."""

    lat: float
    lon: float
    at: datetime
    accuracy_m: float = 0.0


def speed_kmh(previous: Sighting, current: Sighting, tolerance_m: float) -> float:
    """Apparent speed between two sightings after the tolerance; inf when there was
    movement beyond the tolerance in no time at all."""
    distance = haversine_m(previous.lat, previous.lon, current.lat, current.lon)
    moved_m = max(0.0, distance - tolerance_m - previous.accuracy_m - current.accuracy_m)
    if moved_m == 0.0:
        return 0.0
    # abs(): a kiosk clock running ahead can put the last punch "after" now
    elapsed_s = abs((current.at - previous.at).total_seconds())
    if elapsed_s == 0.0:
        return float("inf")
    return moved_m / elapsed_s * 3.6


def check_travel(previous: Sighting | None, current: Sighting, *, max_speed_kmh: float, tolerance_m: float) -> None:
    """Refuse when reaching ``current`` from ``previous`` needs more than ``max_speed_kmh``."""
    if previous is None:
        return
    if speed_kmh(previous, current, tolerance_m) > max_speed_kmh:
        distance = haversine_m(previous.lat, previous.lon, current.lat, current.lon)
        minutes = abs((current.at - previous.at).total_seconds()) / 60
        raise Refused("impossible_travel", distance_km=round(distance / 1000, 1), minutes=round(minutes))
