"""Forgery sequences: each attack family as 10 fps frames a kiosk camera would see, from real photos.

A ``Spec`` names one sequence (family, photo, seed); ``frames_of(spec)`` is a
pure function of it, so the benchmark can cache the dlib landmarks of a
sequence and rebuild its pixels on the next run without storing them.

Families (all at 640x480, 10 fps, 6 s, face ~150 px high):

- ``still``: one camera frame injected over and over, bit-identical.
- ``jitter``: a print held by hand (a few pixels and degrees of shake), camera noise.
- ``turn``: a flat print swung left and right about its vertical axis (+-25-50 deg).
- ``fold``: the print folded down the nose line, both halves bent back 15-45 deg, swung.
- ``curve``: the print wrapped round a bottle (0.5-1.1 rad over the half width), swung.
- ``screen``: the photo on a phone/tablet screen (gamma, pixel grid, moire, blur), held and swung.
- ``paint_print``: the print alternated with a copy whose eyes are painted closed, for 2-4
  frames every 1.2-2.5 s (half the sequences with a drawn lash line), held by hand.
- ``paint_screen``: the same two photos alternated on a screen.
- ``paint_injected``: bit-identical frames except for the painted eyes (a replaced camera feed).
- ``fold_paint``: a folded print swung *and* alternated with its painted copy (against a
  mode that asks for both a blink and a turn).
"""

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.forgery_render import Pose, Screen, camera, on_screen, painted_shut, render_sheet
from benchmarks.liveness_frames import FPS
from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb

FAMILIES = ("still", "jitter", "turn", "fold", "curve", "screen", "paint_print", "paint_screen",
            "paint_injected", "fold_paint")
FRAMES = 60
FACE_PX = 150
SWINGS = {"turn", "fold", "curve", "screen", "fold_paint"}
PAINTED = {"paint_print", "paint_screen", "paint_injected", "fold_paint"}


@dataclass(frozen=True)
class Photo:
    """A real photo cut round its face and scaled so the face is ``FACE_PX`` high: the print's picture."""

    name: str
    sha256: str
    rgb: np.ndarray
    box: FaceBox
    landmarks: np.ndarray


@dataclass(frozen=True)
class Spec:
    family: str
    photo: Photo
    seed: int

    @property
    def key(self) -> str:
        return f"forgery-{self.family}-{self.photo.sha256[:24]}-s{self.seed}-n{FRAMES}-v1"


def load_photo(path: Path, name: str, encoder: FaceEncoder) -> Photo | None:
    """The photo prepared as a print, or None when dlib finds no face in it."""
    rgb = load_image_rgb(path)
    boxes = encoder.detect(rgb, 1) or encoder.detect(rgb, 2)
    if not boxes:
        return None
    b = boxes[0]
    m = int(b.height * 0.7)
    h, w = rgb.shape[:2]
    left, top = max(0, b.left - m), max(0, b.top - m)
    crop = rgb[top:min(h, b.bottom + m), left:min(w, b.right + m)]
    f = FACE_PX / b.height
    crop = np.ascontiguousarray(cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC))
    box = FaceBox(b.left - left, b.top - top, b.right - left, b.bottom - top).scaled(f)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Photo(name, digest, crop, box, encoder.landmarks68(crop, box))


def spec_rng(spec: Spec, stream: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{spec.key}:{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def hand_path(rng: np.random.Generator, n: int, swing: bool) -> list[Pose]:
    """Poses of a sheet held by hand: slow shake, and for ``swing`` a turn left and right after 1 s still."""
    t = np.arange(n) / FPS
    f1, f2 = rng.uniform(0.3, 0.9, 2)
    p = rng.uniform(0, 2 * math.pi, 6)
    amp = rng.uniform(1.0, 3.0)
    dx = amp * (np.sin(2 * math.pi * f1 * t + p[0]) + 0.5 * np.sin(2 * math.pi * f2 * t + p[1]))
    dy = amp * (np.sin(2 * math.pi * f2 * t + p[2]) + 0.5 * np.sin(2 * math.pi * f1 * t + p[3]))
    roll = rng.uniform(0.5, 1.5) * np.sin(2 * math.pi * f1 * t + p[4])
    pitch = rng.uniform(1.0, 4.0) * np.sin(2 * math.pi * f2 * t + p[5])
    yaw = np.zeros(n)
    if swing:
        peak, period = rng.uniform(25, 50), rng.uniform(1.6, 2.6)
        sign = rng.choice([-1.0, 1.0])
        moving = t >= 1.0
        yaw[moving] = sign * peak * np.sin(2 * math.pi * (t[moving] - 1.0) / period)
    return [Pose(yaw=float(yaw[i]), pitch=float(pitch[i]), roll=float(roll[i]), dx=float(dx[i]), dy=float(dy[i]))
            for i in range(n)]


def blink_schedule(rng: np.random.Generator, n: int) -> np.ndarray:
    """Which frames show the painted-shut copy: 2-4 frames every 1.2-2.5 s, the first after 1-2 s."""
    shut = np.zeros(n, bool)
    i = int(rng.uniform(1.0, 2.0) * FPS)
    while i < n:
        k = int(rng.integers(2, 5))
        shut[i:i + k] = True
        i += k + int(rng.uniform(1.2, 2.5) * FPS)
    return shut


def frames_of(spec: Spec) -> list[np.ndarray]:
    """The camera frames of one forgery sequence (deterministic in ``spec``)."""
    fam = spec.family
    if fam not in FAMILIES:
        raise ValueError(f"unknown forgery family {fam!r}")
    rng = spec_rng(spec, "shape")
    photo = spec.photo
    open_img = photo.rgb
    shut_img = painted_shut(photo.rgb, photo.landmarks, bool(rng.random() < 0.5), rng) if fam in PAINTED else None
    if fam in ("screen", "paint_screen"):
        screen = Screen.random(rng)
        open_img = on_screen(open_img, screen)
        shut_img = on_screen(shut_img, screen) if shut_img is not None else None
    kind, amount = "flat", 0.0
    if fam in ("fold", "fold_paint"):
        kind, amount = "fold", float(rng.uniform(15, 45))
    elif fam == "curve":
        kind, amount = "curve", float(rng.uniform(0.5, 1.1))
    nose_x = float(photo.landmarks[27:31, 0].mean())
    shut = blink_schedule(rng, FRAMES) if shut_img is not None else np.zeros(FRAMES, bool)
    noise = spec_rng(spec, "noise")
    if fam in ("still", "paint_injected"):
        base = camera(render_sheet(open_img, Pose()), noise)
        if fam == "still":
            return [base] * FRAMES
        shut_frame = camera(render_sheet(shut_img, Pose()), spec_rng(spec, "noise"))  # the same noise draw
        return [shut_frame if s else base for s in shut]
    path = hand_path(rng, FRAMES, fam in SWINGS)
    return [camera(render_sheet(shut_img if s else open_img, pose, kind, amount, nose_x), noise)
            for pose, s in zip(path, shut)]
