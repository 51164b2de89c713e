"""Device state and clock skew decisions (pure)."""

from datetime import datetime, timedelta, timezone

import pytest

from hub.devices.state import clock_skew_s, device_state, is_clock_suspect

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "status, seen_ago_s, expected",
    [
        (None, None, "never seen"),
        ("online", 10, "online"),
        ("online", 200, "stale"),
        ("online", None, "stale"),
        ("offline", 10, "offline"),
        ("offline", 10_000, "offline"),
        (None, 5, "online"),
    ],
)
def test_device_state(status, seen_ago_s, expected):
    seen = None if seen_ago_s is None else NOW - timedelta(seconds=seen_ago_s)
    assert device_state(status, seen, NOW, stale_after_s=120) == expected


def test_skew_sign_and_bound():
    ahead = NOW + timedelta(seconds=95)
    assert clock_skew_s(ahead, NOW) == 95
    assert is_clock_suspect(95, bound_s=60)
    assert is_clock_suspect(-95, bound_s=60)
    assert not is_clock_suspect(30, bound_s=60)
    assert not is_clock_suspect(None, bound_s=60)

