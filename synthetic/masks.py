"""Per-vertex masks on the FLAME skin that the skin shader reads (brows, lashes, lips, beard, lids, cheeks)
and the eye-local coordinates the eye shader reads. Computed once from the template and its landmarks;
as vertex attributes they follow any deformation."""
from __future__ import annotations

import numpy as np
from scipy import sparse

from models.head import HeadAsset

from .posing import landmarks

NEAR_RANGE = 0.02  # metres: a "near" mask is 1 on its curve and 0 this far away


def _polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    best = np.full(len(points), np.inf)
    for a, b in zip(line[:-1], line[1:]):
        ab = b - a
        t = np.clip(((points - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * ab), axis=1))
    return best


def _near(distance):
    return np.clip(1 - distance / NEAR_RANGE, 0, 1).astype(np.float32)


def _inside_polygon(points2d: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    x, y = points2d[:, 0], points2d[:, 1]
    inside = np.zeros(len(points2d), bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, 0)):
        crosses = (y0 > y) != (y1 > y)
        xc = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def _smooth(values, faces, n, iterations=3):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    adj = adj + adj.T + sparse.eye(n)
    deg = np.asarray(adj.sum(1)).ravel()
    for _ in range(iterations):
        values = (adj @ values) / deg
    return values.astype(np.float32)


def skin_masks(asset: HeadAsset) -> dict[str, np.ndarray]:
    """name -> (V,) float32 in 0..1, zero off the skin."""
    v = asset.template.astype(np.float64)
    n = len(v)
    lmk = landmarks(asset, v[None])[0]
    skin = np.zeros(n, bool)
    skin[asset.head_vertices] = True
    front = v[:, 2] > min(lmk[0, 2], lmk[16, 2]) - 0.01
    out = {}
    brow = np.minimum(_polyline_distance(v, lmk[17:22]), _polyline_distance(v, lmk[22:27]))
    out["brow_near"] = _near(brow) * front
    lash = np.minimum(_polyline_distance(v, lmk[36:40]), _polyline_distance(v, lmk[42:46]))
    out["lash_near"] = _near(lash) * front
    lower_lid = np.minimum(_polyline_distance(v, lmk[[39, 40, 41, 36]]), _polyline_distance(v, lmk[[45, 46, 47, 42]]))
    above = v[:, 1] > np.interp(v[:, 0], np.sort(lmk[36:48, 0]), lmk[36:48, 1][np.argsort(lmk[36:48, 0])])
    out["lid"] = (_near(lash * 1.6) * above * (lash < lower_lid)).astype(np.float32) * front
    lips = _inside_polygon(v[:, :2], lmk[48:60, :2]) & front & (v[:, 2] > lmk[48, 2] - 0.012)
    out["lips"] = _smooth(lips.astype(float), asset.faces, n, 2)
    x_lo, x_hi = lmk[3, 0], lmk[13, 0]
    beard = (v[:, 1] < lmk[33, 1] - 0.004) & (v[:, 1] > lmk[8, 1] - 0.035) & (v[:, 0] > x_lo) & (v[:, 0] < x_hi) \
        & front & ~lips
    beard &= ~(_polyline_distance(v, lmk[list(range(48, 60)) + [48]]) < 0.002)
    out["beard"] = _smooth(beard.astype(float), asset.faces, n, 3)
    cheek_centres = [0.5 * (lmk[36] + lmk[48]) + [-0.01, 0, 0], 0.5 * (lmk[45] + lmk[54]) + [0.01, 0, 0]]
    cheek = np.minimum(*(np.linalg.norm(v - c, axis=1) for c in cheek_centres))
    out["cheek"] = np.clip(1 - cheek / 0.03, 0, 1).astype(np.float32) * front
    # scalp for short hair: above a hairline 4.5 cm over the brows at the front, at ear-top height at the back
    front_z, back_z = lmk[27, 2] - 0.02, min(lmk[0, 2], lmk[16, 2]) - 0.03
    t = np.clip((v[:, 2] - back_z) / (front_z - back_z), 0, 1)
    hairline = (1 - t) * (lmk[0, 1] + 0.015) + t * (lmk[17:27, 1].max() + 0.045)
    out["scalp"] = _smooth((v[:, 1] > hairline).astype(float), asset.faces, n, 4)
    return {k: (m * skin).astype(np.float32) for k, m in out.items()}


def eye_local(asset: HeadAsset) -> np.ndarray:
    """(V, 3) each eyeball vertex relative to its eyeball's centre, in eyeball radii; iris towards +Z."""
    out = np.zeros((asset.n_vertices, 3), np.float32)
    for ids in (asset.eyeball_left, asset.eyeball_right):
        p = asset.template[ids].astype(np.float64)
        c = p.mean(0)
        r = np.linalg.norm(p - c, axis=1).mean()
        out[ids] = (p - c) / r
    return out
