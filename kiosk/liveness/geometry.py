"""What the liveness checks measure on the 68 landmarks of one frame (iBUG 68 points; pure numpy)."""

import math

import numpy as np

# iBUG 68: eye on the image's left 36..41, on the image's right 42..47.
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
NON_EYE = np.r_[0:36, 48:68]  # points that stay put in a blink


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The landmarks as a finite (68, 2) float array; ValueError otherwise."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks must be a finite (68, 2) array, got shape {pts.shape}")
    return pts


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes (Soukupová & Čech 2016): ~0.3 open, <0.2 closed."""
    pts = check_landmarks(landmarks)
    return (ear_of(pts[LEFT_EYE]) + ear_of(pts[RIGHT_EYE])) / 2.0


def ear_of(eye: np.ndarray) -> float:
    p1, p2, p3, p4, p5, p6 = eye
    width = float(np.linalg.norm(p1 - p4))
    if width == 0.0:
        return 0.0
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width)


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (each the midpoint of its corners)."""
    pts = check_landmarks(landmarks)
    left = (pts[36] + pts[39]) / 2.0
    right = (pts[42] + pts[45]) / 2.0
    return float(np.linalg.norm(right - left))


def face_aspect(landmarks: np.ndarray) -> float:
    """Eye-line-to-mouth distance over eye distance, from points a blink does not move.

    A real blink leaves it unchanged; foreshortening a photo (tilting it,
    turning it) changes it in proportion.
    """
    pts = check_landmarks(landmarks)
    eyes_mid = (pts[36] + pts[39] + pts[42] + pts[45]) / 4.0
    mouth_mid = (pts[48] + pts[54]) / 2.0
    iod = eye_distance(pts)
    return float(np.linalg.norm(mouth_mid - eyes_mid)) / iod if iod else 0.0


def brow_gap(landmarks: np.ndarray) -> float:
    """Mean distance of the eyebrow points from the line through the outer eye corners, over the eye distance.

    A blink moves the lids, not the brows or the eye corners, so it leaves
    this put; folding the top of a print back along the eyes shrinks it
    with the lids.
    """
    pts = check_landmarks(landmarks)
    a, b = pts[36], pts[45]
    along = b - a
    length = float(np.linalg.norm(along))
    iod = eye_distance(pts)
    if length == 0.0 or iod == 0.0:
        return 0.0
    normal = np.array([-along[1], along[0]]) / length
    return float(np.mean(np.abs((pts[17:27] - a) @ normal))) / iod


def landmark_motion(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean movement of the non-eye landmarks between two frames, over the eye distance.

    A mean, not a median: dlib returns whole-pixel landmarks, so on a steady
    face most points repeat exactly between frames and a median reads 0.
    """
    prev, cur = check_landmarks(previous), check_landmarks(current)
    iod = eye_distance(cur)
    if iod == 0.0:
        return 0.0
    return float(np.mean(np.linalg.norm(cur[NON_EYE] - prev[NON_EYE], axis=1))) / iod


# Where the outer eye corners (36, 45) and the mouth corners (54, 48) sit on an
# average frontal face, in eye distances from the eyes' midpoint (median of
# the near-frontal dev photos, rounded and made symmetric).
PLANE_IDS = (36, 45, 54, 48)
PLANE_TEMPLATE = np.array([(-0.70, 0.0), (0.70, 0.0), (0.48, 1.02), (-0.48, 1.02)])


def nose_offset(landmarks: np.ndarray) -> float:
    """Where the nose tip sits across the face, in a frame no flat picture can move it in.

    The outer eye corners and the mouth corners are mapped onto an average
    frontal face by the one homography that does it, and the nose tip goes
    along; the answer is its x there (eye distances, positive towards the
    image's right like yaw). Every view of a flat print or screen, however
    it is tilted, turned or held close, is a homography of that print, so
    the answer stays put (up to landmark noise). A real head's nose stands
    out of the eye-mouth plane and slides sideways when the head turns.
    """
    pts = check_landmarks(landmarks)
    h = _homography(pts[list(PLANE_IDS)], PLANE_TEMPLATE)
    x, _, w = h @ np.r_[pts[30], 1.0]
    if not (math.isfinite(x) and math.isfinite(w)) or abs(w) < 1e-9:
        raise ValueError("landmarks too degenerate for a face plane")
    return float(x / w)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking four points ``src`` onto ``dst`` (direct linear solve).

    ``src`` is first moved to its centroid and scaled to unit size, so pixel
    coordinates do not make the 8x8 system ill-conditioned.
    """
    centre = src.mean(axis=0)
    scale = float(np.mean(np.linalg.norm(src - centre, axis=1)))
    if not scale > 0.0:
        raise ValueError("landmarks too degenerate for a face plane")
    norm = np.array([[1 / scale, 0, -centre[0] / scale], [0, 1 / scale, -centre[1] / scale], [0, 0, 1.0]])
    s = (src - centre) / scale
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(s, dst)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -u * x, -u * y)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -v * x, -v * y)
        b[2 * i], b[2 * i + 1] = u, v
    try:
        h = np.linalg.solve(a, b)
    except np.linalg.LinAlgError as exc:
        raise ValueError("landmarks too degenerate for a face plane") from exc
    return np.r_[h, 1.0].reshape(3, 3) @ norm
