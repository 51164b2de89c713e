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


def test_before_an_install_only_the_running_version_and_a_trials_previous_stay(root):
    """The card holds at most keep_versions slots even while a new one is made (a read-only root's data
    partition is sized for that many: provisioning/datapart.py)."""
    (root / slots.VERSIONS / "0.9").mkdir()
    slots.switch(root, "2.0")
    assert sorted(slots.prune_before_install(root, keep_versions=2)) == ["0.9", "1.0"]
    assert sorted(p.name for p in (root / slots.VERSIONS).iterdir()) == ["2.0"]

    (root / slots.VERSIONS / "1.0").mkdir()
    slots.begin_trial(root, "1.0", trial_s=600, max_starts=3, now=T0)      # 1.0 on trial, 2.0 to roll back to
    (root / slots.VERSIONS / "0.8").mkdir()
    assert slots.prune_before_install(root, keep_versions=2) == ["0.8"]
    assert sorted(p.name for p in (root / slots.VERSIONS).iterdir()) == ["1.0", "2.0"]
    (root / slots.VERSIONS / "0.7").mkdir()
    assert slots.prune_before_install(root, keep_versions=4) == []          # four kept: 0.7 may stay
    assert slots.prune_before_install(root, keep_versions=3) == ["0.7"]     # three: two stay, the new one is third
    assert slots.prune_before_install(root / "no-slots-yet", keep_versions=2) == []


def test_slot_bytes_counts_what_a_version_takes_on_disk(root):
    (root / slots.VERSIONS / "2.0" / "lib").mkdir()
    (root / slots.VERSIONS / "2.0" / "lib" / "big.so").write_bytes(b"x" * 100_000)
    (root / slots.VERSIONS / "2.0" / "python").symlink_to("/usr/bin/python3")
    assert 100_000 <= slots.slot_bytes(root, "2.0") < 200_000 and slots.slot_bytes(root, "1.0") == 0


@pytest.mark.parametrize("slot_mb, free_mb, ok", [(500, 600, True), (500, 563, False), (0, 64, True), (0, 63, False)])
def test_an_update_is_refused_when_the_new_slot_would_leave_the_outbox_no_room(tmp_path, slot_mb, free_mb, ok):
    from kiosk.updater import MIB, UpdateRefused, check_room

    if ok:
        check_room(slot_mb * MIB, free_mb * MIB, tmp_path)
    else:
        with pytest.raises(UpdateRefused, match=f"{free_mb} MiB free, and it needs ~{slot_mb} MiB .* plus 64 MiB"):
            check_room(slot_mb * MIB, free_mb * MIB, tmp_path)
