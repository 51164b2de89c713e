"""A/B software slots (kiosk/slots.py): trial, keep, and the rollbacks by the guard and the timer's check.

Slots here are plain folders; tests/test_kiosk_update.py runs real virtualenvs.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk import slots

T0 = 1_000_000.0


@pytest.fixture
def root(tmp_path) -> Path:
    for version in ("1.0", "2.0"):
        (tmp_path / slots.VERSIONS / version).mkdir(parents=True)
    slots.switch(tmp_path, "1.0")
    return tmp_path


def test_switch_is_one_rename_of_a_relative_link_and_refuses_a_missing_version(root):
    slots.switch(root, "2.0")
    assert (root / slots.CURRENT).is_symlink() and str((root / slots.CURRENT).readlink()) == "versions/2.0"
    assert slots.current_version(root) == "2.0"
    with pytest.raises(slots.SlotError, match="3.0 is not installed"):
        slots.switch(root, "3.0")
    assert slots.current_version(root) == "2.0"


def test_a_version_that_becomes_healthy_is_kept_and_the_oldest_beyond_two_removed(root):
    (root / slots.VERSIONS / "0.9").mkdir()
    slots.begin_trial(root, "2.0", trial_s=600, max_starts=3, now=T0)
    assert slots.current_version(root) == "2.0" and slots.read_trial(root).previous == "1.0"
    assert slots.guard(root, T0 + 1) is None and slots.read_trial(root).starts == 1
    assert not slots.confirm(root, "1.0", T0 + 60)   # not the version on trial
    assert slots.confirm(root, "2.0", T0 + 60)
    assert slots.read_trial(root) is None and slots.read_outcome(root).outcome == slots.KEPT
    assert sorted(p.name for p in (root / slots.VERSIONS).iterdir()) == ["1.0", "2.0"]
    assert slots.guard(root, T0 + 10_000) is None and slots.current_version(root) == "2.0"   # nothing on trial


@pytest.mark.parametrize("starts, at, why", [
    (3, T0 + 10, "started 3 times without becoming healthy"),
    (1, T0 + 601, "deadline passed after 1 starts"),
])
def test_the_guard_rolls_back_after_max_starts_or_the_deadline(root, starts, at, why):
    slots.begin_trial(root, "2.0", trial_s=600, max_starts=3, now=T0)
    for i in range(starts):
        assert slots.guard(root, T0 + i) is None
    outcome = slots.guard(root, at)
    assert outcome is not None and outcome.outcome == slots.ROLLED_BACK and why in outcome.detail
    assert outcome.detail.startswith("2.0 rolled back to 1.0: ")
    assert slots.current_version(root) == "1.0" and slots.read_trial(root) is None
    assert not (root / slots.VERSIONS / "2.0").exists() and slots.read_outcome(root) == outcome


def test_the_timers_check_rolls_back_a_running_version_only_past_its_deadline(root):
    slots.begin_trial(root, "2.0", trial_s=600, max_starts=3, now=T0)
    assert slots.check(root, T0 + 599) is None and slots.current_version(root) == "2.0"
    assert "while running" in slots.check(root, T0 + 601).detail
    assert slots.current_version(root) == "1.0"


def test_a_hand_switch_ends_the_trial_and_a_trial_needs_a_current_link(root, tmp_path):
    slots.begin_trial(root, "2.0", trial_s=600, max_starts=3, now=T0)
    slots.switch(root, "1.0")
    assert slots.guard(root, T0 + 10_000) is None and slots.read_trial(root) is None
    bare = tmp_path / "bare"
    (bare / slots.VERSIONS / "2.0").mkdir(parents=True)
    with pytest.raises(slots.SlotError, match="cannot tell what to roll back to"):
        slots.begin_trial(bare, "2.0", trial_s=1, max_starts=1, now=T0)


def test_the_guard_script_runs_on_the_standard_library_alone_and_never_fails_a_start(root):
    """kiosk.service runs it as ``python3 -I slots.py guard ROOT``, from a copy beside the slots."""
    script = root / "slots.py"
    script.write_bytes(Path(slots.__file__).read_bytes())
    slots.begin_trial(root, "2.0", trial_s=600, max_starts=1, now=time.time())   # the script reads the clock
    for expected in ("2.0", "1.0"):   # the first start counts, the second is one too many
        proc = subprocess.run([sys.executable, "-I", str(script), "guard", str(root)], capture_output=True,
                              text=True, cwd="/", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert slots.current_version(root) == expected
    (root / slots.TRIAL).write_text("{broken")
    proc = subprocess.run([sys.executable, "-I", str(script), "guard", str(root)], capture_output=True, text=True,
                          cwd="/", timeout=60)
    assert proc.returncode == 0 and "cannot read" in proc.stderr


def test_a_kiosk_without_a_release_key_or_slots_refuses_an_update_and_says_why(tmp_path):
    from kiosk.config import UpdateConfig
    from kiosk.updater import UpdateRefused, Updater
    from protocol import signing

    def updater(**config) -> Updater:
        return Updater(UpdateConfig(root=tmp_path / "opt", **config), device_id="K1",
                       key=signing.generate_private_key(), state_dir=tmp_path / "state", running_version="1.0",
                       on_done=lambda *done: None)

    assert updater().install("1.0") == "already running 1.0"
    with pytest.raises(UpdateRefused, match="update.release_key and update.hub_url are not set"):
        updater().install("2.0")
    with pytest.raises(UpdateRefused, match="not a link to a version"):
        updater(release_key="x", hub_url="https://hub").install("2.0")
