"""Kiosk health readings from prepared /sys and /proc trees, and from this machine."""

from datetime import datetime, timezone
from pathlib import Path

from kiosk import telemetry


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    thermal, proc = tmp_path / "thermal", tmp_path / "proc"
    (thermal / "thermal_zone0").mkdir(parents=True)
    (thermal / "thermal_zone0" / "type").write_text("cpu-thermal\n")
    (thermal / "thermal_zone0" / "temp").write_text("61352\n")
    proc.mkdir()
    (proc / "loadavg").write_text("0.52 0.40 0.33 1/200 1234\n")
    (proc / "meminfo").write_text("MemTotal:  3884564 kB\nMemFree:  100000 kB\nMemAvailable:  2048000 kB\n")
    (proc / "uptime").write_text("12345.67 20000.00\n")
    return thermal, proc


def test_readings_from_a_pi_like_tree(tmp_path):
    thermal, proc = _tree(tmp_path)
    assert telemetry.read_cpu_temp_c(thermal) == 61.352
    assert telemetry.read_load1(proc) == 0.52
    assert telemetry.read_mem_free_mb(proc) == 2000.0
    assert telemetry.read_uptime_s(proc) == 12345.67


def test_missing_files_read_as_unknown_not_zero(tmp_path):
    assert telemetry.read_cpu_temp_c(tmp_path / "none") is None
    assert telemetry.read_load1(tmp_path) is None
    assert telemetry.read_mem_free_mb(tmp_path) is None
    assert telemetry.read_disk_free_mb(tmp_path / "missing") is None


def test_collect_health_builds_a_valid_message(tmp_path):
    thermal, proc = _tree(tmp_path)
    health = telemetry.collect_health(
        now=datetime(2026, 11, 22, 3, 44, tzinfo=timezone.utc), state_dir=tmp_path, outbox_depth=7,
        oldest_unacked_s=12.34, gallery_version=42, sw_version="0.1.0", camera_fps=14.96,
        process_uptime_s=300.04, thermal_root=thermal, proc=proc,
    )
    assert (health.cpu_temp_c, health.load1, health.outbox_depth, health.camera_fps) == (61.352, 0.52, 7, 15.0)
    assert health.disk_free_mb > 0 and health.oldest_unacked_s == 12.3


def test_this_machine_has_load_memory_and_disk():
    assert telemetry.read_load1() is not None
    assert telemetry.read_mem_free_mb() > 0
    assert telemetry.read_disk_free_mb(Path("/")) > 0
