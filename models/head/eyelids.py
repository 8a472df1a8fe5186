"""Eyelid margins, the lid gap, and the blink corrective that closes the lids.

The margin of each lid is the chain of head vertices along the shortest surface path through the
68-point eye landmarks (corner, two lid points, corner). At a full blink the upper and lower chains
must meet; where the transferred blink leaves a gap, a corrective moves both chains onto a common
meeting curve just outside the eyeball and spreads that motion harmonically over the lids.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra

from ..geometry import (arc_length_param, edge_length_graph, edges_of, harmonic_fill, point_polyline_distance,
                        uniform_laplacian)
from ..vocab.landmarks68 import EYE
from .asset import HeadAsset, LidMargins

# Where the lids meet, as a fraction of the way from the lower to the upper margin (a real blink is
# mostly the upper lid travelling down).
MEET_FRACTION = 0.3
MARGIN_SEPARATION = 0.00002  # half the distance kept between the closed margins
LID_CLEARANCE = 0.0005  # metres between a closed lid and the eyeball surface
EDGE_BAND = 0.0015  # metres behind a margin that move with it


def _path(graph, a: int, b: int) -> list[int]:
    _, pred = dijkstra(graph, directed=False, indices=a, return_predecessors=True)
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def lid_margins(vertices: np.ndarray, faces: np.ndarray, landmarks: np.ndarray) -> dict[str, LidMargins]:
    """Margins of both eyes on a mesh, `faces` restricted to the skin (no eyeballs)."""
    used = np.unique(faces)
    graph = edge_length_graph(vertices, edges_of(faces))
    out = {}
    for eye, opening in EYE.items():
        near = [int(used[np.argmin(np.linalg.norm(vertices[used] - landmarks[i], axis=1))]) for i in opening.ids]
        c0, u1, u2, c1, l1, l2 = near
        upper = _path(graph, c0, u1)[:-1] + _path(graph, u1, u2)[:-1] + _path(graph, u2, c1)
        lower = _path(graph, c0, l2)[:-1] + _path(graph, l2, l1)[:-1] + _path(graph, l1, c1)
        out[eye] = LidMargins(np.array(upper), np.array(lower))
    return out


def lid_gap_mm(vertices: np.ndarray, margins: LidMargins) -> float:
    """Largest distance from an inner margin vertex of one lid to the other lid's margin, in mm."""
    upper, lower = vertices[margins.upper], vertices[margins.lower]
    d1 = point_polyline_distance(upper[1:-1], lower)
    d2 = point_polyline_distance(lower[1:-1], upper)
    return float(max(d1.max(), d2.max()) * 1000)


def eyelid_gap_mm(asset: HeadAsset, vertices: np.ndarray, sides=("left", "right")) -> float:
    """Largest gap between the upper and lower lid margins of the given eyes of `asset`, in mm."""
    return max(lid_gap_mm(vertices, asset.eyelid_margins[side]) for side in sides)


def close_lids(template: np.ndarray, blink: np.ndarray, faces: np.ndarray, margins: LidMargins,
               eye_centre: np.ndarray, eye_radius: float, region_radius: float = 0.03, lap=None) -> np.ndarray:
    """Corrective added to `blink` (V, 3) so the lids of one eye meet; returns the corrected blink.

    `lap`: uniform_laplacian(faces, V) when the caller already has it (it depends only on the faces)."""
    closed = template + blink
    up_t = arc_length_param(template[margins.upper])
    lo_t = arc_length_param(template[margins.lower])
    up, lo = closed[margins.upper], closed[margins.lower]

    def curve(t, pts, pts_t):
        return np.stack([np.interp(t, pts_t, pts[:, k]) for k in range(3)], 1)

    def meet(t):
        lower_at, upper_at = curve(t, lo, lo_t), curve(t, up, up_t)
        m = lower_at + MEET_FRACTION * (upper_at - lower_at)
        r = m - eye_centre
        dist = np.linalg.norm(r, axis=1, keepdims=True)
        return np.where(dist < eye_radius + LID_CLEARANCE, eye_centre + r / dist * (eye_radius + LID_CLEARANCE), m)

    # the closed margins stay a hair apart, upper above lower, so the corner triangles keep their orientation
    rest_up = curve(lo_t, template[margins.upper], up_t) - template[margins.lower]
    rest_lo = template[margins.upper] - curve(up_t, template[margins.lower], lo_t)
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    fixed_ids = np.r_[margins.upper[1:-1], margins.lower[1:-1]]
    fixed_val = np.r_[meet(up_t[1:-1]) + MARGIN_SEPARATION * unit(rest_lo[1:-1]) - up[1:-1],
                      meet(lo_t[1:-1]) - MARGIN_SEPARATION * unit(rest_up[1:-1]) - lo[1:-1]]
    # the lid's edge moves as a unit: vertices just behind a margin take its correction
    used = np.unique(faces)
    near = used[np.linalg.norm(template[used] - eye_centre, axis=1) < region_radius]
    near = np.setdiff1d(near, fixed_ids)
    dist = np.linalg.norm(template[near][:, None] - template[fixed_ids][None], axis=2)
    band = dist.min(1) < EDGE_BAND
    fixed_val = np.r_[fixed_val, fixed_val[dist[band].argmin(1)]]
    fixed_ids = np.r_[fixed_ids, near[band]]
    correction = _lid_correction(template, faces, fixed_ids, fixed_val, eye_centre, region_radius, lap)
    corrected = blink + correction
    return keep_outside_eyeball(template, corrected, faces, eye_centre, eye_radius, region_radius)


def _lid_correction(template, faces, fixed_ids, fixed_val, centre, radius, lap=None):
    """Values at fixed_ids, zero outside a ball around `centre`, harmonic in between."""
    n = len(template)
    used = np.unique(faces)
    inside = np.zeros(n, bool)
    inside[used] = np.linalg.norm(template[used] - centre, axis=1) < radius
    free = inside.copy()
    free[fixed_ids] = False
    lap = uniform_laplacian(faces, n) if lap is None else lap
    values = np.zeros((n, 3))
    values[fixed_ids] = fixed_val
    return harmonic_fill(lap, values, free)


def keep_outside_eyeball(template, blink, faces, centre, radius, region_radius=0.03, iterations=20):
    """Vertices outside the eyeball at rest stay outside it when the lid closes.

    Each keeps LID_CLEARANCE from the eyeball, or its clearance at rest where that is smaller: the rim
    of the socket lies almost on the eyeball, and pushing it out alone would fold its triangles.
    """
    used = np.unique(faces)
    near = used[np.linalg.norm(template[used] - centre, axis=1) < region_radius]
    rest = np.linalg.norm(template[near] - centre, axis=1)
    outside_at_rest = near[rest > radius]
    clearance = np.minimum(LID_CLEARANCE, rest[rest > radius] - radius)
    blink = blink.copy()
    for _ in range(iterations):
        p = template[outside_at_rest] + blink[outside_at_rest]
        r = p - centre
        d = np.linalg.norm(r, axis=1)
        bad = d < radius + clearance * 0.5
        if not bad.any():
            break
        target = centre + r[bad] / d[bad, None] * (radius + clearance[bad])[:, None]
        blink[outside_at_rest[bad]] = target - template[outside_at_rest[bad]]
    return blink


def inside_eyeball_count(template: np.ndarray, deformed: np.ndarray, faces: np.ndarray,
                         centre: np.ndarray, radius: float, region_radius: float = 0.03) -> int:
    """Skin vertices outside the eyeball at rest that end up inside it."""
    used = np.unique(faces)
    near = used[np.linalg.norm(template[used] - centre, axis=1) < region_radius]
    outside_at_rest = near[np.linalg.norm(template[near] - centre, axis=1) > radius]
    return int((np.linalg.norm(deformed[outside_at_rest] - centre, axis=1) < radius).sum())
