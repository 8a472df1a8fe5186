"""The pinhole camera of a clip (OpenCV: +z forward, +x right, +y down, pixel origin at the top-left corner)."""
from __future__ import annotations

import numpy as np

# The head frame seen by a camera straight in front of the face: +Y up -> -y, +Z (out of the face) -> -z.
FRONTAL = np.diag([1.0, -1.0, -1.0])
DEFAULT_FOV_DEG = 60.0  # across the wider side, when the clip's camera is unknown
FULL_FRAME_WIDTH_MM = 36.0


def fov_from_focal_mm(focal_mm: float, sensor_mm: float = FULL_FRAME_WIDTH_MM) -> float:
    """The field of view (degrees) across the wider side of a lens of `focal_mm` on a `sensor_mm`-wide sensor
    (a 35 mm-equivalent focal length by default)."""
    return float(np.degrees(2 * np.arctan(sensor_mm / (2 * focal_mm))))


def intrinsics(size, fov_deg: float) -> np.ndarray:
    """K for a (width, height) image whose wider side spans `fov_deg`, principal point at the centre."""
    w, h = size
    f = 0.5 * max(w, h) / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels."""
    z = points[..., 2:3]
    return points[..., :2] / z * np.array([k[0, 0], k[1, 1]]) + k[:2, 2]
