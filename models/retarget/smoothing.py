"""Non-destructive smoothing of a Performance, applied at bake time (the raw result stays in the cache).

One-Euro (Casiez et al. 2012: an adaptive low-pass whose cutoff rises with speed) is the default;
Savitzky-Golay (scipy.signal.savgol_filter) is the other choice. `strength` in [0, 1]: 0 leaves the
curves as they are, 1 is the heaviest.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from .performance import Performance

METHODS = ("one_euro", "savgol", "none")


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.3, d_cutoff: float = 1.0):
    """Filter (T, D) samples along time."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    te = 1.0 / fps

    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    a_d = alpha(d_cutoff)
    prev, dprev = x[0], np.zeros_like(x[0])
    out[0] = prev
    for i in range(1, len(x)):
        dx = (x[i] - prev) / te
        dprev = a_d * dx + (1 - a_d) * dprev
        a = alpha(min_cutoff + beta * np.abs(dprev))
        prev = a * x[i] + (1 - a) * prev
        out[i] = prev
    return out


def smooth_array(x: np.ndarray, fps: float, method: str = "one_euro", strength: float = 0.5) -> np.ndarray:
    if method not in METHODS:
        raise ValueError(f"unknown smoothing {method!r}; use one of {', '.join(METHODS)}")
    strength = float(np.clip(strength, 0.0, 1.0))
    if method == "none" or strength == 0 or len(x) < 3:
        return np.asarray(x, np.float64).copy()
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    if method == "one_euro":
        # cutoff at rest: 3 Hz at strength 0+, 1.2 Hz at 0.5, 0.5 Hz at 1; fast moves open it up (beta)
        return one_euro(flat, fps, min_cutoff=3.0 * (1 / 6) ** strength, beta=1.0).reshape(x.shape)
    window = int(round(3 + strength * fps * 0.6)) | 1
    window = min(window, len(x) if len(x) % 2 else len(x) - 1)
    if window < 5:
        return flat.reshape(x.shape).copy()
    return savgol_filter(flat, window, 3 if window > 5 else 2, axis=0, mode="interp").reshape(x.shape)


def _smooth_rotations(m: np.ndarray, fps, method, strength) -> np.ndarray:
    shape = m.shape
    flat = m.reshape(shape[0], -1, 3, 3)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        q = Rotation.from_matrix(flat[:, j]).as_quat()
        q *= np.where(np.cumsum(np.r_[0, (np.sum(q[1:] * q[:-1], 1) < 0)]) % 2 == 1, -1, 1)[:, None]  # continuity
        q = smooth_array(q, fps, method, strength)
        out[:, j] = Rotation.from_quat(q).as_matrix()
    return out.reshape(shape)


def smooth_performance(perf: Performance, method: str = "one_euro", strength: float = 0.5) -> Performance:
    """A smoothed copy (weights stay in [0, 1])."""
    if method == "none" or strength <= 0:
        return perf
    w = np.clip(smooth_array(perf.weights, perf.fps, method, strength), 0.0, 1.0)
    return dataclasses.replace(
        perf, weights=w,
        head_rotation=_smooth_rotations(perf.head_rotation, perf.fps, method, strength),
        head_translation=smooth_array(perf.head_translation, perf.fps, method, strength),
        eye_rotation=_smooth_rotations(perf.eye_rotation, perf.fps, method, strength))
