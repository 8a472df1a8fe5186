"""The one crop of the capture path: used by training, evaluation and the video runtime alike.

A square around the face, rolled so the eye line is horizontal, with a fixed margin, resized to the model's
resolution. Its source is MediaPipe's 478 landmarks (or the ground-truth ``mp478_2d`` of a synthetic label),
or a detector box when landmarks fail (no roll then). The 2x3 affine maps frame pixels to crop pixels, so
landmarks go both ways. Pixel coordinates: origin at the top-left corner of the image (pixel (i, j) covers
[j, j+1) x [i, i+1)), as in the dataset format.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from models.vocab import capture64

MARGIN = 0.15  # of the rolled landmark box's larger side, added on each side
BOX_MARGIN = 0.15  # the same for a detector box
_RIGHT_EYE = capture64.MP478[capture64.GROUPS["eyes"][:8]]
_LEFT_EYE = capture64.MP478[capture64.GROUPS["eyes"][8:]]


@dataclasses.dataclass(frozen=True)
class Square:
    centre: np.ndarray  # (2,) frame pixels
    size: float  # side in frame pixels
    roll: float  # radians; the crop's x axis is the frame's rotated by this (image coordinates, y down)


@dataclasses.dataclass(frozen=True)
class CropJitter:
    """Random perturbation of a ground-truth square so training sees the squares MediaPipe gives at run time.

    Each is the standard deviation of a normal draw (the size's also has a mean): log of the size ratio, centre shift as a fraction of the
    size (per axis), roll in degrees. Defaults: measured MediaPipe-vs-ground-truth spread on renders (README).
    """

    log_scale_mean: float = -0.06  # MediaPipe's square is 6 % smaller than the ground truth's on renders
    log_scale: float = 0.04
    shift: float = 0.016
    roll_deg: float = 1.2
    factor: float = 1.5  # the spread is widened by this much (robust spread of 42 renders; gross misses excluded)


@dataclasses.dataclass(frozen=True)
class Crop:
    image: np.ndarray  # (R, R, 3) uint8
    affine: np.ndarray  # (2, 3) frame pixels -> crop pixels

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(self.affine, points)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(invert_affine(self.affine), points)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a (2, 3) or (B, 2, 3) affine."""
    affine = np.asarray(affine, np.float64)
    points = np.asarray(points, np.float64)
    return np.einsum("...ij,...nj->...ni", affine[..., :2], points) + affine[..., None, :, 2]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    affine = np.asarray(affine, np.float64)
    inv = np.linalg.inv(affine[..., :2])
    return np.concatenate([inv, -np.einsum("...ij,...j->...i", inv, affine[..., 2])[..., None]], -1)


def _rot(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def square_from_landmarks(landmarks478: np.ndarray) -> Square:
    lm = np.asarray(landmarks478, np.float64)
    if lm.shape != (478, 2) or not np.all(np.isfinite(lm)):
        raise ValueError(f"landmarks must be (478, 2) finite MediaPipe pixels, got {lm.shape}")
    eye_line = lm[_LEFT_EYE].mean(0) - lm[_RIGHT_EYE].mean(0)  # image right when the face is upright
    roll = float(np.arctan2(eye_line[1], eye_line[0]))
    mean = lm.mean(0)
    rolled = (lm - mean) @ _rot(roll)  # coordinates along the crop's axes
    lo, hi = rolled.min(0), rolled.max(0)
    centre = mean + _rot(roll) @ ((lo + hi) / 2)
    return Square(centre, float((hi - lo).max() * (1 + 2 * MARGIN)), roll)


def square_from_box(box: np.ndarray) -> Square:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box must be x0, y0, x1, y1 with x1 > x0 and y1 > y0, got {box}")
    return Square(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), max(x1 - x0, y1 - y0) * (1 + 2 * BOX_MARGIN), 0.0)


def jittered(square: Square, jitter: CropJitter, rng: np.random.Generator) -> Square:
    f = jitter.factor
    size = square.size * float(np.exp(rng.normal(jitter.log_scale_mean, jitter.log_scale * f)))
    centre = square.centre + rng.normal(0, jitter.shift * f, 2) * square.size
    return Square(centre, size, square.roll + float(np.deg2rad(rng.normal(0, jitter.roll_deg * f))))


def square_affine(square: Square, resolution: int) -> np.ndarray:
    """(2, 3) frame -> crop: u = (R / size) * Rot(-roll) (p - centre) + R / 2."""
    linear = (resolution / square.size) * _rot(-square.roll)
    return np.concatenate([linear, (resolution / 2 - linear @ square.centre)[:, None]], 1)


def warp(image: np.ndarray, affine: np.ndarray, resolution: int) -> np.ndarray:
    # OpenCV puts pixel centres at integer coordinates, ours at +0.5: shift in and out
    cv = affine.copy()
    cv[:, 2] += cv[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(np.ascontiguousarray(image[..., :3]), cv, (resolution, resolution), flags=cv2.INTER_AREA
                          if affine[0, :2] @ affine[0, :2] < 0.25 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def make_crop(image: np.ndarray, resolution: int, landmarks478: np.ndarray | None = None,
              box: np.ndarray | None = None, jitter: CropJitter | None = None,
              rng: np.random.Generator | None = None) -> Crop:
    """The crop of a frame (H, W, 3) uint8 RGB from landmarks, else from a box; optional training jitter."""
    if landmarks478 is not None:
        square = square_from_landmarks(landmarks478)
    elif box is not None:
        square = square_from_box(box)
    else:
        raise ValueError("a crop needs MediaPipe landmarks or a face box")
    if jitter is not None:
        square = jittered(square, jitter, rng if rng is not None else np.random.default_rng())
    affine = square_affine(square, resolution)
    return Crop(warp(image, affine, resolution), affine)


def crop_roll(affine: np.ndarray) -> np.ndarray:
    """Angle (radians) by which the crop shows the frame's content rotated (image coordinates)."""
    affine = np.asarray(affine, np.float64)
    return np.arctan2(affine[..., 1, 0], affine[..., 0, 0])


def roll_matrix(angle) -> np.ndarray:
    """(..., 3, 3) rotation about the camera's optical axis that turns the frame's view into the crop's."""
    angle = np.asarray(angle, np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1
    return out


def rotation_to_crop(rotation_camera: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """A camera-frame rotation as the crop sees it (the training target); `rotation_to_frame` undoes it."""
    return roll_matrix(crop_roll(affine)) @ rotation_camera


def rotation_to_frame(rotation_crop: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return np.swapaxes(roll_matrix(crop_roll(affine)), -1, -2) @ rotation_crop
