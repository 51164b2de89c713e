"""Phone punches: the allowed sites with distances, per-punch nonces, and the decision.

A punch is checked cheapest first and the face last: nonce (consumed
whatever the outcome, so a captured request cannot be replayed), the
person's consent on record (hub.enrolment.consent), position and its accuracy, the geofence of an allowed site (home or allowed list),
that site's phone policy, a reason when it is not the home site, travel
since the last punch, the site's office networks, frames never accepted
before, and finally the burst taken during the challenge drawn with the
nonce (``hub.phone.burst``: the kiosk's liveness checker, then the enrolled
face on frames across the burst), or, with the challenge off, exactly one
face in one selfie. An accepted punch is stored in the same table as kiosk
punches (method "phone"), so the attendance rules treat both alike; a punch
that passed only weak checks carries flags for the officer.
"""

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from biometrics.encoder import FaceEncoder
from hub.db import (
    Device,
    Employee,
    EmployeeAllowedSite,
    FaceTemplate,
    PunchRecord,
    Site,
)
from hub.devices.state import DeviceState, device_state
from hub.enrolment import consent
from hub.phone import burst, selfie
from hub.phone.accounts import Identity
from hub.phone.config import PhoneConfig
from hub.phone.geofence import (
    Fence,
    Fix,
    check_accuracy,
    check_fix,
    choose,
    is_marginal_accuracy,
    is_marginal_position,
    locate,
    rank,
)
from hub.phone.guard import Context
from hub.phone.models import PhoneFrameHash, PhoneNonce
from hub.phone.network import is_inside
from hub.phone.nonces import NonceRecord, check_nonce
from hub.phone.policy import check_phone_policy
from hub.phone.reasons import Refused
from hub.phone.tokens import is_plausible_token, new_token, token_hash
from hub.phone.travel import Sighting, check_travel
from kiosk.liveness.burst import CHALLENGES, Challenge
from protocol.ids import new_punch_id

log = logging.getLogger(__name__)

# (session, site_id) -> (last status, last seen) of each active kiosk at the site, as the hub knows them
KioskStatus = Callable[[Session, str], list[tuple[str | None, datetime | None]]]
NONCE_KEEP = timedelta(days=1)


def unknown_kiosk_status(session: Session, site_id: str) -> list[tuple[str | None, datetime | None]]:
    """Until the hub records kiosk status (birth / last will, health), every registered kiosk
    is one it never heard from: 'never seen', which ``policy`` counts as working."""
    count = session.scalar(select(func.count()).select_from(Device).where(
        Device.site_id == site_id, Device.retired_at.is_(None))) or 0
    return [(None, None)] * count


@dataclass(frozen=True)
class PunchInput:
    lat: float
    lon: float
    accuracy_m: float
    nonce: str | None
    selfie: bytes | None
    reason: str | None
    frames: tuple[bytes, ...] = ()
    frame_ms: str | None = None


@dataclass(frozen=True)
class PunchAccepted:
    punch_id: str
    site_id: str
    site_name: str
    local_ts: datetime
    site_distance_m: float
    match_distance: float
    flags: list[str]
    reason: str | None


@dataclass(frozen=True)
class FaceChecked:
    """What the face step found: the identity distance, weak-check flags, the SHA-256 of every frame."""

    distance: float
    flags: list[str]
    hashes: list[str]
    liveness_score: float | None  # None: not checked (challenge off)


def site_offset(site: Site, now: datetime) -> timedelta:
    try:
        return now.astimezone(ZoneInfo(site.timezone)).utcoffset() or timedelta(0)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("site %s has an unknown timezone %r; using UTC", site.site_id, site.timezone)
        return timedelta(0)


class PhonePunching:
    def __init__(self, config: PhoneConfig, session_factory: sessionmaker[Session], encoder: FaceEncoder,
                 clock: Callable[[], datetime], kiosk_status: KioskStatus = unknown_kiosk_status,
                 kiosk_stale_after_s: float = 180.0, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.SystemRandom()  # the challenge must not be predictable
        self.kiosk_stale_after_s = kiosk_stale_after_s  # the hub's health.stale_after_s
        self._factory = session_factory
        self._encoder = encoder
        self._clock = clock
        self._kiosk_status = kiosk_status

    # --- what the page shows ------------------------------------------------

    def site_list(self, identity: Identity, fix: Fix | None) -> dict:
        """The employee's allowed sites, nearest first when a position is given, with
        the site a punch here would count for and whether it needs a reason."""
        now = self._clock()
        with self._factory() as session:
            home, sites = self._allowed_sites(session, identity.employee_id)
            fences = [self._fence(s, home) for s in sites if self._has_fence(s)]
            ranked = rank(fix, fences) if fix else []
            distance = {r.fence.site_id: r.distance_m for r in ranked}
            items = []
            for site in sites:
                try:
                    check_phone_policy(site.phone_policy, self._kiosk_states(session, site.site_id, now), site.name)
                    phone = None
                except Refused as refused:
                    phone = refused.code
                d = distance.get(site.site_id)
                items.append({"site_id": site.site_id, "name": site.name, "home": site.site_id == home,
                              "has_fence": self._has_fence(site), "radius_m": site.radius_m,
                              "distance_m": None if d is None else round(d, 1),
                              "inside": d is not None and d <= (site.radius_m or 0), "phone": phone})
        items.sort(key=lambda i: (i["distance_m"] is None, i["distance_m"] or 0, i["site_id"]))
        chosen = choose(ranked) if ranked else None
        target = chosen or (ranked[0] if ranked else None)
        return {"items": items, "punch_site_id": chosen.fence.site_id if chosen else None,
                "nearest_site_id": ranked[0].fence.site_id if ranked else None,
                "needs_reason": target is not None and not target.fence.is_home,
                "max_accuracy_m": self.config.max_accuracy_m}

    def issue_nonce(self, identity: Identity) -> tuple[str, datetime, Challenge | None]:
        """A single-use nonce and, unless the challenge is off, the action the burst must show,
        drawn here so it cannot be known (or recorded) before the punch starts."""
        now = self._clock()
        nonce = new_token()
        expires_at = now + timedelta(seconds=self.config.nonce_ttl_s)
        challenge = self._rng.choice(CHALLENGES) if self.config.challenge == "required" else None
        with self._factory() as session:
            session.execute(delete(PhoneNonce).where(PhoneNonce.expires_at < now - NONCE_KEEP))
            session.add(PhoneNonce(nonce_hash=token_hash(nonce), employee_id=identity.employee_id,
                                   issued_at=now, expires_at=expires_at, challenge=challenge))
            session.commit()
        return nonce, expires_at, challenge

    # --- the punch ----------------------------------------------------------

    def punch(self, identity: Identity, data: PunchInput, context: Context) -> PunchAccepted:
        cfg, now = self.config, self._clock()
        context.employee_id = identity.employee_id
        challenge = self._consume_nonce(identity.employee_id, data.nonce, now)
        self._check_consent(identity.employee_id)
        fix = check_fix(data.lat, data.lon, data.accuracy_m)
        context.lat, context.lon, context.accuracy_m = fix.lat, fix.lon, fix.accuracy_m
        check_accuracy(fix, cfg.max_accuracy_m)
        with self._factory() as session:
            home, sites = self._allowed_sites(session, identity.employee_id)
            chosen = locate(fix, [self._fence(s, home) for s in sites if self._has_fence(s)])
            site = next(s for s in sites if s.site_id == chosen.fence.site_id)
            context.site_id = site.site_id
            check_phone_policy(site.phone_policy, self._kiosk_states(session, site.site_id, now), site.name)
            reason = self._check_reason(data.reason, chosen.fence)
            check_travel(self._last_sighting(session, identity.employee_id),
                         Sighting(fix.lat, fix.lon, now, fix.accuracy_m),
                         max_speed_kmh=cfg.max_speed_kmh, tolerance_m=cfg.travel_tolerance_m)
            templates = selfie.templates_from_bytes(list(session.scalars(
                select(FaceTemplate.encoding).where(FaceTemplate.employee_id == identity.employee_id))))
            if not templates:
                raise Refused("not_enrolled")
            offset = site_offset(site, now)
            off_network = self._check_network(site, context.address)
        # the expensive part runs with no transaction open
        face = self._check_face(data, challenge, templates)
        distance = face.distance
        flags = [flag for flag, on in (
            ("phone_marginal_match", selfie.is_marginal_match(distance, cfg.accept_distance, cfg.marginal_match_band)),
            ("phone_marginal_accuracy", is_marginal_accuracy(fix, cfg.max_accuracy_m, cfg.marginal_accuracy_fraction)),
            ("phone_marginal_position", is_marginal_position(chosen, fix)),
            ("phone_outside_network", off_network),
        ) if on] + face.flags
        accepted = PunchAccepted(new_punch_id(), site.site_id, site.name, now.astimezone(timezone(offset)),
                                 round(chosen.distance_m, 1), round(distance, 4), flags, reason)
        self._store(identity, accepted, fix, now, offset, face)
        log.info("phone punch %s stored for employee %s at %s%s", accepted.punch_id, identity.employee_id,
                 site.site_id, f" (flags: {','.join(flags)})" if flags else "")
        return accepted

    # --- the face -----------------------------------------------------------

    def _check_face(self, data: PunchInput, challenge: Challenge | None, templates: list) -> FaceChecked:
        """The burst against its challenge (or, with the challenge off, the one selfie), after making sure
        none of its frames was accepted before."""
        cfg = self.config
        if challenge is None and cfg.challenge == "required":
            raise Refused("nonce_invalid")  # issued while the challenge was off: no action was asked
        if challenge is None:
            raw = data.selfie or b""
            self._check_unused(burst.frame_hashes([raw]) if raw else [])
            rgb = selfie.decode_selfie(raw, max_bytes=cfg.max_selfie_bytes,
                                       max_pixels=cfg.max_selfie_pixels, max_side=cfg.selfie_max_side)
            probe = selfie.single_face_encoding(self._encoder, rgb)
            distance = selfie.match_distance(templates, probe, cfg.accept_distance)
            return FaceChecked(distance, [], burst.frame_hashes([raw]), None)  # flagged liveness_unchecked
        limits = burst.BurstLimits(cfg.burst_min_frames, cfg.burst_max_frames, cfg.max_burst_frame_bytes,
                                   cfg.max_burst_bytes, cfg.burst_max_span_s, cfg.max_selfie_pixels,
                                   cfg.burst_max_side, cfg.burst_max_missing_fraction)
        hashes = burst.check_sizes(data.frames, limits)
        times = burst.parse_times(data.frame_ms, len(data.frames), limits)
        self._check_unused(hashes)
        result = burst.check_burst(data.frames, times, hashes, challenge=challenge, encoder=self._encoder,
                                   templates=templates, liveness=cfg.liveness, limits=limits,
                                   accept_distance=cfg.accept_distance)
        weak = (challenge == "blink" and result.liveness_score < cfg.marginal_liveness_score) \
            or result.frames_after_pass < cfg.marginal_liveness_frames
        return FaceChecked(result.match_distance, ["phone_marginal_liveness"] if weak else [], result.hashes,
                           result.liveness_score)

    def _check_unused(self, hashes: list[str]) -> None:
        """Refuse frames whose exact bytes an earlier accepted punch already used (anyone's)."""
        if not hashes:
            return
        with self._factory() as session:
            used = session.scalar(select(func.count()).select_from(PhoneFrameHash)
                                  .where(PhoneFrameHash.sha256.in_(hashes))) or 0
        if used:
            raise Refused("frame_reused", frames=used)

    def _check_network(self, site: Site, address: str | None) -> bool:
        """True when the site lists office networks and the client is outside them (flagged), refused when
        ``refuse_outside_network``; False when inside or the site lists none."""
        if not site.phone_networks or is_inside(address, site.phone_networks):
            return False
        if self.config.refuse_outside_network:
            raise Refused("outside_network", site_id=site.site_id, site_name=site.name)
        return True

    # --- helpers ----------------------------------------------------------

    def _check_consent(self, employee_id: str) -> None:
        """Refuse before any photo is read when the person has no active consent on record: the page shows
        the notice first, but a client that skips it must not get a selfie punched (DPDP Act 2023)."""
        with self._factory() as session:
            if consent.active(session, employee_id) is None:
                raise Refused("consent_missing")

    def _kiosk_states(self, session: Session, site_id: str, now: datetime) -> list[DeviceState]:
        return [device_state(status, seen, now, self.kiosk_stale_after_s)
                for status, seen in self._kiosk_status(session, site_id)]

    def _consume_nonce(self, employee_id: str, nonce: str | None, now: datetime) -> Challenge | None:
        """Spend the nonce in its own transaction, so it is gone even if the punch is then refused;
        the challenge drawn with it.

        One conditional UPDATE claims it, so of two requests racing with the same nonce
        exactly one wins (a read-then-write let both through on SQLite, whose reads take
        no lock); only a miss is read back, to say why.
        """
        if not is_plausible_token(nonce):
            raise Refused("nonce_invalid")
        digest = token_hash(nonce)
        with self._factory() as session:
            claimed = session.execute(update(PhoneNonce).where(
                PhoneNonce.nonce_hash == digest, PhoneNonce.employee_id == employee_id,
                PhoneNonce.used_at.is_(None), PhoneNonce.issued_at <= now, PhoneNonce.expires_at > now,
            ).values(used_at=now)).rowcount
            session.commit()
            row = session.get(PhoneNonce, digest)
            if claimed == 1:
                return row.challenge
            check_nonce(NonceRecord(row.employee_id, row.issued_at, row.expires_at, row.used_at) if row else None,
                        employee_id, now)
        raise Refused("nonce_invalid")  # not reached: a miss reads back as foreign, used or expired

    @staticmethod
    def _allowed_sites(session: Session, employee_id: str) -> tuple[str, list[Site]]:
        employee = session.get(Employee, employee_id)
        others = select(EmployeeAllowedSite.site_id).where(EmployeeAllowedSite.employee_id == employee_id)
        sites = list(session.scalars(select(Site).where(
            (Site.site_id == employee.home_site_id) | Site.site_id.in_(others)).order_by(Site.site_id)))
        return employee.home_site_id, sites

    @staticmethod
    def _has_fence(site: Site) -> bool:
        return site.lat is not None and site.lon is not None and bool(site.radius_m)

    @staticmethod
    def _fence(site: Site, home_site_id: str) -> Fence:
        return Fence(site.site_id, site.name, site.lat, site.lon, site.radius_m, site.site_id == home_site_id)

    def _check_reason(self, reason: str | None, fence: Fence) -> str | None:
        text = " ".join((reason or "").split())
        if len(text) > self.config.max_reason_chars:
            raise Refused("reason_too_long", max_chars=self.config.max_reason_chars)
        if not fence.is_home and not text:
            raise Refused("reason_required", site_id=fence.site_id, site_name=fence.name)
        return text or None

    @staticmethod
    def _last_sighting(session: Session, employee_id: str) -> Sighting | None:
        """Where the last punch put the employee: a phone punch's position, else (a kiosk
        punch) its site, with the site's radius as the uncertainty."""
        last = session.execute(
            select(PunchRecord.device_ts, PunchRecord.lat, PunchRecord.lon, PunchRecord.accuracy_m, PunchRecord.site_id)
            .where(PunchRecord.employee_id == employee_id)
            .order_by(PunchRecord.device_ts.desc()).limit(1)).first()
        if last is None:
            return None
        if last.lat is not None and last.lon is not None:
            return Sighting(last.lat, last.lon, last.device_ts, last.accuracy_m or 0.0)
        site = session.get(Site, last.site_id)
        if site is None or site.lat is None or site.lon is None:
            return None
        return Sighting(site.lat, site.lon, last.device_ts, site.radius_m or 0.0)

    def _store(self, identity: Identity, accepted: PunchAccepted, fix: Fix, now: datetime, offset: timedelta,
               face: FaceChecked) -> None:
        """The punch and its frames' hashes in one transaction; two punches racing with the same frames
        store one (the hash is the key), the other is refused as a reuse."""
        payload = {"v": 1, "id": accepted.punch_id, "method": "phone", "employee_id": identity.employee_id,
                   "site_id": accepted.site_id, "ts": accepted.local_ts.isoformat(), "binding_id": identity.binding_id,
                   "position": {"lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m},
                   "site_distance_m": accepted.site_distance_m, "match": {"distance": accepted.match_distance},
                   "reason": accepted.reason, "flags": accepted.flags,
                   "liveness": None if face.liveness_score is None else {"passed": True,
                                                                         "score": round(face.liveness_score, 3)}}
        with self._factory() as session:
            session.add(PunchRecord(
                id=accepted.punch_id, device_id=f"phone:{identity.binding_id}", site_id=accepted.site_id,
                employee_id=identity.employee_id, device_ts=now,
                device_utc_offset_min=int(offset.total_seconds() // 60),
                received_at=now, method="phone", distance=accepted.match_distance, margin=None, gallery_version=0,
                liveness_passed=None if face.liveness_score is None else True,
                liveness_score=None if face.liveness_score is None else round(face.liveness_score, 3), seq=0,
                payload=json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                reason=accepted.reason, flags=",".join(accepted.flags) or None, lat=fix.lat, lon=fix.lon,
                accuracy_m=fix.accuracy_m, site_distance_m=accepted.site_distance_m))
            session.add_all([PhoneFrameHash(sha256=h, employee_id=identity.employee_id, punch_id=accepted.punch_id,
                                            at=now) for h in dict.fromkeys(face.hashes)])
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise Refused("frame_reused", frames=len(face.hashes)) from None
