"""The phone fallback's pure decisions, as tables: geofence, travel, nonces, policy, OTP,
throttling, password strength, and the reason catalogue."""

import math
import string
from datetime import datetime, timedelta, timezone

import pytest

from hub.phone import geofence, otp, passwords, throttle
from hub.phone.config import ThrottleRule
from hub.phone.geofence import Fence, Fix
from hub.phone.nonces import NonceRecord, check_nonce
from hub.phone.policy import check_phone_policy
from hub.phone.reasons import REASONS, Refused, render
from hub.phone.travel import Sighting, check_travel, speed_kmh

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
LUCKNOW = (26.8467, 80.9462)


def code_of(fn, *args, **kwargs) -> str | None:
    """The refusal code ``fn`` raises, or None when it passes."""
    try:
        fn(*args, **kwargs)
    except Refused as refused:
        return refused.code
    return None


# --- geofence -------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, metres, tolerance", [
    ((0.0, 0.0), (0.0, 0.0), 0.0, 1e-9),
    ((0.0, 0.0), (0.0, 1.0), 111_195.0, 1.0),           # one degree of longitude on the equator
    ((0.0, 0.0), (1.0, 0.0), 111_195.0, 1.0),           # one degree of latitude
    ((51.5007, -0.1246), (40.6892, -74.0445), 5_574_840.0, 5_000.0),  # Big Ben - Statue of Liberty
    (LUCKNOW, (26.4499, 80.3319), 75_300.0, 500.0),    # Lucknow - Kanpur
    ((0.0, 179.9995), (0.0, -179.9995), 111.2, 0.5),    # across the antimeridian
    ((89.9999, 0.0), (89.9999, 180.0), 22.2, 0.5),      # across the pole
])
def test_haversine_distances(a, b, metres, tolerance):
    assert geofence.haversine_m(*a, *b) == pytest.approx(metres, abs=tolerance)
    assert geofence.haversine_m(*b, *a) == pytest.approx(geofence.haversine_m(*a, *b))


@pytest.mark.parametrize("lat, lon, accuracy, code", [
    (26.8, 80.9, 10.0, None),
    (90.0, 180.0, 0.5, None),
    (-90.0, -180.0, 1.0, None),
    (90.01, 80.9, 10.0, "position_invalid"),
    (26.8, -180.01, 10.0, "position_invalid"),
    (26.8, 80.9, 0.0, "position_invalid"),
    (26.8, 80.9, -5.0, "position_invalid"),
    (math.nan, 80.9, 10.0, "position_invalid"),
    (26.8, math.inf, 10.0, "position_invalid"),
    (26.8, 80.9, math.nan, "position_invalid"),
])
def test_fix_validation(lat, lon, accuracy, code):
    assert code_of(geofence.check_fix, lat, lon, accuracy) == code


@pytest.mark.parametrize("accuracy, bound, code", [
    (5.0, 50.0, None), (50.0, 50.0, None), (50.1, 50.0, "accuracy_too_low"), (1500.0, 50.0, "accuracy_too_low"),
])
def test_accuracy_bound(accuracy, bound, code):
    assert code_of(geofence.check_accuracy, Fix(0.0, 0.0, accuracy), bound) == code


def north(metres: float) -> tuple[float, float]:
    return LUCKNOW[0] + metres / 111_195.0, LUCKNOW[1]


HOME = Fence("home", "Home", *LUCKNOW, 100.0, is_home=True)
ANNEX = Fence("annex", "Annex", *north(150), 100.0)      # overlaps HOME between 50 and 100 m north
FAR = Fence("far", "Far", *north(5_000), 200.0)


@pytest.mark.parametrize("north_m, fences, chosen, code", [
    (0, [HOME, ANNEX, FAR], "home", None),
    (99, [HOME, FAR], "home", None),
    (100.5, [HOME, FAR], None, "outside_geofence"),
    (80, [HOME, ANNEX], "home", None),        # inside both: the home site wins
    (140, [HOME, ANNEX], "annex", None),
    (5_150, [HOME, ANNEX, FAR], "far", None),
    (2_000, [HOME, ANNEX, FAR], None, "outside_geofence"),
    (0, [], None, "no_allowed_site"),
])
def test_locate_picks_the_site_a_punch_counts_for(north_m, fences, chosen, code):
    fix = Fix(*north(north_m), 10.0)
    assert code_of(geofence.locate, fix, fences) == code
    if code is None:
        assert geofence.locate(fix, fences).fence.site_id == chosen


def test_outside_names_the_nearest_site_and_its_distance():
    with pytest.raises(Refused) as refused:
        geofence.locate(Fix(*north(1_000), 10.0), [HOME, FAR])
    assert refused.value.details == {"site_id": "home", "site_name": "Home", "distance_m": 1000, "radius_m": 100}


@pytest.mark.parametrize("north_m, accuracy, marginal_position, marginal_accuracy", [
    (0, 10.0, False, False),
    (80, 10.0, False, False),
    (95, 10.0, True, False),
    (10, 45.0, False, True),
    (70, 45.0, True, True),
])
def test_marginal_position_and_accuracy(north_m, accuracy, marginal_position, marginal_accuracy):
    fix = Fix(*north(north_m), accuracy)
    site = geofence.locate(fix, [HOME])
    assert geofence.is_marginal_position(site, fix) is marginal_position
    assert geofence.is_marginal_accuracy(fix, 50.0, 0.8) is marginal_accuracy


# --- travel ----------------------------------------------------------------------------

def seen(north_m: float, minutes: float, accuracy: float = 0.0) -> Sighting:
    return Sighting(*north(north_m), T0 + timedelta(minutes=minutes), accuracy)


@pytest.mark.parametrize("previous, current, code", [
    (None, seen(0, 0), None),                                  # first punch ever
    (seen(0, 0), seen(300, 0.1), None),                        # next door, inside the tolerance
    (seen(0, 0), seen(50_000, 60), None),                      # 50 km in an hour
    (seen(0, 0), seen(80_500, 30), "impossible_travel"),       # 80 km in half an hour: 160 km/h
    (seen(0, 0), seen(5_000, 1), "impossible_travel"),         # 4.5 km in a minute
    (seen(0, 0), seen(5_000, 0), "impossible_travel"),         # far away at the same instant
    (seen(0, 0), seen(5_000, 0, accuracy=4_600), None),        # the reported accuracy covers it
    (seen(0, 10), seen(20_000, 0), None),                      # kiosk clock ahead: elapsed taken as 10 min
])
def test_travel(previous, current, code):
    assert code_of(check_travel, previous, current, max_speed_kmh=150.0, tolerance_m=500.0) == code


@pytest.mark.parametrize("moved_m, minutes, kmh", [(400, 1, 0.0), (1_500, 60, 1.0), (10_500, 5, 120.0)])
def test_speed_after_the_tolerance(moved_m, minutes, kmh):
    assert speed_kmh(seen(0, 0), seen(moved_m, minutes), 500.0) == pytest.approx(kmh, rel=1e-3)


# --- nonces --------------------------------------------------------------------------------

FRESH = NonceRecord("E1", T0, T0 + timedelta(seconds=120))


@pytest.mark.parametrize("record, employee, now, code", [
    (FRESH, "E1", T0 + timedelta(seconds=5), None),
    (None, "E1", T0, "nonce_invalid"),
    (FRESH, "E2", T0, "nonce_invalid"),
    (FRESH, "E1", T0 + timedelta(seconds=120), "nonce_expired"),
    (FRESH, "E1", T0 - timedelta(seconds=1), "nonce_expired"),
    (NonceRecord("E1", T0, T0 + timedelta(seconds=120), used_at=T0), "E1", T0 + timedelta(seconds=1), "nonce_reused"),
    (NonceRecord("E1", T0, T0 + timedelta(seconds=120), used_at=T0), "E1", T0 + timedelta(hours=1), "nonce_reused"),
])
def test_nonces(record, employee, now, code):
    assert code_of(check_nonce, record, employee, now) == code


# --- policy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, states, code", [
    ("always", ["online"], None),
    ("always", [], None),
    ("never", [], "phone_not_allowed_at_site"),
    ("never", ["offline"], "phone_not_allowed_at_site"),
    ("kiosk_down", ["offline"], None),
    ("kiosk_down", ["offline", "stale"], None),
    ("kiosk_down", [], None),
    ("kiosk_down", ["online"], "kiosk_available"),
    ("kiosk_down", ["offline", "online"], "kiosk_available"),
    ("kiosk_down", ["never seen"], "kiosk_available"),
    ("sometimes", [], "phone_not_allowed_at_site"),
])
def test_site_phone_policy(policy, states, code):
    assert code_of(check_phone_policy, policy, states, "Site") == code


# --- OTP codes ------------------------------------------------------------------------------------

def test_codes_are_six_random_digits_and_hashed():
    codes = {otp.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190
    code = otp.new_code()
    hashed = otp.hash_code(code)
    assert code not in hashed and hashed.startswith("$argon2id$")
    assert otp.code_matches(hashed, code) and otp.code_matches(hashed, f" {code[:3]}-{code[3:]} ")
    assert not otp.code_matches(hashed, str((int(code) + 1) % 1_000_000).zfill(6))


@pytest.mark.parametrize("entered, normalised", [
    ("123456", "123456"), ("123 456", "123456"), ("12345", None), ("1234567", None), ("12a456", None),
    ("١٢٣٤٥٦", None), ("", None),
])
def test_code_normalisation(entered, normalised):
    assert otp.normalise_code(entered) == normalised


LIVE = otp.CodeState(T0 + timedelta(minutes=10), 0, False)


@pytest.mark.parametrize("state, now, code", [
    (LIVE, T0, None),
    (None, T0, "activation_invalid"),
    (otp.CodeState(T0 + timedelta(minutes=10), 0, True), T0, "activation_invalid"),
    (LIVE, T0 + timedelta(minutes=10), "code_expired"),
    (otp.CodeState(T0 + timedelta(minutes=10), 5, False), T0, "code_attempts_exhausted"),
    (otp.CodeState(T0 + timedelta(minutes=10), 5, True), T0, "code_attempts_exhausted"),
])
def test_code_usability(state, now, code):
    assert code_of(otp.check_usable, state, now, 5) == code


@pytest.mark.parametrize("attempts, code, left", [
    (1, "code_wrong", 4), (4, "code_wrong", 1), (5, "code_attempts_exhausted", None),
])
def test_wrong_code_counts_down(attempts, code, left):
    refused = otp.wrong_code(attempts, 5)
    assert refused.code == code and refused.details.get("attempts_left") == left


# --- throttling --------------------------------------------------------------------------------------

RULE = ThrottleRule(max_failures=3, window_s=60, lockout_s=300)


def after(events: list[tuple[str, float]]) -> throttle.ThrottleState:
    state = throttle.ThrottleState()
    for kind, at_s in events:
        now = T0 + timedelta(seconds=at_s)
        state = throttle.record_failure(state, RULE, now) if kind == "fail" else throttle.record_success(state)
    return state


@pytest.mark.parametrize("events, at_s, locked_for_s", [
    ([], 0, 0),
    ([("fail", 0), ("fail", 1)], 2, 0),
    ([("fail", 0), ("fail", 1), ("fail", 2)], 3, 299),         # third failure in the window locks
    ([("fail", 0), ("fail", 1), ("fail", 2)], 302, 0),          # the lock runs out
    ([("fail", 0), ("fail", 1), ("fail", 61)], 62, 0),          # spread over two windows: no lock
    ([("fail", 0), ("fail", 1), ("ok", 2), ("fail", 3)], 4, 0),   # success clears the count
    ([("fail", 0), ("fail", 1), ("fail", 2), ("ok", 3)], 4, 298),  # but not a lock
])
def test_throttle(events, at_s, locked_for_s):
    now = T0 + timedelta(seconds=at_s)
    assert throttle.retry_after_s(after(events), now) == pytest.approx(locked_for_s)
    assert code_of(throttle.check_not_locked, after(events), now) == ("locked_out" if locked_for_s else None)


def test_lockout_says_when_to_come_back():
    state = after([("fail", 0), ("fail", 1), ("fail", 2)])
    with pytest.raises(Refused) as refused:
        throttle.check_not_locked(state, T0 + timedelta(seconds=3))
    assert refused.value.details == {"retry_after_s": 299, "minutes": 5}


# --- passwords ---------------------------------------------------------------------------------------------

IDENTITY = ["UP1001", "+919812345612"]


@pytest.mark.parametrize("password, code", [
    ("Ghar-ka-rasta-42", None),
    ("kaccha aam 2024", None),
    ("Short1", "password_too_short"),
    ("abcdefghijk", "password_too_simple"),          # one character class
    ("1234567890", "password_too_simple"),
    ("aaaaaaa1111", "password_too_simple"),          # long repeats
    ("ab1ab1ab1ab1", "password_too_simple"),         # too few distinct characters
    ("Password123", "password_common"),
    ("P@ssw0rd2024", "password_common"),
    ("cricket@2024", "password_common"),
    ("x-UP1001-secret", "password_contains_identity"),
    ("my9812345612phone", "password_contains_identity"),
    ("x" * 257 + "1", "request_invalid"),
])
def test_password_strength(password, code):
    assert code_of(passwords.check_strength, password, min_length=10, identity=IDENTITY) == code


def test_passwords_are_argon2id_hashed_and_verified():
    hashed = passwords.hash_secret("Ghar-ka-rasta-42")
    assert hashed.startswith("$argon2id$") and "Ghar" not in hashed
    assert passwords.verify_secret(hashed, "Ghar-ka-rasta-42")
    assert not passwords.verify_secret(hashed, "ghar-ka-rasta-42")
    assert not passwords.verify_secret("not a hash", "anything")
    assert not passwords.needs_rehash(hashed)


# --- reasons ------------------------------------------------------------------------------------------------

def test_every_reason_has_english_and_hindi_text_and_an_error_status():
    for code, reason in REASONS.items():
        assert 400 <= reason.status < 600, code
        assert reason.en and reason.hi and reason.en != reason.hi, code
        assert any("\u0900" <= ch <= "\u097f" for ch in reason.hi), f"{code}: Hindi text is not in Devanagari"
        assert fields(reason.en) == fields(reason.hi), f"{code}: the two texts use different placeholders"


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_messages_fill_their_details():
    assert render(REASONS["code_wrong"], {"attempts_left": 2}) == {
        "en": "Wrong code. 2 attempts left.", "hi": "गलत कोड। 2 प्रयास बाकी हैं।"}
    assert render(REASONS["code_wrong"], {})["en"] == "Wrong code. ? attempts left."
    with pytest.raises(KeyError):
        Refused("no_such_reason")
