"""Eyelash strands along the lid margins (numpy): fixed topology, positions recomputed from the posed lids
each sample, so lashes follow blinks and squints. Render-only: they do not hide landmarks."""
from __future__ import annotations

import dataclasses

import numpy as np

from models.geometry import arc_length_param
from models.head import HeadAsset

UPPER_STRANDS = 34
LOWER_STRANDS = 16
LASH_LENGTH = 0.009  # metres at lash_length 1, longest strand (middle of the upper lid)
BASE_WIDTH = 0.0003
LAYOUT_SEED = 20261121  # the strand pattern is the same for every sample; only length and pose change


@dataclasses.dataclass
class LashLayout:
    chains: list[np.ndarray]  # vertex chains (upper left, lower left, upper right, lower right)
    upper: list[bool]
    eye: list[int]  # 0 left, 1 right
    params: list[np.ndarray]  # per chain (strands, 4): position along the chain 0..1, length, tilt, width
    faces: np.ndarray  # (F, 3) for all strands


def layout(asset: HeadAsset) -> LashLayout | None:
    margins = asset.eyelid_margins
    if not margins:
        return None
    rng = np.random.default_rng(LAYOUT_SEED)
    chains, upper, eye, params = [], [], [], []
    faces = []
    base = 0
    # FLAME's "left" is the character's left (+X), the 68-landmark "left" eye (42-47)
    for side, eye_index in (("left", 0), ("right", 1)):
        for lid, n in (("upper", UPPER_STRANDS), ("lower", LOWER_STRANDS)):
            chain = np.asarray(getattr(margins[side], lid), int)
            t = np.sort(np.clip(np.linspace(0.04, 0.96, n) + rng.normal(0, 0.01, n), 0, 1))
            # longest in the middle and towards the outer corner
            profile = 0.55 + 0.45 * np.sin(np.pi * t) ** 0.7
            length = profile * rng.uniform(0.8, 1.0, n) * (1.0 if lid == "upper" else 0.45)
            tilt = rng.normal(0, 0.15, n)
            width = BASE_WIDTH * rng.uniform(0.8, 1.2, n)
            params.append(np.stack([t, length, tilt, width], 1))
            chains.append(chain)
            upper.append(lid == "upper")
            eye.append(eye_index)
            for k in range(n):
                v = base + 5 * k  # 5 vertices per strand: two at the root, two in the middle, the tip
                faces += [(v, v + 1, v + 3), (v, v + 3, v + 2), (v + 2, v + 3, v + 4)]
            base += 5 * n
    return LashLayout(chains, upper, eye, params, np.array(faces, np.int32))


def _along(points: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and unit tangents at arc-length fractions t of a polyline."""
    s = arc_length_param(points)
    pos = np.stack([np.interp(t, s, points[:, c]) for c in range(3)], 1)
    tangent = np.gradient(points, axis=0)
    tan = np.stack([np.interp(t, s, tangent[:, c]) for c in range(3)], 1)
    return pos, tan / np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-12)


def strands(lay: LashLayout, vertices: np.ndarray, eye_centres: np.ndarray, head_rotation: np.ndarray,
            length_scale: float) -> np.ndarray:
    """(N, 3) strand vertices for the posed head (label frame)."""
    forward = head_rotation @ np.array([0.0, 0.0, 1.0])
    up = head_rotation @ np.array([0.0, 1.0, 0.0])
    out = []
    for chain, is_upper, eye, prm in zip(lay.chains, lay.upper, lay.eye, lay.params):
        pos, tan = _along(vertices[chain].astype(np.float64), prm[:, 0])
        radial = pos - eye_centres[eye]
        radial /= np.linalg.norm(radial, axis=1, keepdims=True)
        # out of the lid, then curling away from the eye (up for the upper lid, down for the lower)
        curl = up if is_upper else -up
        d0 = radial + 0.6 * forward
        d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
        d0 = d0 + prm[:, 2:3] * tan
        d1 = d0 + 0.9 * curl
        d1 /= np.linalg.norm(d1, axis=1, keepdims=True)
        length = LASH_LENGTH * length_scale * prm[:, 1:2]
        side = tan * prm[:, 3:4]
        mid = pos + d0 * length * 0.55
        tip = mid + d1 * length * 0.45
        verts = np.stack([pos - side, pos + side, mid - side * 0.6, mid + side * 0.6, tip], 1)
        out.append(verts.reshape(-1, 3))
    return np.concatenate(out).astype(np.float32)
