"""The selfie of a phone punch: a size-limited JPEG with exactly one face, matched 1:1
against the employee's enrolled encodings with the kiosk's matcher.

The photo is decoded at reduced scale (JPEG draft mode) and never stored.
"""

import io
from collections.abc import Sequence

import numpy as np

from biometrics.encoder import FaceEncoder
from biometrics.matcher import verify
from hub.phone.reasons import Refused

JPEG_MAGIC = b"\xff\xd8\xff"


def decode_selfie(data: bytes, *, max_bytes: int, max_pixels: int, max_side: int) -> np.ndarray:
    """RGB uint8 array of a JPEG upload, scaled so its longest side is at most ``max_side``.

    The pixel count is checked from the header, before decoding, so a small
    file that claims a huge image cannot exhaust memory.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise Refused("selfie_missing")
    if len(data) > max_bytes:
        raise Refused("selfie_too_large", max_bytes=max_bytes)
    if not data.startswith(JPEG_MAGIC):
        raise Refused("selfie_invalid")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG" or img.width * img.height > max_pixels:
                raise Refused("selfie_invalid")
            img.draft("RGB", (max_side, max_side))
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((max_side, max_side))
            return np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise Refused("selfie_invalid") from exc


def single_face_encoding(encoder: FaceEncoder, rgb: np.ndarray) -> np.ndarray:
    """The encoding of the one face in ``rgb``; refuses none or several.

    Detection runs without upsampling first (a selfie's face is large, and
    this is several times faster); only when that finds nothing is the
    image searched again at double scale, for a face held further away.
    """
    boxes = encoder.detect(rgb, upsample=0) or encoder.detect(rgb, upsample=1)
    if not boxes:
        raise Refused("no_face")
    if len(boxes) > 1:
        raise Refused("several_faces", faces=len(boxes))
    return encoder.encode(rgb, boxes[0])


def match_distance(templates: Sequence[np.ndarray], probe: np.ndarray, accept_distance: float) -> float:
    """The selfie's score against the employee's templates (``verify``); refuses when not enrolled or no match."""
    if not templates:
        raise Refused("not_enrolled")
    accepted, distance = verify(templates, probe, accept_distance)
    if not accepted:
        raise Refused("face_mismatch")
    return distance


def is_marginal_match(distance: float, accept_distance: float, band: float) -> bool:
    """Accepted, but within ``band`` of the threshold: flag it for a reviewer."""
    return distance >= accept_distance - band


def templates_from_bytes(rows: Sequence[bytes]) -> list[np.ndarray]:
    """FaceTemplate.encoding blobs (512 bytes, float32 little-endian) as vectors."""
    return [np.frombuffer(blob, dtype="<f4") for blob in rows]
