"""Pictures of a forgery as a kiosk camera would see them: prints moved, bent and painted, and screens.

Pure image functions over a real photo (never a drawn face): a print is the
photo on a flat, folded or curved sheet, placed in 3D and projected through
a pinhole camera at 640x480; a screen is the photo with a display's gamma,
pixel grid, moire and blur; a painted eye is the photo's own eye region
inpainted from the skin around it, optionally with a dark lid line drawn
where the lashes of a closed eye would be. ``benchmarks.forgeries`` strings
these into sequences.
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.liveness_frames import FRAME_SIZE

FOCAL_PX = 560.0     # a ~60 deg wide camera at 640 px (Camera Module 3 is ~66 deg)
BACKGROUND = 118


@dataclass(frozen=True)
class Pose:
    """Where the sheet is: yaw/pitch/roll in degrees, shift in pixels at the sheet's distance, scale."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0


def sheet_profile(width: int, kind: str, amount: float, fold_x: float, strips: int = 24
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns ``u`` of the sheet and their 3D (x, z): flat, folded at ``fold_x`` or curved.

    ``fold``: both halves bent back by ``amount`` degrees, so the fold line
    (put on the nose) comes towards the camera like a nose. ``curve``: the
    sheet wrapped round a cylinder (a bottle) whose arc over the half width is
    ``amount`` radians, the middle nearest the camera.
    """
    if kind == "flat" or amount == 0.0:
        u = np.array([0.0, float(width)])
        return u, u - fold_x, np.zeros(2)
    if kind == "fold":
        u = np.array([0.0, fold_x, float(width)])
        du = u - fold_x
        phi = math.radians(amount)
        return u, du * math.cos(phi), np.abs(du) * math.sin(phi)
    if kind == "curve":
        u = np.linspace(0.0, float(width), strips + 1)
        radius = (width / 2.0) / amount
        du = u - fold_x
        return u, radius * np.sin(du / radius), radius * (1.0 - np.cos(du / radius))
    raise ValueError(f"unknown sheet kind {kind!r}")


def render_sheet(image: np.ndarray, pose: Pose, kind: str = "flat", amount: float = 0.0,
                 fold_x: float | None = None, distance_px: float = FOCAL_PX,
                 background: np.ndarray | None = None) -> np.ndarray:
    """The 640x480 camera frame of ``image`` on a sheet at ``pose`` (strips drawn far to near)."""
    w_out, h_out = FRAME_SIZE
    h, w = image.shape[:2]
    fold_x = w / 2.0 if fold_x is None else fold_x
    u, x3, z3 = sheet_profile(w, kind, amount, fold_x)
    rot, _ = cv2.Rodrigues(np.radians([pose.pitch, pose.yaw, 0.0]))
    roll, _ = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(pose.roll)]))
    rot = roll @ rot
    ys = np.array([0.0, float(h)]) - h / 2.0
    frame = background.copy() if background is not None else np.full((h_out, w_out, 3), BACKGROUND, np.uint8)
    quads = []
    for i in range(len(u) - 1):
        corners_3d = np.array([[x3[i], ys[0], -z3[i]], [x3[i + 1], ys[0], -z3[i + 1]],
                               [x3[i + 1], ys[1], -z3[i + 1]], [x3[i], ys[1], -z3[i]]]) * pose.scale
        cam = corners_3d @ rot.T + np.array([0.0, 0.0, distance_px])
        proj = FOCAL_PX * cam[:, :2] / cam[:, 2:3] + np.array([w_out / 2 + pose.dx, h_out / 2 + pose.dy])
        src = np.array([[u[i], 0], [u[i + 1], 0], [u[i + 1], h], [u[i], h]], np.float32)
        quads.append((float(cam[:, 2].mean()), src, proj.astype(np.float32)))
    for _, src, dst in sorted(quads, key=lambda q: -q[0]):
        hom = cv2.getPerspectiveTransform(src, dst)
        x0, y0 = np.floor(dst.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(dst.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w_out, x1), min(h_out, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]])
        patch = cv2.warpPerspective(image, shift @ hom, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst - [x0, y0]).astype(np.int32), 1)
        region = frame[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return frame


def camera(frame: np.ndarray, rng: np.random.Generator, noise_sigma: float = 2.0, blur_sigma: float = 0.6
           ) -> np.ndarray:
    """What the sensor delivers: a little optical blur and fresh noise on every pixel."""
    out = cv2.GaussianBlur(frame, (0, 0), blur_sigma) if blur_sigma > 0 else frame
    noise = rng.standard_normal(out.shape, dtype=np.float32) * noise_sigma
    return np.clip(out + noise, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Screen:
    """How one display shows a photo: gamma, brightness, blue cast, pixel pitch, moire, blur."""

    gamma: float
    gain: float
    blue: float
    pitch: float        # display pixels per photo pixel (<1: the photo is resampled coarser)
    moire_amp: float
    moire_period_px: float
    moire_angle_deg: float
    blur_sigma: float

    @staticmethod
    def random(rng: np.random.Generator) -> "Screen":
        return Screen(gamma=float(rng.uniform(0.75, 1.4)), gain=float(rng.uniform(0.95, 1.25)),
                      blue=float(rng.uniform(1.0, 1.12)), pitch=float(rng.uniform(0.5, 1.0)),
                      moire_amp=float(rng.uniform(0.02, 0.08)), moire_period_px=float(rng.uniform(3.0, 9.0)),
                      moire_angle_deg=float(rng.uniform(0, 180)), blur_sigma=float(rng.uniform(0.5, 1.5)))


def on_screen(image: np.ndarray, screen: Screen) -> np.ndarray:
    """The photo as the display shows it (before the kiosk camera sees it)."""
    h, w = image.shape[:2]
    img = image.astype(np.float32) / 255.0
    if screen.pitch < 1.0:
        small = cv2.resize(img, (max(8, round(w * screen.pitch)), max(8, round(h * screen.pitch))),
                           interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    img = np.power(np.clip(img, 0, 1), screen.gamma) * screen.gain
    img[..., 2] *= screen.blue
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = math.radians(screen.moire_angle_deg)
    phase = (xx * math.cos(a) + yy * math.sin(a)) * (2 * math.pi / screen.moire_period_px)
    img *= (1.0 + screen.moire_amp * np.sin(phase))[..., None]
    img = cv2.GaussianBlur(img, (0, 0), screen.blur_sigma)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def painted_shut(image: np.ndarray, landmarks: np.ndarray, lash_line: bool, rng: np.random.Generator
                 ) -> np.ndarray:
    """The photo with both eyes painted closed: the eye inpainted from the skin round it.

    With ``lash_line`` a dark, slightly curved line is drawn along the lower
    lid, where a closed eye's lashes are, as a careful forger would.
    """
    out = image.copy()
    mask = np.zeros(image.shape[:2], np.uint8)
    for first in (36, 42):
        eye = np.round(landmarks[first:first + 6]).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(eye), 255)
    grow = max(2, int(round(float(np.linalg.norm(landmarks[36] - landmarks[39])) * 0.12)))
    mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    out = cv2.inpaint(out, mask, 5, cv2.INPAINT_TELEA)
    if lash_line:
        darkness = float(rng.uniform(0.35, 0.6))
        for first in (36, 42):
            p = landmarks[first:first + 6]
            line = np.array([p[0], (p[5] + p[1]) / 2 * 0.3 + p[5] * 0.7, (p[4] + p[2]) / 2 * 0.3 + p[4] * 0.7, p[3]])
            line[:, 1] -= 0.5
            colour = tuple(float(c) * darkness for c in out[int(p[0][1]), int(p[0][0])])
            cv2.polylines(out, [np.round(line).astype(np.int32)], False, colour, 1 if rng.random() < 0.5 else 2,
                          cv2.LINE_AA)
        soft = cv2.GaussianBlur(out, (0, 0), 0.7)
        out[mask > 0] = soft[mask > 0]
    return out
