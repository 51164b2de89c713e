"""The unit files in systemd/: `systemd-analyze verify` and an offline security review.

This machine (a container) runs no systemd as PID 1, so the units are checked
against a temporary root: the distribution's own units (for the targets they
reference) plus an executable stand-in at each ExecStart path. verify then
checks every directive and that the commands exist; any warning fails the test.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "systemd"
UNIT_FILES = ["kiosk.service", "kiosk-firstboot.service", "kiosk-update.service", "kiosk-update.timer",
              "hub-api.service", "hub-ingest@.service",
              "hub-hrms-push.service", "hub-defaulters.service", "hub-defaulters.timer", "hub-muster-mail.service",
              "hub-muster-mail.timer", "hub-purge.service", "hub-purge.timer",
              "hub-hrms-leave.service", "hub-hrms-leave.timer"]
TIMERS = {  # timer -> (the command its service runs, after /opt/hub/venv/bin/hub)
    "hub-defaulters.timer": "deliver defaulters --config /etc/hub/hub.yaml",
    "hub-muster-mail.timer": "deliver muster --config /etc/hub/hub.yaml",
    "hub-purge.timer": "purge --config /etc/hub/hub.yaml",
    "hub-hrms-leave.timer": "hrms-leave --config /etc/hub/hub.yaml",
}
DISTRO_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or DISTRO_UNITS is None,
    reason="systemd-analyze not installed (Debian package: systemd)",
)


def directives(name: str) -> dict[str, list[str]]:
    """``Section.Key`` -> values, in order (systemd allows repeated keys)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def instance_name(unit: str) -> str:
    return unit.replace("@.", "@1.")


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(DISTRO_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNIT_FILES:
        shutil.copy(UNITS / unit, root / "etc/systemd/system" / unit)
        d = directives(unit)
        for command in d.get("Service.ExecStart", []) + d.get("Service.ExecStartPre", []):
            exe = root / command.split()[0].lstrip("/")
            exe.parent.mkdir(parents=True, exist_ok=True)
            exe.write_text("#!/bin/sh\n")
            exe.chmod(0o755)
    return root


@needs_systemd
@pytest.mark.parametrize("unit", UNIT_FILES)
def test_systemd_analyze_verify_passes_without_a_warning(fake_root, unit):
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={fake_root}", instance_name(unit)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@needs_systemd
def test_verify_does_catch_a_broken_unit(fake_root):
    """The check above can fail: a typo and a missing command are reported."""
    broken = (UNITS / "kiosk.service").read_text().replace("WatchdogSec=30", "WatchdogSecs=30")
    broken = broken.replace("/opt/kiosk/current/bin/kiosk", "/opt/kiosk/current/bin/missing")
    (fake_root / "etc/systemd/system/broken.service").write_text(broken)
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={fake_root}", "broken.service"],
        capture_output=True, text=True, check=False,
    )
    assert "Unknown key" in proc.stderr and "missing" in proc.stderr


@needs_systemd
@pytest.mark.parametrize("unit", ["kiosk.service", "hub-api.service", "hub-ingest@.service", "hub-hrms-push.service",
                                  "hub-defaulters.service", "hub-muster-mail.service", "hub-purge.service"])
def test_long_running_services_are_hardened(fake_root, unit):
    """systemd's own exposure score (0 safe .. 10 exposed) stays low: 'OK' is below 2.5."""
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={fake_root}", "--threshold=25",
         instance_name(unit)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_kiosk_unit_contract():
    d = directives("kiosk.service")
    expected = {
        "Service.Type": ["notify"],
        "Service.NotifyAccess": ["main"],
        "Service.Restart": ["always"],
        "Service.User": ["kiosk"],
        "Service.StateDirectory": ["kiosk"],
        "Service.NoNewPrivileges": ["yes"],
        "Service.ProtectSystem": ["strict"],
        "Service.ReadWritePaths": ["/var/lib/kiosk /opt/kiosk"],
        "Service.PrivateTmp": ["yes"],
        "Service.ProtectHome": ["yes"],
        "Service.SupplementaryGroups": ["video gpio audio"],   # audio: the voice (aplay)
        "Service.ExecStartPre": ["/usr/bin/python3 -I /opt/kiosk/slots.py guard /opt/kiosk"],
        "Service.ExecStart": ["/opt/kiosk/current/bin/kiosk run --config /etc/kiosk/kiosk.yaml"],
        "Install.WantedBy": ["multi-user.target"],
    }
    for key, value in expected.items():
        assert d.get(key) == value, key
    assert int(d["Service.WatchdogSec"][0]) >= 10  # the kiosk pets at half of it
    assert "SDL_VIDEODRIVER=kmsdrm" in d["Service.Environment"]   # the screen is on by default, without a desktop
    # a bounded restart loop (issue 21): at most StartLimitBurst starts per interval, RestartSec apart
    assert d["Unit.StartLimitIntervalSec"] == ["10min"] and d["Unit.StartLimitBurst"] == ["5"]
    assert d["Service.RestartSec"] == ["10"]


@pytest.mark.parametrize("unit", ["hub-api.service", "hub-ingest@.service"])
def test_hub_units_tell_systemd_when_ready_and_are_watched(unit):
    """hub/app.py sends READY=1 and pets the watchdog (tests/test_hub_watchdog.py runs it)."""
    d = directives(unit)
    assert d["Service.Type"] == ["notify"] and d["Service.NotifyAccess"] == ["main"]
    assert int(d["Service.WatchdogSec"][0]) >= 60  # above ingest.retry_max_s: a database outage is waited out
    assert d["Service.Restart"] == ["always"]


def test_hub_ingest_is_a_template_with_a_client_id_per_instance():
    d = directives("hub-ingest@.service")
    hub = "/opt/hub/venv/bin/hub"
    assert d["Service.ExecStart"] == [f"{hub} ingest --config /etc/hub/hub.yaml --client-id hub-ingest-%i"]
    assert directives("hub-api.service")["Service.ExecStart"] == [f"{hub} serve --config /etc/hub/hub.yaml"]


def test_firstboot_runs_once():
    d = directives("kiosk-firstboot.service")
    assert d["Service.Type"] == ["oneshot"]
    assert "!/var/lib/kiosk-firstboot/done" in d["Unit.ConditionPathExists"]
    assert d["Unit.Before"] == ["kiosk.service"]


@needs_systemd
@pytest.mark.parametrize("timer", sorted(TIMERS))
def test_each_timer_starts_its_oneshot_service_at_a_time_systemd_understands(timer):
    d = directives(timer)
    service = directives(timer.replace(".timer", ".service"))
    assert service["Service.Type"] == ["oneshot"]
    assert service["Service.ExecStart"] == [f"/opt/hub/venv/bin/hub {TIMERS[timer]}"]
    assert d["Timer.Persistent"] == ["true"] and d["Install.WantedBy"] == ["timers.target"]
    [when] = d["Timer.OnCalendar"]
    proc = subprocess.run(["systemd-analyze", "calendar", when], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "Next elapse:" in proc.stdout, proc.stderr


def test_the_defaulter_list_runs_after_the_default_cut_off_on_working_days():
    from hub.db import Site

    [when] = directives("hub-defaulters.timer")["Timer.OnCalendar"]
    weekdays, _, clock, zone = when.split()
    default_cutoff = Site.__table__.c.cutoff.default.arg
    assert weekdays == "Mon..Sat" and zone == "Asia/Kolkata" and clock > default_cutoff.strftime("%H:%M:%S")


def test_a_hung_version_on_trial_is_checked_every_minute_with_the_guard_kiosk_service_uses():
    """kiosk-update.timer runs kiosk/slots.py ``check`` (the same copy as kiosk.service's guard) only while a
    version is on trial, and restarts the kiosk after a rollback."""
    service, timer = directives("kiosk-update.service"), directives("kiosk-update.timer")
    guard = directives("kiosk.service")["Service.ExecStartPre"][0]
    assert service["Service.Type"] == ["oneshot"]
    assert service["Service.ExecStart"] == [guard.replace(" guard ", " check ") + " --restart kiosk.service"]
    assert service["Unit.ConditionPathExists"] == ["/opt/kiosk/trial.json"]
    assert timer["Timer.OnUnitActiveSec"] == ["1min"] and timer["Install.WantedBy"] == ["timers.target"]
