"""Training-time image augmentation (the renders carry no noise, blur or compression): uint8 RGB crops in and out."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class Augment:
    p_colour: float = 0.8  # brightness, contrast, saturation, per-channel gain
    p_grey: float = 0.1
    p_blur: float = 0.2
    p_motion_blur: float = 0.15
    p_noise: float = 0.3
    p_jpeg: float = 0.3
    p_occluder: float = 0.3  # one to three random patches (flat colour or noise)


# `train --augment`: the preset's full set; a light one that keeps most crops sharp and unoccluded; none
PRESETS = {"full": Augment(),
           "light": Augment(p_blur=0.05, p_motion_blur=0.05, p_noise=0.1, p_jpeg=0.1, p_occluder=0.1),
           "none": None}


def _colour(img: np.ndarray, rng) -> np.ndarray:
    x = img.astype(np.float32)
    grey = x.mean(2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
    x = (x - x.mean()) * rng.uniform(0.7, 1.3) + x.mean()  # contrast
    x = x * rng.uniform(0.6, 1.4) * rng.uniform(0.9, 1.1, 3)  # brightness, white balance
    return np.clip(x, 0, 255).astype(np.uint8)


def _motion_blur(img: np.ndarray, rng) -> np.ndarray:
    n = int(rng.integers(3, max(4, img.shape[0] // 16)))
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2] = 1.0 / n
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (n, n))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def _occlude(img: np.ndarray, rng) -> np.ndarray:
    img = img.copy()
    r = img.shape[0]
    for _ in range(int(rng.integers(1, 4))):
        w, h = (int(v) for v in rng.uniform(0.1, 0.4, 2) * r)
        x, y = (int(v) for v in rng.uniform(0, r - np.array([w, h])))
        img[y:y + h, x:x + w] = (rng.integers(0, 256, 3) if rng.random() < 0.5
                                 else rng.integers(0, 256, (h, w, 3)))
    return img


def augment(img: np.ndarray, rng: np.random.Generator, a: Augment = Augment()) -> np.ndarray:
    if rng.random() < a.p_colour:
        img = _colour(img, rng)
    if rng.random() < a.p_grey:
        img = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, 2)
    if rng.random() < a.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.6)))
    if rng.random() < a.p_motion_blur:
        img = _motion_blur(img, rng)
    if rng.random() < a.p_occluder:
        img = _occlude(img, rng)
    if rng.random() < a.p_noise:
        img = np.clip(img + rng.normal(0, rng.uniform(2, 12), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < a.p_jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(img)
