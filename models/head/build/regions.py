"""Region masks on FLAME topology, computed from the 68 landmarks and the transferred expressions.

- face: skin vertices that any ARKit shape moves by more than 0.3 mm, closed by one ring of
  neighbours and with holes filled (the area an expression can change);
- the six parts split the face by geodesic distance to seed landmarks: forehead_brows (brows 17-26),
  eyes (36-47), nose (27-35), mouth (48-67), chin_jaw (contour 5-11), cheeks (contour 1-4 and
  12-15 plus points half-way between the eye and mouth corners). Every face vertex gets exactly one part.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ...geometry import adjacency, edge_length_graph, edges_of
from ...vocab import landmarks68 as L68

PART_SEEDS = {
    "forehead_brows": list(L68.BROWS),
    "eyes": list(L68.EYES_ALL),
    "nose": list(L68.NOSE),
    "mouth": list(L68.MOUTH),
    "chin_jaw": list(L68.CHIN_CONTOUR),
    "cheeks": list(L68.CHEEK_CONTOUR),
}
MOVE_THRESHOLD = 0.0003


def compute_regions(vertices: np.ndarray, skin_faces: np.ndarray, blendshapes: np.ndarray,
                    landmarks: np.ndarray) -> dict[str, np.ndarray]:
    n = len(vertices)
    skin = np.zeros(n, bool)
    skin[np.unique(skin_faces)] = True
    moved = (np.linalg.norm(blendshapes, axis=2).max(0) > MOVE_THRESHOLD) & skin
    adj = adjacency(skin_faces, n)
    face = moved | ((adj @ moved.astype(float)) > 0) & skin
    face = _fill_holes(face, adj, skin)

    e = edges_of(skin_faces)
    keep = face[e[:, 0]] & face[e[:, 1]]
    graph = edge_length_graph(vertices, e[keep])
    face_ids = np.where(face)[0]
    seeds = dict(PART_SEEDS)
    # cheek seeds between the outer eye corners and the mouth corners
    extra = {"cheeks": [0.5 * (landmarks[L68.EYE[side].corners[k]] + landmarks[L68.MOUTH_CORNER[side]])
                        for side, k in (("right", 0), ("left", 1))]}
    distances = []
    for name, ids in seeds.items():
        points = [landmarks[i] for i in ids] + extra.get(name, [])
        nearest = [int(face_ids[np.argmin(np.linalg.norm(vertices[face_ids] - p, axis=1))]) for p in points]
        distances.append(dijkstra(graph, directed=False, indices=nearest, min_only=True))
    owner = np.argmin(np.array(distances), axis=0)
    regions = {name: face & (owner == k) for k, name in enumerate(seeds)}
    regions["face"] = face
    return regions


def _fill_holes(mask: np.ndarray, adj: sp.csr_matrix, allowed: np.ndarray) -> np.ndarray:
    """Add the components of ~mask (within `allowed`) that do not reach the largest one."""
    from scipy.sparse.csgraph import connected_components

    rest = allowed & ~mask
    ids = np.where(rest)[0]
    sub = adj[ids][:, ids]
    _, labels = connected_components(sub, directed=False)
    biggest = np.bincount(labels).argmax()
    out = mask.copy()
    out[ids[labels != biggest]] = True
    return out
