"""The MultiREX protocol for face-mesh accuracy on FLAME topology.

Regions forehead, nose, mouth and cheeks (non-overlapping: the head asset's `forehead_brows`, `nose`, `mouth` and
`cheeks` parts, which split its face region). For each region the ground truth is rigidly aligned (rotation and
translation, no scale) onto the prediction, mouth and cheeks jointly by one transform; the error is the mean vertex
distance in millimetres, per region and averaged over the four. For clips also: temporal jitter (`jitter_mm`), the
spread of the same frames over camera views (`view_spread_mm`) and the timing of blinks and mouth opening
(`event_timing`).
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


def _region_means(per_vertex: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float]:
    """Means of per-vertex values (..., V) over each region's vertices, and their mean over the four."""
    out = {r: float(per_vertex[..., np.asarray(regions[r])].mean()) for r in REGIONS}
    out["mean"] = float(np.mean([out[r] for r in REGIONS]))
    return out


def jitter_mm(meshes: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float]:
    """Temporal jitter of a clip's meshes (T, V, 3) in metres: the mean length of each vertex's second difference
    over consecutive frames, in mm, per region and over the four (compare a prediction's with its ground truth's
    own: the truth moves too)."""
    m = np.asarray(meshes, np.float64)
    if len(m) < 3:
        return {r: float("nan") for r in (*REGIONS, "mean")}
    return _region_means(np.linalg.norm(m[2:] - 2 * m[1:-1] + m[:-2], axis=2) * 1000.0, regions)


def view_spread_mm(meshes: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float]:
    """Cross-view consistency: the same frames' predictions from several views (N_views, T, V, 3) in metres; the
    mean distance of each view's vertex to the views' mean position of that frame, in mm, per region and over
    the four (0 when every view gives the same mesh)."""
    m = np.asarray(meshes, np.float64)
    if len(m) < 2:
        return {r: float("nan") for r in (*REGIONS, "mean")}
    return _region_means(np.linalg.norm(m - m.mean(0, keepdims=True), axis=3) * 1000.0, regions)


def _runs(state: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.r_[False, np.asarray(state, bool), False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def event_timing(truth: np.ndarray, prediction: np.ndarray, fps: float) -> dict:
    """Timing of on/off events (blinks, mouth opening) from per-frame states (T,) bool: each ground-truth event
    is matched with the first predicted event that overlaps it; onset and release errors in ms are the mean
    absolute differences of their first and last frames over the matched events; `missed` ground-truth events
    overlap no prediction, `false` predicted events overlap no ground truth."""
    true_runs, pred_runs = _runs(truth), _runs(prediction)
    onset, release = [], []
    for a0, a1 in true_runs:
        match = next((k for k, (b0, b1) in enumerate(pred_runs) if b0 < a1 and a0 < b1), None)
        if match is None:
            continue
        b0, b1 = pred_runs[match]
        onset.append(abs(b0 - a0))
        release.append(abs(b1 - a1))
    overlapping = {k for k, (b0, b1) in enumerate(pred_runs) if any(b0 < a1 and a0 < b1 for a0, a1 in true_runs)}
    ms = 1000.0 / fps
    return {"events": len(true_runs), "matched": len(onset), "missed": len(true_runs) - len(onset),
            "false": len(pred_runs) - len(overlapping),
            "onset_ms": float(np.mean(onset) * ms) if onset else float("nan"),
            "release_ms": float(np.mean(release) * ms) if release else float("nan")}
