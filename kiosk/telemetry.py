"""Readings of the kiosk's own system for the health topic.

Each reader returns None where the file does not exist (a laptop has no
``/sys/class/thermal`` zone named cpu), so health works on any Linux machine
and the hub shows "unknown" instead of a made-up number. Paths are
parameters so tests read prepared files.
"""

import shutil
from datetime import datetime
from pathlib import Path

from protocol.messages import DeviceAlarm, HealAction, Health

THERMAL_ROOT = Path("/sys/class/thermal")
PROC = Path("/proc")


def read_cpu_temp_c(thermal_root: Path = THERMAL_ROOT) -> float | None:
    """CPU temperature from the first thermal zone (the SoC on a Raspberry Pi)."""
    zones = sorted(thermal_root.glob("thermal_zone*"))
    preferred = [z for z in zones if _read(z / "type").lower().startswith(("cpu", "soc"))]
    for zone in preferred + zones:
        text = _read(zone / "temp")
        if text.lstrip("-").isdigit():
            return int(text) / 1000.0
    return None


def read_load1(proc: Path = PROC) -> float | None:
    parts = _read(proc / "loadavg").split()
    return float(parts[0]) if parts else None


def read_mem_free_mb(proc: Path = PROC) -> float | None:
    """MemAvailable: what the kernel can give a new process without swapping."""
    for line in _read(proc / "meminfo").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024.0
    return None


def read_uptime_s(proc: Path = PROC) -> float | None:
    parts = _read(proc / "uptime").split()
    return float(parts[0]) if parts else None


def read_disk_free_mb(path: Path) -> float | None:
    try:
        return shutil.disk_usage(path).free / (1024 * 1024)
    except OSError:
        return None


def collect_health(
    *,
    now: datetime,
    state_dir: Path,
    outbox_depth: int,
    oldest_unacked_s: float | None,
    gallery_version: int,
    sw_version: str,
    camera_fps: float | None,
    process_uptime_s: float,
    alarms: list[DeviceAlarm] | None = None,
    heal: list[HealAction] | None = None,
    thermal_root: Path = THERMAL_ROOT,
    proc: Path = PROC,
) -> Health:
    """One health message; ``uptime_s`` is the kiosk process's, so restarts show."""
    return Health(
        ts=now,
        uptime_s=round(process_uptime_s, 1),
        cpu_temp_c=read_cpu_temp_c(thermal_root),
        load1=read_load1(proc),
        mem_free_mb=_round(read_mem_free_mb(proc)),
        disk_free_mb=_round(read_disk_free_mb(state_dir)),
        camera_fps=_round(camera_fps),
        outbox_depth=outbox_depth,
        oldest_unacked_s=_round(oldest_unacked_s),
        gallery_version=gallery_version,
        sw_version=sw_version,
        alarms=alarms or [],
        heal=heal or None,     # left out while empty: what an older hub accepts
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
