"""Is a kiosk worse on a new release than before it (hub/devices/ring_health.py), and a rollout that halts on it:
pure tables, then a rollout driven through the database by health messages stored as ingest stores them."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from hub.config import HubConfig, UpdatesConfig
from hub.db import make_session_factory
from hub.devices import health, registry, rollout
from hub.devices.models import Release
from hub.devices.ring_health import HealSeen, Snapshot, baseline_of, degraded
from hub.ingest.punches import ReceivedMessage
from protocol import signing, topics
from tests.hub_db import any_engine  # noqa: F401

SENT = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
CONFIG = UpdatesConfig()   # the documented defaults: 30 % drops, 600 s outbox wait, 3 soak messages at least


def before(n: int = 5, **kw) -> list[Snapshot]:
    fields = {"camera_fps": 9.8, "mem_free_mb": 400.0, "outbox_depth": 0, "oldest_unacked_s": None} | kw
    return [Snapshot(SENT - timedelta(minutes=n - i), **fields) for i in range(n)]


def soak(values: list[dict], **common) -> list[Snapshot]:
    base = {"camera_fps": 9.8, "mem_free_mb": 400.0, "outbox_depth": 0, "oldest_unacked_s": None}
    return [Snapshot(SENT + timedelta(minutes=3 + i), **(base | common | v)) for i, v in enumerate(values)]


def heal(fault: str, count: int, recovered: bool, minutes: float = 4) -> tuple[HealSeen, ...]:
    return (HealSeen(fault, "restart_camera", count, SENT + timedelta(minutes=minutes), recovered),)


FLAKY_CAMERA = heal("camera_stopped", 6, False, minutes=-2)


@pytest.mark.parametrize("base, after, reason", [
    # noise does not halt: one bad message in five, a small dip, a kiosk with nothing to compare with
    (before(), soak([{"camera_fps": 2.0}] + [{}] * 4), None),
    (before(), soak([{"camera_fps": 2.0}] * 2 + [{}] * 2), None),               # half is not most
    (before(), soak([{"camera_fps": 7.5}] * 5), None),                           # -23 %: under the 30 % bar
    (before(camera_fps=None), soak([{"camera_fps": 1.0}] * 5), None),            # no camera rate before
    ([], soak([{"camera_fps": 1.0}] * 5), None),                                 # no baseline at all
    (before(), soak([{"camera_fps": 1.0}] * 2), None),                           # a soak of 2 messages says nothing
    (before(), soak([{"camera_fps": None}] * 5), None),                          # not said is not worse
    (before(), soak([{"camera_fps": None}] * 4 + [{"camera_fps": 1.0}] * 2), None),   # 2 say: too few
    # a kiosk just restarted into the release does not know its rate yet: most of those that say count
    (before(), soak([{"camera_fps": None}] * 4 + [{"camera_fps": 1.0}] * 3), "camera 9.8 -> 1.0 fps"),
    (before(alarms={"last_exit": "x"}), soak([{}] * 5, alarms={"last_exit": "x"}), None),   # had it before
    (before(), soak([{}] * 5, alarms={"assisted_pending": "2 attempts"}), None),  # people, not the release
    (before(heal=FLAKY_CAMERA), soak([{}] * 5, heal=heal("camera_stopped", 3, False)), None),   # failing before
    (before(), soak([{}] * 5, heal=heal("camera_stopped", 1, True)), None),      # one restart, cured
    (before(oldest_unacked_s=30.0, outbox_depth=2), soak([{"oldest_unacked_s": 400.0}] * 5), None),
    # a real drop halts, with a reason in words
    (before(), soak([{"camera_fps": 2.1}] * 4 + [{}]), "camera 9.8 -> 2.1 fps"),
    (before(), soak([{"mem_free_mb": 120.0}] * 3), "free memory 400 -> 120 MB"),
    (before(), soak([{"oldest_unacked_s": 900.0, "outbox_depth": 14}] * 3),
     "outbox backing up: oldest unacked punch 0 -> 900 s (14 waiting)"),
    (before(), soak([{}] * 5, alarms={"storage_error": "disk full writing the outbox"}),
     "new alarm storage_error (disk full writing the outbox)"),
    (before(), soak([{}] * 5, heal=heal("camera_stopped", 4, False)),
     "self-heal camera_stopped x4 (restart_camera), none before"),
    (before(heal=heal("camera_stopped", 1, True, minutes=-30)), soak([{}] * 5, heal=heal("camera_stopped", 2, False)),
     "self-heal camera_stopped x2 (restart_camera), cured before the update"),
    (before(), soak([{"camera_fps": 3.0, "mem_free_mb": 100.0}] * 3),
     "camera 9.8 -> 3.0 fps; free memory 400 -> 100 MB"),
])
def test_worse_than_before(base, after, reason):
    assert degraded(baseline_of(base), after, SENT, CONFIG) == reason


def test_the_baseline_is_the_median_so_one_odd_message_does_not_set_the_bar():
    base = baseline_of(before()[:4] + [Snapshot(SENT, camera_fps=0.5, mem_free_mb=10.0, outbox_depth=0)])
    assert base.camera_fps == 9.8 and base.mem_free_mb == 400.0


@pytest.mark.parametrize("states, verdict", [
    (["degraded"], "halt"),                                   # the one-kiosk ring: a worse canary halts
    (["installed"] * 9 + ["degraded"], "advance"),            # 10 % is not more than 10 %
    (["installed"] * 8 + ["failed", "degraded"], "halt"),     # failed and degraded count together
])
def test_degraded_kiosks_count_with_the_failed_ones(states, verdict):
    assert rollout.ring_verdict(states, 0.1) == verdict


def test_the_halt_says_who_got_worse_and_how():
    targets = [("K-012", "degraded", "worse on 1.4.0: camera 9.8 -> 2.1 fps"), ("K-001", "installed", None),
               ("K-020", "degraded", "worse on 1.4.0: new alarm thread_error"), ("K-003", "failed", "refused: x"),
               ("K-004", "installed", None)]
    assert rollout.halt_detail(1, "1.4.0", targets) == (
        "ring 1: 1 of 5 kiosks failed, 2 of 5 kiosks worse after 1.4.0; K-003: refused: x; "
        "K-012 camera 9.8 -> 2.1 fps; K-020 new alarm thread_error")


NOW = SENT


def send_health(session, config, device_id: str, version: str, at: datetime, camera_fps: float) -> None:
    """A health message from the kiosk, stored the way the ingest worker stores it (a sample and the registry)."""
    body = {"ts": at.isoformat(), "uptime_s": 3600.0, "outbox_depth": 0, "gallery_version": 1,
            "sw_version": version, "camera_fps": camera_fps, "mem_free_mb": 400.0}
    message = ReceivedMessage(topics.device_topic(device_id, topics.HEALTH), json.dumps(body).encode(), at)
    report = health.parse_report(message, max_bytes=config.max_payload_bytes)
    assert health.record_reports(session, [(message, report)], config.health,
                                 max_payload_bytes=config.max_payload_bytes) == ["health"]


@pytest.mark.parametrize("slow_fps, outcome", [(9.5, "advances"), (2.0, "halts")])
def test_a_canary_that_installs_fine_but_gets_worse_halts_the_rollout(any_engine, slow_fps, outcome):  # noqa: F811
    sessions = make_session_factory(any_engine)
    config = HubConfig.model_validate({"admin_token_file": "/x", "updates": {"soak_s": 240, "canary_fraction": 0.1}})
    key = signing.public_key_b64(signing.generate_private_key())
    minute = timedelta(minutes=1)
    with sessions() as s:
        registry.add_site(s, "S1", "Site one")
        for i in range(10):
            registry.register_device(s, f"k{i:02}", "S1", key)
            for m in range(6, 0, -1):   # an hour of health at 1.0 before the rollout: 9.8 fps, one odd message
                send_health(s, config, f"k{i:02}", "1.0", NOW - m * minute, 1.0 if m == 3 else 9.8)
        s.add(Release(version="2.0", manifest="{}", published_at=NOW, published_by="test"))
        row = rollout.start(s, "2.0", actor="admin", now=NOW, config=config.updates)
        assert rollout.advance(s, NOW, config) == 1
        [canary] = [t for t in rollout.targets_of(s, row.id) if t.ring == 0]
        send_health(s, config, canary.device_id, "1.0", NOW + minute, 9.8)   # still at 1.0 after it was sent
        at = NOW + 2 * minute
        for m in range(6):   # restarted into 2.0: a slow first message, then the release's own rate
            send_health(s, config, canary.device_id, "2.0", at + m * minute, 3.0 if m == 0 else slow_fps)
            rollout.advance(s, at + m * minute, config)
        if outcome == "halts":
            assert row.state == "halted" and canary.state == "degraded", (row.state, row.detail)
            assert canary.detail == "worse on 2.0: camera 9.8 -> 2.0 fps"
            assert row.detail == f"ring 0: 1 of 1 kiosks worse after 2.0; {canary.device_id} camera 9.8 -> 2.0 fps"
            assert rollout.progress(s, row)["degraded"] == 1
            rollout.resume(s, row.id, at + 6 * minute)   # the admin accepts it: the rollout goes on
            assert canary.state == "installed" and canary.detail.startswith("accepted on resume: worse on 2.0")
            assert rollout.advance(s, at + 6 * minute, config) == 1 and row.ring == 1
        else:
            assert row.state == "running" and row.ring == 1 and canary.state == "installed", row.detail
