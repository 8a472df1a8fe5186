"""The pinhole camera of a clip (OpenCV: +z forward, +x right, +y down, pixel origin at the top-left corner)."""
from __future__ import annotations

import numpy as np

# The head frame seen by a camera straight in front of the face: +Y up -> -y, +Z (out of the face) -> -z.
FRONTAL = np.diag([1.0, -1.0, -1.0])


def intrinsics(size, fov_deg: float) -> np.ndarray:
    """K for a (width, height) image whose wider side spans `fov_deg`, principal point at the centre."""
    w, h = size
    f = 0.5 * max(w, h) / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels."""
    z = points[..., 2:3]
    return points[..., :2] / z * np.array([k[0, 0], k[1, 1]]) + k[:2, 2]
