"""Canonical JSON: the exact bytes a signature covers.

Sorted keys, no spaces, UTF-8, no NaN/Infinity. Signatures are computed over
the *received* dict (minus ``sig``), never over a re-serialised model, so a
hub never rejects a good punch because it formats a timestamp differently.
"""

import json
from typing import Any


# One encoder for every call (``json.dumps`` with options builds a new one each time); it is thread-safe.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` to the canonical byte form used for signing."""
    return _ENCODER.encode(obj).encode("utf-8")
