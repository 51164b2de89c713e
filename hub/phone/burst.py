"""The burst of a phone punch: a few seconds of JPEG frames taken while the page showed the hub's challenge.

Checked cheapest first: frame count, bytes, timestamps and repeated frames
(before any decoding), then every frame decoded at reduced scale with exactly
one face, the face's track (no jump to another place in the picture), the
kiosk's liveness checker on the whole burst (``kiosk.liveness.burst``), and
last the identity: several frames spread over the burst, each matched 1:1
against the employee's templates, so the burst shows the enrolled person
throughout and not one person blinking and another photographed. The frames
are never stored; their SHA-256 are (``PhoneFrameHash``) once the punch is
accepted.
"""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biometrics.encoder import FaceBox, FaceEncoder
from hub.phone import selfie
from hub.phone.reasons import Refused
from kiosk.liveness import LivenessConfig
from kiosk.liveness.burst import BurstFrame, Challenge, judge_burst, is_plausible_timing

log = logging.getLogger(__name__)

IDENTITY_CHECKS = 4          # frames spread over the burst that are encoded and matched
MAX_FACE_JUMP = 0.5          # a face centre moving more than this many face widths between frames: another face


@dataclass(frozen=True)
class BurstLimits:
    min_frames: int
    max_frames: int
    max_frame_bytes: int
    max_bytes: int
    max_span_s: float
    max_pixels: int
    max_side: int
    max_missing_fraction: float


@dataclass(frozen=True)
class BurstResult:
    """A burst that passed: its liveness score, how close the pass came to the burst's end, the worst
    identity distance over the checked frames, and the SHA-256 of every frame."""

    liveness_score: float
    frames_after_pass: int
    match_distance: float
    hashes: list[str]


def frame_hashes(frames: Sequence[bytes]) -> list[str]:
    return [hashlib.sha256(f).hexdigest() for f in frames]


def parse_times(text: str | None, count: int, limits: BurstLimits) -> list[float]:
    """``frame_ms`` ("0,100,205,...": milliseconds since the first frame) as seconds; refuses implausible ones."""
    try:
        times = [float(part) / 1000.0 for part in (text or "").split(",") if part.strip()]
    except ValueError:
        raise Refused("burst_invalid", detail="frame times are not numbers") from None
    if len(times) != count:
        raise Refused("burst_invalid", detail=f"{len(times)} frame times for {count} frames")
    if not is_plausible_timing(times, max_span_s=limits.max_span_s):
        raise Refused("burst_invalid", detail=f"frame times must rise from 0 and span at most {limits.max_span_s:g} s")
    return times


def check_sizes(frames: Sequence[bytes], limits: BurstLimits) -> list[str]:
    """Count and bytes, and no frame twice in the burst (a still photo sent over and over); the hashes."""
    if not frames:
        raise Refused("burst_missing")
    if not limits.min_frames <= len(frames) <= limits.max_frames:
        raise Refused("burst_invalid", detail=f"{len(frames)} frames; {limits.min_frames}-{limits.max_frames} expected")
    if sum(len(f) for f in frames) > limits.max_bytes or any(len(f) > limits.max_frame_bytes for f in frames):
        raise Refused("burst_too_large", max_bytes=limits.max_bytes, max_frame_bytes=limits.max_frame_bytes)
    hashes = frame_hashes(frames)
    if len(set(hashes)) != len(hashes):
        raise Refused("not_live", why="still_image")
    return hashes


def _one_face(encoder: FaceEncoder, rgb: np.ndarray) -> FaceBox | None:
    boxes = encoder.detect(rgb, upsample=0) or encoder.detect(rgb, upsample=1)
    if len(boxes) > 1:
        raise Refused("several_faces", faces=len(boxes))
    return boxes[0] if boxes else None


def _jumped(a: FaceBox, b: FaceBox) -> bool:
    ax, ay = (a.left + a.right) / 2, (a.top + a.bottom) / 2
    bx, by = (b.left + b.right) / 2, (b.top + b.bottom) / 2
    return float(np.hypot(ax - bx, ay - by)) > MAX_FACE_JUMP * max(a.width, b.width)


def check_burst(frames: Sequence[bytes], times_s: Sequence[float], hashes: list[str], *, challenge: Challenge,
                encoder: FaceEncoder, templates: Sequence[np.ndarray], liveness: LivenessConfig,
                limits: BurstLimits, accept_distance: float) -> BurstResult:
    """Decode, track, judge liveness, then match identity over the burst; a ``Refused`` says which step failed."""
    found: list[tuple[float, np.ndarray, FaceBox]] = []
    previous: FaceBox | None = None
    for data, ts in zip(frames, times_s):
        rgb = selfie.decode_selfie(data, max_bytes=limits.max_frame_bytes, max_pixels=limits.max_pixels,
                                   max_side=limits.max_side)
        box = _one_face(encoder, rgb)
        if box is None:
            continue
        if previous is not None and _jumped(previous, box):
            raise Refused("face_changed")
        previous = box
        found.append((ts, rgb, box))
    missing = len(frames) - len(found)
    if not found:
        raise Refused("no_face")
    if missing > limits.max_missing_fraction * len(frames):
        raise Refused("not_live", why="face_lost", missing=missing)
    track = [BurstFrame(ts, encoder.landmarks68(rgb, box), rgb) for ts, rgb, box in found]
    verdict = judge_burst(liveness, challenge, track)
    if not verdict.state.passed:
        log.info("phone burst not live: %s (challenge %s)", verdict.state.reason, challenge)
        raise Refused("not_live", why=verdict.state.reason or "no_action")
    distance = _worst_match(encoder, found, templates, accept_distance)
    return BurstResult(verdict.state.score, verdict.frames_after_pass, distance, hashes)


def _worst_match(encoder: FaceEncoder, found: Sequence[tuple[float, np.ndarray, FaceBox]],
                 templates: Sequence[np.ndarray], accept_distance: float) -> float:
    """Frames spread from first to last, each matched to the templates; the worst score (every one must pass)."""
    picks = sorted({round(i * (len(found) - 1) / (IDENTITY_CHECKS - 1)) for i in range(IDENTITY_CHECKS)})
    worst = 0.0
    for i in picks:
        _, rgb, box = found[i]
        try:
            worst = max(worst, selfie.match_distance(templates, encoder.encode(rgb, box), accept_distance))
        except Refused as refused:
            if refused.code == "face_mismatch" and i != picks[0]:
                raise Refused("face_changed") from None  # the first frame matched, a later one does not
            raise
    return worst
