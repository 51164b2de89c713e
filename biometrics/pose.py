"""Head pose (yaw, pitch, roll) from the 68 iBUG landmarks with cv2.solvePnP.

Six landmarks (nose tip, chin, outer eye corners, mouth corners) are fitted to
a generic 3D face seen by a pinhole camera whose focal length is the image
width and whose centre is the image centre. Neither the face nor the camera is
calibrated, so the angles are coarse (a few degrees) and carry a per-person
bias, chiefly in pitch; they are good for "is this roughly frontal" and "did
the head turn", not for measurement.

Sign convention (the camera's view, frames *not* mirrored):

- yaw > 0: the nose points towards the image's right, i.e. the person turned
  to *their own left*; a mirrored (selfie-view) frame flips the sign.
- pitch > 0: the nose points up (the person looks up).
- roll > 0: the eye line slopes down towards the image's right (the head
  leans clockwise as seen in the image).

The 3D model is written in camera axes (x right, y down, z away from the
camera) so a frontal face gives a near-identity rotation and the angles come
from where the rotated nose direction points, not from an Euler-order choice.
"""

import math
from dataclasses import dataclass

import numpy as np

# Landmark index (iBUG 68) -> generic 3D position in model units (~0.1 mm),
# nose tip at the origin; eyes and mouth lie behind the nose (larger z).
MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),         # 30 nose tip
        (0.0, 330.0, 65.0),      # 8 chin
        (-225.0, -170.0, 135.0),  # 36 outer corner of the eye on the image's left
        (225.0, -170.0, 135.0),   # 45 outer corner of the eye on the image's right
        (-150.0, 150.0, 125.0),   # 48 mouth corner on the image's left
        (150.0, 150.0, 125.0),    # 54 mouth corner on the image's right
    ],
    dtype=np.float64,
)
LANDMARK_IDS = (30, 8, 36, 45, 48, 54)
_MODEL_EYE_SPAN = 450.0


@dataclass(frozen=True)
class HeadPose:
    yaw: float    # degrees, > 0 towards the image's right
    pitch: float  # degrees, > 0 looking up
    roll: float   # degrees, > 0 clockwise in the image


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """Pinhole intrinsics for an uncalibrated camera; ``image_size`` is (width, height)."""
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be positive (width, height), got {image_size!r}")
    f = float(width)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> HeadPose:
    """Yaw, pitch and roll in degrees of the face whose 68 landmarks are given.

    ``landmarks`` is the (68, 2) array of ``FaceEncoder.landmarks68`` in pixel
    coordinates of an image of ``image_size`` = (width, height).
    """
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    image_points = pts[list(LANDMARK_IDS)]
    cam = camera_matrix(image_size)
    # Start from "frontal, at the distance the eye span implies": without a
    # guess the iterative solver can land on the mirrored solution.
    eye_span_px = float(np.linalg.norm(image_points[3] - image_points[2])) or 1.0
    z = cam[0, 0] * _MODEL_EYE_SPAN / eye_span_px
    nose = image_points[0]
    tvec = np.array([[(nose[0] - cam[0, 2]) * z / cam[0, 0]], [(nose[1] - cam[1, 2]) * z / cam[1, 1]], [z]])
    rvec = np.zeros((3, 1))
    ok, rvec, tvec = cv2.solvePnP(
        MODEL_POINTS, image_points, cam, None, rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        raise ValueError("solvePnP found no pose for these landmarks")
    rot, _ = cv2.Rodrigues(rvec)
    return pose_from_rotation(rot)


def pose_from_rotation(rot: np.ndarray) -> HeadPose:
    """Angles of a model-to-camera rotation, by where the face's axes end up."""
    facing = rot @ np.array([0.0, 0.0, -1.0])  # from the face towards the camera
    across = rot @ np.array([1.0, 0.0, 0.0])   # along the eye line
    yaw = math.degrees(math.atan2(facing[0], -facing[2]))
    pitch = math.degrees(math.atan2(-facing[1], math.hypot(facing[0], facing[2])))
    roll = math.degrees(math.atan2(across[1], across[0]))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)
