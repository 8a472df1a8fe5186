"""The MultiREX protocol for face-mesh accuracy on FLAME topology.

Regions forehead, nose, mouth and cheeks (non-overlapping: the head asset's `forehead_brows`, `nose`, `mouth` and
`cheeks` parts, which split its face region). For each region the ground truth is rigidly aligned (rotation and
translation, no scale) onto the prediction, mouth and cheeks jointly by one transform; the error is the mean vertex
distance in millimetres, per region and averaged over the four.
"""
from __future__ import annotations

import numpy as np

REGIONS = ("forehead", "nose", "mouth", "cheeks")
ASSET_REGIONS = {"forehead": "forehead_brows", "nose": "nose", "mouth": "mouth", "cheeks": "cheeks"}
ALIGNED_TOGETHER = (("forehead",), ("nose",), ("mouth", "cheeks"))


def regions_from_masks(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Vertex indices of each MultiREX region from the head asset's region masks (`HeadAsset.regions`)."""
    missing = [a for a in ASSET_REGIONS.values() if a not in masks]
    if missing:
        raise ValueError(f"the head asset lacks regions {missing}; rebuild it with `python -m models.head build`")
    out = {r: np.flatnonzero(np.asarray(masks[a], bool)) for r, a in ASSET_REGIONS.items()}
    every = np.concatenate(list(out.values()))
    if len(np.unique(every)) != len(every):
        raise ValueError("MultiREX regions overlap; the head asset's region masks must be disjoint")
    return out


def rigid_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B, N, 3) source moved by the rotation + translation that best fits it onto target (Kabsch, no scale)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    ms, mt = source.mean(1, keepdims=True), target.mean(1, keepdims=True)
    h = np.einsum("bni,bnj->bij", source - ms, target - mt)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))
    fix = np.tile(np.eye(3), (len(source), 1, 1))
    fix[:, 2, 2] = d
    rot = np.einsum("bji,bjk,bkl->bil", vt, fix, np.swapaxes(u, 1, 2))  # R = V diag(1,1,d) U^T
    return np.einsum("bij,bnj->bni", rot, source - ms) + mt


def errors_mm(prediction: np.ndarray, truth: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sample MultiREX error (B,) in mm of each region and their `mean`; meshes (B, V, 3) or (V, 3) in metres."""
    p, t = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
    if p.ndim == 2:
        p, t = p[None], t[None]
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    out = {}
    for group in ALIGNED_TOGETHER:
        ids = np.concatenate([regions[r] for r in group])
        aligned = rigid_align(t[:, ids], p[:, ids])
        dist = np.linalg.norm(aligned - p[:, ids], axis=2) * 1000.0
        start = 0
        for r in group:
            out[r] = dist[:, start:start + len(regions[r])].mean(1)
            start += len(regions[r])
    out["mean"] = np.mean([out[r] for r in REGIONS], axis=0)
    return out
