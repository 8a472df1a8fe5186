"""A face crop seen in a mirror: how each output of the capture model changes when its crop is flipped left to right.

Training flips crops and mirrors their targets (`train/data.py`); the runtime averages a crop's prediction with
its mirror image's, mapped back (`runtime.CaptureRuntime`). Conventions: the camera's x is image right and the head's
x the character's left, so a flip negates both; landmarks swap with their left/right partners (`capture64.MIRROR`);
gaze is [left, right] x [yaw, pitch] in the head frame.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.vocab import capture64

FLIP_X = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)


def mirror_images(images: np.ndarray) -> np.ndarray:
    """(B, R, R, 3) crops flipped left to right."""
    return np.ascontiguousarray(images[:, :, ::-1])


def mirror_landmarks(landmarks: np.ndarray, x_sum: float = 0.0) -> np.ndarray:
    """(B, 64, 2) landmarks as the flipped crop shows them: x becomes x_sum - x (0 in [-1, 1] crop units, R in crop
    pixels) and each point takes the place of its left/right partner."""
    out = landmarks[:, capture64.MIRROR].copy()
    out[..., 0] = x_sum - out[..., 0]
    return out


def mirror_rotation(rotation: np.ndarray) -> np.ndarray:
    """(B, 3, 3) head rotations in the crop's camera frame as the flipped crop shows them."""
    return FLIP_X @ rotation @ FLIP_X


def mirror_gaze(gaze: np.ndarray) -> np.ndarray:
    """(B, 2, 2) gaze as the flipped crop shows it: the eyes swap and their yaw changes sign."""
    return gaze[:, ::-1] * np.array([-1.0, 1.0], gaze.dtype)


def mean_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, 3, 3) chordal mean of two rotations each: their average projected back onto SO(3)."""
    u, _, vt = np.linalg.svd((a + b) / 2)
    d = np.sign(np.linalg.det(u @ vt))
    return (u * np.stack([np.ones_like(d), np.ones_like(d), d], -1)[:, None, :]) @ vt


@dataclasses.dataclass(frozen=True)
class CodeMirror:
    """The expression code of a face's mirror image as an affine function of its code, z' = [z, 1] @ matrix: the
    semantic encoder is near-linear, so a least-squares fit on (code, mirrored code) pairs holds to a small residual,
    which `fit` reports."""

    matrix: np.ndarray  # (65, 64)

    @classmethod
    def fit(cls, z_exp: np.ndarray, z_exp_mirror: np.ndarray) -> tuple["CodeMirror", float]:
        x = np.c_[np.asarray(z_exp, np.float64), np.ones(len(z_exp))]
        matrix = np.linalg.lstsq(x, np.asarray(z_exp_mirror, np.float64), rcond=None)[0]
        residual = float(np.abs(x @ matrix - z_exp_mirror).mean())
        return cls(matrix.astype(np.float32)), residual

    def __call__(self, z_exp: np.ndarray) -> np.ndarray:
        return (z_exp @ self.matrix[:-1] + self.matrix[-1]).astype(np.float32)
