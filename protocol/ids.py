"""UUIDv7 punch ids, made on the kiosk.

A UUIDv7 starts with the millisecond Unix time, so ids sort by creation time
and make good primary keys; the 74 random bits make collisions between
thousands of kiosks practically impossible. Python 3.11 has no uuid7.
"""

import os
import re
import time
import uuid

UUID7_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def new_punch_id(now_s: float | None = None) -> str:
    """Return a new UUIDv7 as a lowercase string."""
    ms = int((time.time() if now_s is None else now_s) * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_punch_id(text: str) -> bool:
    """True when ``text`` is a lowercase UUIDv7."""
    return bool(UUID7_PATTERN.match(text))
