"""Retry delays shared by kiosk and hub: exponential, capped and jittered.

Jitter matters at scale: after a broker restart, 2,000 kiosks that all wait
exactly 1, 2, 4 s would reconnect in synchronized waves.
"""

import random
from collections.abc import Callable


def backoff_delay(attempt: int, initial_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Wait before retry ``attempt`` (0-based): doubling, capped, jittered to 50-100 %."""
    base = min(max_s, initial_s * (2 ** min(attempt, 32)))
    return base * (0.5 + 0.5 * rand())
