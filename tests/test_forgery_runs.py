"""Forgery-suite runs add up only when they should (benchmarks/forgery_runs.py, forgery_suite.set_folders)."""

import json

import pytest

from benchmarks import forgery_runs
from benchmarks.forgery_suite import CUES_VERSION, set_folders
from kiosk.liveness import LivenessConfig


def run(name: str, people: list[str], fingerprint: str, passed: int = 0) -> dict:
    n = len(people)
    return {"name": name, "set": name, "people": people, "fingerprint": fingerprint, "seconds": 1, "date": "d",
            "counts": {"fold": {"blink_and_head_turn": [passed, n]}},
            "reasons": {"fold": {"timeout": n - passed}}}


def test_disjoint_runs_with_the_current_fingerprint_are_summed_and_stale_ones_left_out():
    runs = [run("a", ["p1", "p2"], "now", passed=1), run("b", ["p3"], "now"), run("old", ["p4"], "before", 1)]
    total, reasons = forgery_runs.pool(runs, "now")
    assert total == {"fold": {"blink_and_head_turn": [1, 3]}}
    assert reasons == {"fold": {"timeout": 2}}


def test_a_person_in_two_pooled_runs_is_refused():
    with pytest.raises(forgery_runs.RunsError, match="p2"):
        forgery_runs.pool([run("a", ["p1", "p2"], "now"), run("b", ["p2"], "now")], "now")
    forgery_runs.pool([run("a", ["p2"], "now"), run("b", ["p2"], "before")], "now")  # stale: not pooled


def test_record_replaces_a_run_of_the_same_name(tmp_path):
    path = tmp_path / "runs.json"
    forgery_runs.record(run("a", ["p1"], "now"), path)
    forgery_runs.record(run("b", ["p2"], "now"), path)
    forgery_runs.record(run("a", ["p3", "p4"], "now"), path)
    assert [(r["name"], r["people"]) for r in forgery_runs.load(path)] == [("b", ["p2"]), ("a", ["p3", "p4"])]
    assert json.loads(path.read_text())["runs"][1]["name"] == "a"


def test_the_fingerprint_follows_the_liveness_settings_but_not_the_ir_check(monkeypatch):
    now = forgery_runs.fingerprint(1, CUES_VERSION)
    assert forgery_runs.fingerprint(2, CUES_VERSION) != now
    assert forgery_runs.fingerprint(1, CUES_VERSION + 1) != now
    monkeypatch.setattr(forgery_runs, "LivenessConfig", lambda: LivenessConfig(min_pixel_change=0.5))
    assert forgery_runs.fingerprint(1, CUES_VERSION) != now
    monkeypatch.setattr(forgery_runs, "LivenessConfig", lambda: LivenessConfig(ir={"min_relief": 0.5}))
    assert forgery_runs.fingerprint(1, CUES_VERSION) == now  # off by default, no IR frames in the suite


@pytest.mark.faces
def test_the_photo_sets_never_share_a_person(faces_dir):
    tune, report, others = (set(p.name for p in set_folders(faces_dir, s)) for s in ("tune", "report", "others"))
    assert not (tune & report) and not (tune & others) and not (report & others)
    assert len(report) + len(others) == len(list((faces_dir / "calib" / "people").iterdir()))
