"""Is a kiosk worse on a new release than it was before? (pure: health samples in, a reason out)

A release can install, start and report its version, and still make the
kiosk worse: the camera slows, a new alarm appears, the outbox backs up,
self-heal starts firing, memory shrinks. The rollout (hub/devices/rollout.py)
asks ``degraded`` once a kiosk's soak on the new version is over, with

- the *baseline*: the kiosk's last ``updates.baseline_samples`` health
  samples at the old version before the update was sent (medians, so one
  odd message does not set the bar), and
- the *soak*: every health sample at the new version since its first one.

One health message is not a trend: a criterion counts only when more than
half of the soak's messages that say anything of it show it, and at least
``updates.min_soak_samples`` of them say (a kiosk just restarted into the
release does not know its camera rate yet: those messages neither count
for nor against it); a kiosk with no baseline is not judged on health.
"""

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.config import UpdatesConfig


@dataclass(frozen=True)
class HealSeen:
    """One entry of ``Health.heal``: a fault the kiosk acted on by itself."""

    fault: str
    action: str
    count: int
    at: datetime        # its latest action
    recovered: bool


@dataclass(frozen=True)
class Snapshot:
    """One health message, as much of it as judging a release needs."""

    at: datetime                      # hub receive time
    camera_fps: float | None = None
    mem_free_mb: float | None = None
    outbox_depth: int | None = None
    oldest_unacked_s: float | None = None
    alarms: dict[str, str] = field(default_factory=dict)   # kind -> detail
    heal: tuple[HealSeen, ...] = ()


@dataclass(frozen=True)
class Baseline:
    """What a kiosk's health said before it was sent the update."""

    samples: int
    camera_fps: float | None
    mem_free_mb: float | None
    oldest_unacked_s: float | None
    outbox_depth: float | None
    alarms: frozenset[str]
    heal_cleared: dict[str, bool]     # fault -> cleared in the latest sample that had it


def snapshot_of(at: datetime, camera_fps: float | None, mem_free_mb: float | None, outbox_depth: int | None,
                oldest_unacked_s: float | None, alarms: list[dict[str, Any]] | None,
                heal: list[dict[str, Any]] | None) -> Snapshot:
    """A stored sample's columns (alarms and heal as decoded JSON) as a Snapshot."""
    return Snapshot(at, camera_fps, mem_free_mb, outbox_depth, oldest_unacked_s,
                    {str(a.get("kind")): str(a.get("detail") or "") for a in alarms or []},
                    tuple(HealSeen(str(h["fault"]), str(h.get("action", "")), int(h.get("count", 1)),
                                   _when(h.get("at")), bool(h.get("recovered"))) for h in heal or []))


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def baseline_of(before: Sequence[Snapshot]) -> Baseline | None:
    """The medians of the samples before the update (oldest first); None without any."""
    if not before:
        return None
    heal: dict[str, bool] = {}
    for snap in before:   # oldest first: the latest word on each fault wins
        heal.update({h.fault: h.recovered for h in snap.heal})
    return Baseline(len(before), _median([s.camera_fps for s in before]), _median([s.mem_free_mb for s in before]),
                    _median([_waiting_s(s) for s in before]), _median([s.outbox_depth for s in before]),
                    frozenset(kind for s in before for kind in s.alarms), heal)


def _median(values: Sequence[float | int | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


def _waiting_s(snap: Snapshot) -> float | None:
    """Age of the oldest unacked punch: 0 for an empty outbox, None when not said."""
    if snap.oldest_unacked_s is not None:
        return snap.oldest_unacked_s
    return 0.0 if snap.outbox_depth == 0 else None


def degraded(baseline: Baseline | None, soak: Sequence[Snapshot], sent_at: datetime,
             config: UpdatesConfig) -> str | None:
    """Why the kiosk is worse over its soak than its baseline, in words ("camera 9.8 -> 2.1 fps; ..."); None
    when it is not, or when there is too little to say (no baseline; fewer than min_soak_samples messages)."""
    if baseline is None:
        return None
    reasons = [reason for check in (_camera, _memory, _outbox) if (reason := check(baseline, soak, config))]
    reasons += _new_alarms(baseline, soak, config) + _heal(baseline, soak, sent_at, config)
    return "; ".join(reasons) or None


def _most(soak: Sequence[Snapshot], worse: Callable[[Snapshot], bool], config: UpdatesConfig,
          says: Callable[[Snapshot], bool] = lambda s: True) -> list[Snapshot]:
    """The soak's samples that are worse, when they are more than half of those that ``say`` (at least
    ``min_soak_samples`` of them); otherwise none."""
    saying = [s for s in soak if says(s)]
    hits = [s for s in saying if worse(s)]
    return hits if len(saying) >= config.min_soak_samples and len(hits) * 2 > len(saying) else []


def _fallen(before: float | None, measure: Callable[[Snapshot], float | None], drop: float,
            soak: Sequence[Snapshot], config: UpdatesConfig) -> tuple[float, float] | None:
    """(before, median of the worse samples) when ``measure`` fell by more than ``drop`` of ``before``
    through most of the soak; None otherwise or without a baseline value."""
    if not before:
        return None
    floor = before * (1 - drop)
    hits = _most(soak, lambda s: measure(s) < floor, config, lambda s: measure(s) is not None)
    return (before, _median([measure(s) for s in hits])) if hits else None


def _camera(base: Baseline, soak: Sequence[Snapshot], config: UpdatesConfig) -> str | None:
    fell = _fallen(base.camera_fps, lambda s: s.camera_fps, config.camera_fps_drop, soak, config)
    return f"camera {fell[0]:.1f} -> {fell[1]:.1f} fps" if fell else None


def _memory(base: Baseline, soak: Sequence[Snapshot], config: UpdatesConfig) -> str | None:
    fell = _fallen(base.mem_free_mb, lambda s: s.mem_free_mb, config.mem_free_drop, soak, config)
    return f"free memory {fell[0]:.0f} -> {fell[1]:.0f} MB" if fell else None


def _outbox(base: Baseline, soak: Sequence[Snapshot], config: UpdatesConfig) -> str | None:
    """Punches waiting longer than before while the kiosk is connected (it sends health only then)."""
    before = base.oldest_unacked_s or 0.0
    hits = _most(soak, lambda s: _waiting_s(s) > before + config.outbox_wait_s, config,
                 lambda s: _waiting_s(s) is not None)
    if not hits:
        return None
    depth = _median([s.outbox_depth for s in hits])
    return (f"outbox backing up: oldest unacked punch {before:.0f} -> {_median([_waiting_s(s) for s in hits]):.0f} s"
            + (f" ({depth:.0f} waiting)" if depth is not None else ""))


def _new_alarms(base: Baseline, soak: Sequence[Snapshot], config: UpdatesConfig) -> list[str]:
    kinds = sorted({k for s in soak for k in s.alarms} - base.alarms - set(config.ignored_alarms))
    reasons = []
    for kind in kinds:
        hits = _most(soak, lambda s, kind=kind: kind in s.alarms, config)
        if hits:
            detail = hits[-1].alarms[kind]
            reasons.append(f"new alarm {kind}" + (f" ({detail[:120]})" if detail else ""))
    return reasons


def _heal(base: Baseline, soak: Sequence[Snapshot], sent_at: datetime, config: UpdatesConfig) -> list[str]:
    """Self-heal acting since the update on a fault the kiosk did not have before, or had cured and now not."""
    reasons = []
    for fault in sorted({h.fault for s in soak for h in s.heal}):
        had = fault in base.heal_cleared
        if had and not base.heal_cleared[fault]:
            continue   # already failing before the update: not the release's doing

        def acting(s: Snapshot, fault: str = fault, had: bool = had) -> bool:
            """Acted on since the update and still failing; a new fault also when acted on more than once
            (one camera restart, cured, just after the kiosk restarted into the release is no trend)."""
            return any(h.fault == fault and h.at >= sent_at and (not h.recovered or (not had and h.count > 1))
                       for h in s.heal)

        hits = _most(soak, acting, config)
        if hits:
            latest = next(h for h in hits[-1].heal if h.fault == fault)
            reasons.append(f"self-heal {fault} x{latest.count} ({latest.action}), "
                           + ("cured before the update" if had else "none before"))
    return reasons
