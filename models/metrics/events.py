"""On/off facial events read off FLAME-topology meshes: each eye closed, the mouth open (per frame), for the timing
metric `multirex.event_timing`. Read through the head asset's 68-point embedding (inner lips 62/66, lids 37-41 and
38-40 right, 43-47 and 44-46 left), the same way for the ground truth and the prediction."""
from __future__ import annotations

import numpy as np

from models.geometry import barycentric_points

LIDS = {"blink_right": ((37, 41), (38, 40)), "blink_left": ((43, 47), (44, 46))}
INNER_LIPS = (62, 66)
CLOSED_FRACTION = 0.3  # an eye is closed below this fraction of its neutral opening
MOUTH_OPEN_MM = 4.0


def _gap(points: np.ndarray, pairs) -> np.ndarray:
    return np.mean([np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in pairs], axis=0)


def states(asset, meshes: np.ndarray, neutral: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame (T,) bool of `blink_right`, `blink_left` and `mouth_open`, for meshes (T, V, 3) whose neutral is
    `neutral`: (V, 3) for one identity, or (T, V, 3) one per frame; metres."""
    def lmk(v):
        return barycentric_points(np.asarray(v, np.float64), asset.faces, asset.lmk68_faces, asset.lmk68_bary)

    neutral = np.asarray(neutral)
    points, rest = lmk(meshes), lmk(neutral if neutral.ndim == 3 else neutral[None])
    out = {name: _gap(points, pairs) < CLOSED_FRACTION * _gap(rest, pairs) for name, pairs in LIDS.items()}
    out["mouth_open"] = _gap(points, (INNER_LIPS,)) * 1000.0 > MOUTH_OPEN_MM
    return out
