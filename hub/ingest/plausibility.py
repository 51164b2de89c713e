"""Whether a correctly signed punch is believable: its time, its seq, its match (pure: no MQTT, no DB).

A stolen kiosk card yields the signing key, so a good signature says only
which kiosk's key signed. What the hub knows of that kiosk judges the rest:

- **Time.** A punch made at true time *t* reaches the hub at ``received_at``
  >= *t* (it may wait for days in the kiosk's outbox), and carries
  ``ts`` = *t* + the kiosk's clock error. The kiosk's latest health measured
  that error (``DeviceClock.skew_s``), so ``ts - skew_s`` estimates *t*:
  receipt lateness is ``received_at - (ts - skew_s)``, apart from the clock
  error. A punch is refused only when both the hub's clock and the skew-
  corrected one say it is from beyond ``max_future_s`` ahead, or older than
  ``max_backlog_days`` (a clock stepped since the last health must not
  refuse honest punches); in between it is stored and flagged when it
  disagrees: ``clock_skew`` (the kiosk's clock, or this punch's time, is off
  by more than the bound, either way) or ``backdated`` (dated, by both
  clocks, before anything the kiosk's outbox held at its last health, yet
  delivered after it).
- **Seq.** A kiosk counts its punches; a seq stored under another id is
  ``seq_reused`` (both punches are kept and flagged), a jump over unseen
  seqs is ``seq_gap``.
- **Match.** A distance above the accept threshold the hub allows for the
  kiosk (its own, its site's, or the default), or a failed liveness check,
  is refused: a kiosk itself never sends one.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from protocol.messages import Punch

FUTURE_TS = "ts in the future"
TOO_OLD = "ts too old"
DISTANCE_TOO_HIGH = "match distance above threshold"
LIVENESS_FAILED = "liveness failed"

# Flag kinds set at intake (described in hub.attendance.rules.FLAG_KINDS).
CLOCK_SKEW = "clock_skew"
BACKDATED = "backdated"
SEQ_REUSED = "seq_reused"
SEQ_GAP = "seq_gap"


@dataclass(frozen=True)
class Policy:
    """The bounds (hub.config: ``health.max_clock_skew_s`` and the ``punches`` section)."""

    max_clock_skew_s: float
    max_future_s: float
    max_backlog_s: float
    max_distance: float
    site_max_distance: Mapping[str, float] = field(default_factory=dict)
    device_max_distance: Mapping[str, float] = field(default_factory=dict)

    def distance_limit(self, device_id: str, site_id: str) -> float:
        """The kiosk's own limit, else its site's, else the default."""
        return self.device_max_distance.get(device_id, self.site_max_distance.get(site_id, self.max_distance))


@dataclass(frozen=True)
class DeviceClock:
    """What the kiosk's latest health said of its clock and outbox.

    ``waiting_s``: the age of the oldest punch its outbox held then (0 when
    empty; None when it did not say).
    """

    skew_s: float
    health_at: datetime  # hub time the health message came
    waiting_s: float | None


@dataclass(frozen=True)
class Flag:
    """Why a stored punch needs a person's review; ``also`` names another stored punch it concerns."""

    kind: str
    detail: str
    also: str | None = None


def judge_match(punch: Punch, policy: Policy) -> str | None:
    """The refusal reason for a match no kiosk would have accepted, or None."""
    limit = policy.distance_limit(punch.device_id, punch.site_id)
    if punch.match.distance > limit:
        return f"{DISTANCE_TOO_HIGH}: {punch.match.distance:.3f} > {limit:.3f}"
    if punch.liveness is not None and not punch.liveness.passed:
        return LIVENESS_FAILED
    return None


def judge_time(punch: Punch, received_at: datetime, clock: DeviceClock | None,
               policy: Policy) -> str | tuple[Flag, ...]:
    """A refusal reason, or the flags (none: in order) of the punch's time."""
    skew_s = clock.skew_s if clock is not None else 0.0
    early_raw_s = (punch.ts - received_at).total_seconds()  # > 0: dated after the hub received it
    early_s = early_raw_s - skew_s  # the same, by the kiosk's clock as last measured
    if min(early_raw_s, early_s) > policy.max_future_s:
        return f"{FUTURE_TS}: {early_s:.0f} s after the hub received it (kiosk clock skew {skew_s:+.0f} s)"
    if min(-early_raw_s, -early_s) > policy.max_backlog_s:
        return f"{TOO_OLD}: {-early_s / 86400:.1f} days before the hub received it (kiosk clock skew {skew_s:+.0f} s)"
    flags: list[Flag] = []
    if clock is not None and abs(clock.skew_s) > policy.max_clock_skew_s:
        way = "ahead" if clock.skew_s > 0 else "behind"
        flags.append(Flag(CLOCK_SKEW, f"kiosk clock {abs(clock.skew_s):.0f} s {way} at its last health"))
    elif early_s > policy.max_clock_skew_s:
        flags.append(Flag(CLOCK_SKEW, f"dated {early_s:.0f} s after the hub received it "
                                      f"(kiosk clock skew {skew_s:+.0f} s)"))
    if clock is not None and clock.waiting_s is not None and received_at >= clock.health_at:
        # Made before the outbox's oldest punch at that health (by both clocks), yet not delivered before it.
        before_s = (clock.health_at - received_at).total_seconds() - max(early_raw_s, early_s) - clock.waiting_s
        if before_s > policy.max_clock_skew_s:
            flags.append(Flag(BACKDATED, f"dated {before_s:.0f} s before the oldest punch the kiosk held at its "
                                         f"last health, yet delivered after it"))
    return tuple(flags)


class SeqBook:
    """The seqs a batch's kiosks have used: what the database held before the batch, then the batch so far.

    ``highest``: device -> highest stored seq; ``used``: (device, seq) -> the
    stored punch id, for the (device, seq) pairs the batch names.
    """

    def __init__(self, highest: Mapping[str, int], used: Mapping[tuple[str, int], str]) -> None:
        self._highest = dict(highest)
        self._used = dict(used)

    def observe(self, punch: Punch) -> tuple[Flag, ...]:
        """The seq flags of a punch about to be stored, which then counts as used."""
        key = (punch.device_id, punch.seq)
        other = self._used.setdefault(key, punch.id)
        highest = self._highest.get(punch.device_id)
        self._highest[punch.device_id] = punch.seq if highest is None else max(highest, punch.seq)
        if other != punch.id:
            return (Flag(SEQ_REUSED, f"seq {punch.seq} is also on punch {other}", also=other),)
        if highest is not None and punch.seq > highest + 1:
            missing = f"{highest + 1}" if punch.seq == highest + 2 else f"{highest + 1}-{punch.seq - 1}"
            return (Flag(SEQ_GAP, f"no punch with seq {missing} stored before seq {punch.seq}"),)
        return ()


def assess(punch: Punch, received_at: datetime, clock: DeviceClock | None, seqs: SeqBook,
           policy: Policy) -> str | tuple[Flag, ...]:
    """Every check above on one signed, schema-valid punch: a refusal reason, or its flags.

    The seq is noted as used only when the punch is not refused.
    """
    refusal = judge_match(punch, policy)
    if refusal is not None:
        return refusal
    timing = judge_time(punch, received_at, clock, policy)
    if isinstance(timing, str):
        return timing
    return timing + seqs.observe(punch)
