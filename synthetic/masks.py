"""Per-vertex masks on the FLAME skin that the skin shader reads (brows, lashes, lips, beard, lids, cheeks)
and the eye-local coordinates the eye shader reads. Computed once from the template and its landmarks;
as vertex attributes they follow any deformation."""
from __future__ import annotations

import numpy as np
from scipy import sparse

from models.geometry import barycentric_points, directed_edges, point_polyline_distance
from models.head import HeadAsset
from models.vocab import landmarks68 as L68

NEAR_RANGE = 0.02  # metres: a "near" mask is 1 on its curve and 0 this far away


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
    e = directed_edges(faces)  # inner edges twice: they weigh double against the open boundary
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
    lmk = barycentric_points(v, asset.faces, asset.lmk68_faces, asset.lmk68_bary)
    right_eye, left_eye = L68.EYE["right"], L68.EYE["left"]
    ear_right, ear_left = L68.JAW_END["right"], L68.JAW_END["left"]
    skin = np.zeros(n, bool)
    skin[asset.head_vertices] = True
    front = v[:, 2] > min(lmk[ear_right, 2], lmk[ear_left, 2]) - 0.01
    out = {}
    brow = np.minimum(point_polyline_distance(v, lmk[list(L68.BROW["right"])]),
                      point_polyline_distance(v, lmk[list(L68.BROW["left"])]))
    out["brow_near"] = _near(brow) * front
    lash = np.minimum(point_polyline_distance(v, lmk[list(right_eye.upper_line)]),
                      point_polyline_distance(v, lmk[list(left_eye.upper_line)]))
    out["lash_near"] = _near(lash) * front
    lower_lid = np.minimum(point_polyline_distance(v, lmk[list(right_eye.lower_line)]),
                           point_polyline_distance(v, lmk[list(left_eye.lower_line)]))
    eyes = lmk[list(L68.EYES_ALL)]
    above = v[:, 1] > np.interp(v[:, 0], np.sort(eyes[:, 0]), eyes[:, 1][np.argsort(eyes[:, 0])])
    out["lid"] = (_near(lash * 1.6) * above * (lash < lower_lid)).astype(np.float32) * front
    lips_outer = lmk[list(L68.LIPS_OUTER)]
    lips = _inside_polygon(v[:, :2], lips_outer[:, :2]) & front & (v[:, 2] > lmk[L68.MOUTH_CORNER["right"], 2] - 0.012)
    out["lips"] = _smooth(lips.astype(float), asset.faces, n, 2)
    x_lo, x_hi = lmk[L68.JAW[3], 0], lmk[L68.JAW[13], 0]
    beard = (v[:, 1] < lmk[L68.NOSE_BOTTOM, 1] - 0.004) & (v[:, 1] > lmk[L68.CHIN, 1] - 0.035) & (v[:, 0] > x_lo) \
        & (v[:, 0] < x_hi) & front & ~lips
    beard &= ~(point_polyline_distance(v, lmk[list(L68.LIPS_OUTER) + [L68.LIPS_OUTER[0]]]) < 0.002)
    out["beard"] = _smooth(beard.astype(float), asset.faces, n, 3)
    cheek_centres = [0.5 * (lmk[right_eye.corners[0]] + lmk[L68.MOUTH_CORNER["right"]]) + [-0.01, 0, 0],
                     0.5 * (lmk[left_eye.corners[1]] + lmk[L68.MOUTH_CORNER["left"]]) + [0.01, 0, 0]]
    cheek = np.minimum(*(np.linalg.norm(v - c, axis=1) for c in cheek_centres))
    out["cheek"] = np.clip(1 - cheek / 0.03, 0, 1).astype(np.float32) * front
    # the lower nose (tip and wings), redder than the rest of the face; the eye sockets, darker
    nose = point_polyline_distance(v, lmk[[L68.NOSE[3], L68.NOSE[6]]])
    out["nose"] = np.clip(1 - nose / 0.02, 0, 1).astype(np.float32) * front
    socket = np.minimum(*(np.linalg.norm(v - lmk[list(eye.ids)].mean(0), axis=1) for eye in (right_eye, left_eye)))
    out["socket"] = np.clip(1 - socket / 0.025, 0, 1).astype(np.float32) * front
    # scalp for short hair: above a hairline 4.5 cm over the brows at the front, at ear-top height at the back
    front_z, back_z = lmk[L68.NOSE_TOP, 2] - 0.02, min(lmk[ear_right, 2], lmk[ear_left, 2]) - 0.03
    t = np.clip((v[:, 2] - back_z) / (front_z - back_z), 0, 1)
    hairline = (1 - t) * (lmk[ear_right, 1] + 0.015) + t * (lmk[list(L68.BROWS), 1].max() + 0.045)
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
