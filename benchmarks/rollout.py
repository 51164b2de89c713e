"""Time to roll a release to 2,000 kiosks in rings, and what the hub's rollout scheduler costs per tick.

Run ``python -m benchmarks.rollout`` (a few minutes; ``--kiosks``,
``--soak-s``, ``--fail-shares``, ``--worse-shares``, ``--out``). Writes BENCHMARKS-rollout.md.

What is real: the hub's database (SQLite file, the real tables), the ring
scheduler (``hub.devices.rollout.advance``) and the command claim the
ingest worker runs (``hub.devices.commands.claim_due``), timed on this
machine. What is simulated: the kiosks. No MQTT: each kiosk whose update
command was claimed "installs" it in a drawn time (``--install-s``, uniform;
an assumption for a Pi: download, virtualenv, pip, restart), then reports
health at the new version (every tick), written straight into
``device_health`` and ``device_health_samples`` as the ingest worker would.
Every kiosk's camera runs at its own rate (6-10 fps), each health message
within 10 % of it and one in five a glitch at 40 % of it (noise that must
not halt anything). The clock is simulated
too and moves in ``--tick-s`` steps (the worker's real poll is 1 s; a
coarser tick only rounds the result up by at most one tick per ring).
A kiosk that "fails" reports the rollback alarm as kiosk/app.py does; a
kiosk that gets "worse" installs fine and then runs its camera at 40 % of
its old rate (hub/devices/ring_health.py judges it degraded).

The rollout's length is dominated by configuration (``soak_s`` per ring
and the install time), not by the hub; the hub's share is the scheduler's
time per tick, reported separately.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select, update

from hub.config import HubConfig
from hub.db import DeviceHealth, DeviceHealthSample, make_session_factory
from hub.devices import commands, registry, rollout
from hub.devices.models import DeviceCommand, Release, Rollout
from protocol import messages, signing
from tests.hub_db import sqlite_engine

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[1]


def simulate(kiosks: int, soak_s: float, fail_share: float, args: argparse.Namespace, seed: int = 7,
             worse_share: float = 0.0) -> dict:
    """One rollout of "2.0" to ``kiosks`` kiosks at "1.0"; ``fail_share`` of them roll back, ``worse_share``
    install it and get slower."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = sqlite_engine(Path(tmp))
        sessions = make_session_factory(engine)
        config = HubConfig.model_validate({"admin_token_file": "/x", "updates": {"soak_s": soak_s}})
        key = signing.public_key_b64(signing.generate_private_key())
        ids = [f"k{i:05}" for i in range(kiosks)]
        canary = next(d for d, ring in rollout.assign_rings(ids, "2.0", config.updates.canary_fraction).items()
                      if ring == 0)
        # a bad release fails everywhere; a partial failure is drawn among the kiosks after the canary
        failing = _drawn(rng, ids, canary, fail_share)
        fleet = Fleet({d: rng.uniform(6.0, 10.0) for d in ids}, failing, _drawn(rng, ids, canary, worse_share),
                      random.Random(seed + 1))
        with sessions() as s:
            for site in range(max(1, kiosks // 100)):
                registry.add_site(s, f"S{site}", f"Site {site}")
            for i, device_id in enumerate(ids):
                registry.register_device(s, device_id, f"S{i % max(1, kiosks // 100)}", key)
                s.add(DeviceHealth(device_id=device_id, status="online", last_seen_at=T0, health_at=T0,
                                   sw_version="1.0", telemetry=json.dumps({"sw_version": "1.0", "alarms": []})))
            s.add(Release(version="2.0", manifest="{}", published_at=T0, published_by="bench"))
            for minutes in range(5, 0, -1):   # the health before the rollout: the kiosks' baselines
                fleet.samples(s, T0 - timedelta(minutes=minutes), set())
            s.commit()
            rollout.start(s, "2.0", actor="bench", now=T0, config=config.updates)
            s.commit()
        installing: dict[str, float] = {}   # device -> simulated time its new version first reports
        updated: set[str] = set()
        advance_s: list[float] = []
        advance_cpu_s: list[float] = []
        claim_s: list[float] = []
        claim_cpu_s: list[float] = []
        now = T0
        state = "running"
        while state == "running" and now - T0 < timedelta(days=2):
            now += timedelta(seconds=args.tick_s)
            with sessions() as s:
                _report(s, now, installing, updated, failing)
                fleet.samples(s, now, updated)
                wall, cpu = time.perf_counter(), time.process_time()
                rollout.advance(s, now, config)
                s.commit()
                advance_s.append(time.perf_counter() - wall)
                advance_cpu_s.append(time.process_time() - cpu)
                claimed = []
                for _ in range(int(args.tick_s / config.commands.poll_s)):   # the worker's polls in one tick
                    wall, cpu = time.perf_counter(), time.process_time()
                    batch = commands.claim_due(s, now, stale_after_s=config.health.stale_after_s)
                    s.commit()
                    claim_s.append(time.perf_counter() - wall)
                    claim_cpu_s.append(time.process_time() - cpu)
                    claimed += batch
                    if len(batch) < commands.CLAIM_LIMIT:
                        break
                for device_id, command in claimed:
                    installing[device_id] = (now - T0).total_seconds() + rng.uniform(*args.install_s)
                    s.execute(update(DeviceCommand).where(DeviceCommand.id == command.id)
                              .values(state="ok", finished_at=now, detail="installed 2.0 on trial"))
                s.commit()
                row = s.scalars(select(Rollout)).one()
                state = row.state
                progress = rollout.progress(s, row)
        engine.dispose()
    return {"kiosks": kiosks, "soak_s": soak_s, "fail_share": fail_share, "worse_share": worse_share, "state": state,
            "hours": (now - T0).total_seconds() / 3600, "ticks": len(advance_s),
            "updated": progress["installed"], "failed": progress["failed"], "degraded": progress["degraded"],
            "reached": sum(r["total"] - r["pending"] for r in progress["rings"]), "detail": progress["detail"],
            "advance_ms_mean": statistics.mean(advance_s) * 1000, "advance_ms_max": max(advance_s) * 1000,
            "advance_cpu_ms_mean": statistics.mean(advance_cpu_s) * 1000,
            "advance_cpu_ms_max": max(advance_cpu_s) * 1000, "claim_cpu_ms_max": max(claim_cpu_s) * 1000,
            "hub_cpu_s": sum(advance_cpu_s) + sum(claim_cpu_s), "hub_wall_s": sum(advance_s) + sum(claim_s)}


def _drawn(rng: random.Random, ids: list[str], canary: str, share: float) -> set[str]:
    """A bad release hits everyone; a partial share is drawn among the kiosks after the canary."""
    return set(ids) if share >= 1 else set(rng.sample([d for d in ids if d != canary], int(len(ids) * share)))


@dataclass
class Fleet:
    """The simulated kiosks' health messages: each camera at its own rate, with noise; the worse ones slower
    once they run 2.0."""

    fps: dict[str, float]
    failing: set[str]
    worse: set[str]
    rng: random.Random

    def samples(self, session, at: datetime, updated: set[str]) -> None:
        rows = []
        for device_id, fps in self.fps.items():
            on_new = device_id in updated and device_id not in self.failing
            rate = fps * (0.4 if on_new and device_id in self.worse else 1.0) * self.rng.uniform(0.9, 1.1)
            if self.rng.random() < 0.2:   # a glitch: a slow moment that one message shows
                rate *= 0.4
            rows.append({"device_id": device_id, "received_at": at, "device_ts": at, "clock_skew_s": 0.0,
                         "uptime_s": 3600.0, "mem_free_mb": 400.0, "camera_fps": round(rate, 2), "outbox_depth": 0,
                         "oldest_unacked_s": None, "gallery_version": 1, "sw_version": "2.0" if on_new else "1.0"})
        session.execute(insert(DeviceHealthSample), rows)


def _report(session, now: datetime, installing: dict[str, float], updated: set[str], failing: set[str]) -> None:
    """The simulated kiosks' health as the ingest worker would store it, every tick: all are seen online, the
    ones whose install is done report the new version (or, rolled back, the old one with the alarm)."""
    elapsed = (now - T0).total_seconds()
    session.execute(update(DeviceHealth).values(health_at=now, last_seen_at=now))
    for device_id in [d for d, at in installing.items() if at <= elapsed]:
        del installing[device_id]
        updated.add(device_id)
        if device_id in failing:   # rolled back: the old version reports the alarm
            alarm = {"kind": messages.ALARM_UPDATE_ROLLED_BACK, "since": now.isoformat(),
                     "detail": "2.0 rolled back to 1.0: started 3 times without becoming healthy"}
            session.execute(update(DeviceHealth).where(DeviceHealth.device_id == device_id).values(
                telemetry=json.dumps({"sw_version": "1.0", "alarms": [alarm]})))
        else:
            session.execute(update(DeviceHealth).where(DeviceHealth.device_id == device_id).values(
                sw_version="2.0", telemetry=json.dumps({"sw_version": "2.0", "alarms": []})))


def markdown(rows: list[dict], args: argparse.Namespace, wall_s: float) -> str:
    lines = [
        "# Rolling a release to 2,000 kiosks in rings (`hub release rollout`)",
        "",
        f"- command: `python -m benchmarks.rollout` ({wall_s:.0f} s of real time for all rows)",
        "- what is real: the hub's SQLite database and tables, the ring scheduler (`hub/devices/rollout.py` "
        "`advance`) and the ingest worker's command claim (`claim_due`), timed on this machine "
        "(2 cores shared with 7 other engineers' jobs)",
        f"- what is simulated: the kiosks (no MQTT): each claimed update is installed in "
        f"{args.install_s[0]:.0f}-{args.install_s[1]:.0f} s (uniform; an assumption for a Pi: download, "
        f"virtualenv, pip, restart), then the kiosk reports the new version in health (every kiosk sends health "
        f"each tick, stored as samples: camera at its own 6-10 fps, within 10 %, one message in five a glitch at "
        f"40 %; a kiosk \"worse\" on 2.0 runs its camera at 40 % of its old rate); the clock moves in "
        f"{args.tick_s:.0f} s ticks, each with the worker's claims of that long (one per `commands.poll_s`), so a "
        f"ring ends at most one tick later than it would",
        "- rings: one kiosk, then 5 % (100 of 2,000), then the other 1,899; a ring ends when each of its kiosks "
        "has reported the new version for `soak_s`; `max_failure_fraction` 0.1; a kiosk is degraded when most of "
        "its soak's health messages show the camera more than 30 % (`camera_fps_drop`) below the median of its "
        "last 5 before the update (hub/devices/ring_health.py)",
        "- CPU is this process's time (`time.process_time`); wall time in brackets is inflated by the machine's "
        "load (the process got a small share of a core), so read CPU for the hub's cost",
        "",
        "| kiosks | soak_s | kiosks that roll back | kiosks worse on it | outcome | simulated time "
        "| kiosks sent the release | updated | failed | degraded | scheduler per tick, CPU mean / max "
        "| (wall mean / max) | one claim, CPU max | hub CPU / wall in all |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kiosks']:,} | {r['soak_s']:.0f} | {r['fail_share']:.0%} | {r['worse_share']:.0%} | {r['state']} "
            f"| {r['hours'] * 60:.0f} min | {r['reached']:,} | {r['updated']:,} | {r['failed']:,} | {r['degraded']:,} "
            f"| {r['advance_cpu_ms_mean']:.1f} / "
            f"{r['advance_cpu_ms_max']:.0f} ms | ({r['advance_ms_mean']:.0f} / {r['advance_ms_max']:.0f} ms) "
            f"| {r['claim_cpu_ms_max']:.0f} ms | {r['hub_cpu_s']:.1f} / {r['hub_wall_s']:.1f} s |")
    healthy = [r for r in rows if r["worse_share"] == 0]
    lines += ["", "Reading it:", "",
              "- With every kiosk healthy, the time is about three soaks plus the slowest install of each ring: "
              "`soak_s` is the knob (it must exceed the kiosks' `update.confirm_after_s`, 120 s by default, so "
              "that a version that is rolled back after reporting is seen before the next ring).",
              "- A share of failing kiosks below `max_failure_fraction` (drawn among the kiosks after the "
              "canary) lets the rollout go on and leaves those kiosks failed for an admin; above it the rollout "
              "halts in the first ring where more than that share failed (the table says how many kiosks were "
              "sent the release by then).",
              "- A release every kiosk rolls back halts in the one-kiosk ring: one kiosk gets it.",
              "- A release that installs fine but slows the camera is treated the same way: a few kiosks worse "
              "(under `max_failure_fraction`) let it go on and stay marked degraded with the reason; more halt it "
              "in the first ring where more than that share got worse; a release that slows every kiosk halts on "
              "its canary. A kiosk getting worse is seen only when its soak ends, so such a halt comes a soak "
              "later than one on rollbacks, which halt as soon as they are reported.",
              f"- The glitches every kiosk sends (one message in five at 40 %) are mostly no trend: in the rows "
              f"with no kiosk made worse, {sum(r['degraded'] for r in healthy)} of "
              f"{sum(r['reached'] for r in healthy):,} kiosks sent the release were judged degraded all the same "
              f"(a soak where most messages happened to be glitches), far too few to halt a rollout.",
              "- The hub's share is the scheduler's time per tick (it reads the current ring's targets with their "
              "health, and, for each kiosk whose soak ends, its stored samples since an hour before it was sent "
              "the release) plus the claim of at most 50 commands per poll (`CLAIM_LIMIT`): the last ring's 1,899 "
              f"update commands leave in {-(-1899 // 50)} polls of `commands.poll_s` (1 s by default)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=2000)
    parser.add_argument("--soak-s", type=float, default=900.0)
    parser.add_argument("--fail-shares", type=float, nargs="+", default=[0.0, 0.03, 0.2, 1.0],
                        help="one run per share of kiosks that roll back")
    parser.add_argument("--worse-shares", type=float, nargs="*", default=[0.03, 0.2, 1.0],
                        help="one run per share of kiosks that install the release and get worse on it")
    parser.add_argument("--install-s", type=float, nargs=2, default=[90.0, 240.0])
    parser.add_argument("--tick-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-rollout.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [simulate(args.kiosks, args.soak_s, share, args) for share in args.fail_shares]
    rows += [simulate(args.kiosks, args.soak_s, 0.0, args, worse_share=share) for share in args.worse_shares]
    text = markdown(rows, args, time.perf_counter() - started)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
