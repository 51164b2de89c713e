"""Where a phone is, against the geofences of the sites its owner may punch at (pure).

Distances are great-circle (haversine) on a sphere of the Earth's mean
radius: at a site's scale (tens to hundreds of metres) the error against
the ellipsoid is well under a metre, far below phone position noise.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hub.phone.reasons import Refused

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


@dataclass(frozen=True)
class Fix:
    """A position as the browser reports it (Geolocation API)."""

    lat: float
    lon: float
    accuracy_m: float


@dataclass(frozen=True)
class Fence:
    site_id: str
    name: str
    lat: float
    lon: float
    radius_m: float
    is_home: bool = False


@dataclass(frozen=True)
class SiteDistance:
    fence: Fence
    distance_m: float

    @property
    def inside(self) -> bool:
        return is_inside(self.distance_m, self.fence.radius_m)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def is_inside(distance_m: float, radius_m: float) -> bool:
    return distance_m <= radius_m


def check_fix(lat: float, lon: float, accuracy_m: float) -> Fix:
    """A ``Fix`` from untrusted numbers; refuses NaN, infinities and out-of-range values."""
    values = (lat, lon, accuracy_m)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise Refused("position_invalid")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and accuracy_m > 0):
        raise Refused("position_invalid")
    return Fix(float(lat), float(lon), float(accuracy_m))


def check_accuracy(fix: Fix, max_accuracy_m: float) -> None:
    """Refuse a fix whose accuracy radius is larger than ``max_accuracy_m``: a coarse
    (cell-tower or IP) position can put someone at the office from kilometres away."""
    if fix.accuracy_m > max_accuracy_m:
        raise Refused("accuracy_too_low", accuracy_m=round(fix.accuracy_m), max_accuracy_m=round(max_accuracy_m))


def rank(fix: Fix, fences: Iterable[Fence]) -> list[SiteDistance]:
    """Every fence with its distance from ``fix``, nearest first."""
    ranked = [SiteDistance(f, haversine_m(fix.lat, fix.lon, f.lat, f.lon)) for f in fences]
    return sorted(ranked, key=lambda s: (s.distance_m, s.fence.site_id))


def choose(ranked: list[SiteDistance]) -> SiteDistance | None:
    """The site a punch at this position counts for: the home site if the position is
    inside it (fences may overlap), else the nearest fence it is inside, else None."""
    inside = [s for s in ranked if s.inside]
    home = [s for s in inside if s.fence.is_home]
    return (home or inside or [None])[0]


def locate(fix: Fix, fences: Iterable[Fence]) -> SiteDistance:
    """The site for a punch at ``fix``; refuses with the nearest site when outside every fence."""
    ranked = rank(fix, fences)
    if not ranked:
        raise Refused("no_allowed_site")
    chosen = choose(ranked)
    if chosen is None:
        nearest = ranked[0]
        raise Refused("outside_geofence", site_id=nearest.fence.site_id, site_name=nearest.fence.name,
                      distance_m=round(nearest.distance_m), radius_m=round(nearest.fence.radius_m))
    return chosen


def is_marginal_accuracy(fix: Fix, max_accuracy_m: float, fraction: float) -> bool:
    """Accepted, but the accuracy is close to the bound: worth a reviewer's look."""
    return fix.accuracy_m > fraction * max_accuracy_m


def is_marginal_position(site: SiteDistance, fix: Fix) -> bool:
    """The accuracy circle reaches outside the fence: the phone may really be outside."""
    return site.distance_m + fix.accuracy_m > site.fence.radius_m
