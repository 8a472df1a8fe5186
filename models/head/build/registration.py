"""Dense correspondence between FLAME's head and ICT-FaceKit's skin.

1. Similarity alignment (Umeyama) of ICT onto FLAME on the 51 inner 68-point landmarks. The 17 contour
   landmarks are left out: both conventions put them on a silhouette, and they disagree by ~2 cm.
2. Non-rigid ICP: the FLAME head is deformed onto the aligned ICT surface, minimising
   stiffness * |L D|^2 + |D_i - (closest_i - x_i)|^2 + landmark terms, with the stiffness relaxed
   over the iterations (a Laplacian-regularised variant of Amberg et al. 2007).
3. Closest points are only taken within the same zone (upper/lower lip, upper/lower lid of each eye,
   the rest), so an upper-lid vertex never follows the lower lid: the lids and lips stay apart when
   the expression opens or closes them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ...geometry import (barycentric_points, edge_length_graph, edges_of, project_to_surface, similarity_transform,
                         uniform_laplacian, vertex_normals)
from ...vocab import landmarks68 as L68

INNER_LANDMARKS = np.array(L68.INNER)


def _line(opening: L68.Opening):
    """(corner, corner, [(upper, lower) pairs]): the line that splits the opening's upper and lower side."""
    return (*opening.corners, list(zip(opening.upper, opening.lower)))


MOUTH_LINE = _line(L68.INNER_MOUTH)
EYE_LINES = {f"eye_{side}": _line(opening) for side, opening in L68.EYE.items()}
ZONE_NAMES = ("rest", "lip_upper", "lip_lower", "eye_right_upper", "eye_right_lower", "eye_left_upper",
              "eye_left_lower")


@dataclasses.dataclass
class Similarity:
    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.translation

    def apply_vector(self, vectors: np.ndarray) -> np.ndarray:
        return self.scale * vectors @ self.rotation.T


@dataclasses.dataclass
class Correspondence:
    """Each FLAME head vertex as a point on the ICT surface."""

    source_vertices: np.ndarray  # FLAME vertex indices
    triangles: np.ndarray  # ICT triangle (index into the ICT triangle list) per vertex
    bary: np.ndarray  # (n, 3)
    distance: np.ndarray  # registered FLAME vertex to ICT surface, metres
    registered: np.ndarray  # (n, 3) the deformed FLAME head
    landmark_residual_mm: float  # mean over inner landmarks after registration


def align_similarity(ict_landmarks: np.ndarray, flame_landmarks: np.ndarray) -> Similarity:
    s, r, t = similarity_transform(ict_landmarks[INNER_LANDMARKS], flame_landmarks[INNER_LANDMARKS])
    return Similarity(float(s), r, t)


def _split_line(lm: np.ndarray, line) -> tuple[np.ndarray, np.ndarray]:
    """x samples and the y of the line between upper and lower contour."""
    a, b, pairs = line
    pts = [lm[a]] + [(lm[u] + lm[l]) / 2 for u, l in pairs] + [lm[b]]
    pts = np.array(sorted(pts, key=lambda p: p[0]))
    return pts[:, 0], pts[:, 1]


def zone_labels(points: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Zone index (see ZONE_NAMES) of each point, from the 68 landmarks of the same mesh."""
    labels = np.zeros(len(points), int)
    groups = [("lip", MOUTH_LINE, 0.75, 0.02)] + [(name, line, 0.85, 0.013) for name, line in EYE_LINES.items()]
    for name, line, half_width_factor, half_height in groups:
        a, b, pairs = line
        ids = [a, b] + [i for pair in pairs for i in pair]
        centre = lm[ids].mean(0)
        width = np.linalg.norm(lm[a] - lm[b])
        xs, ys = _split_line(lm, line)
        inside = ((np.abs(points[:, 0] - centre[0]) < half_width_factor * width)
                  & (np.abs(points[:, 1] - centre[1]) < half_height)
                  & (points[:, 2] > centre[2] - 0.025))
        upper = points[:, 1] > np.interp(points[:, 0], xs, ys)
        labels[inside & upper] = ZONE_NAMES.index(f"{name}_upper")
        labels[inside & ~upper] = ZONE_NAMES.index(f"{name}_lower")
    return labels


def split_lips_geodesic(zones: np.ndarray, vertices: np.ndarray, faces: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Relabel the lip zone: upper lip = geodesically nearer the upper-lip landmarks than the lower.

    A plane split cuts the inner lips, which curl into the mouth; along the surface, the inside of the
    mouth belongs to the lip it continues from.
    """
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    lip = np.isin(zones, [ZONE_NAMES.index("lip_upper"), ZONE_NAMES.index("lip_lower")])
    used = np.unique(faces)
    tree = cKDTree(vertices[used])
    seeds_upper = used[tree.query(lm[list(L68.UPPER_LIP)])[1]]
    seeds_lower = used[tree.query(lm[list(L68.LOWER_LIP)])[1]]
    graph = edge_length_graph(vertices, edges_of(faces))
    d_upper = dijkstra(graph, directed=False, indices=seeds_upper, min_only=True)
    d_lower = dijkstra(graph, directed=False, indices=seeds_lower, min_only=True)
    out = zones.copy()
    out[lip & (d_upper <= d_lower)] = ZONE_NAMES.index("lip_upper")
    out[lip & (d_upper > d_lower)] = ZONE_NAMES.index("lip_lower")
    return out


def _zoned_projection(points, point_zones, target_vertices, target_faces, face_zones):
    tri = np.zeros(len(points), int)
    bary = np.zeros((len(points), 3))
    dist = np.zeros(len(points))
    for zone in np.unique(point_zones):
        sel = np.where(point_zones == zone)[0]
        faces_in = np.where(face_zones == zone)[0]
        t, b, d = project_to_surface(points[sel], target_vertices, target_faces[faces_in])
        tri[sel], bary[sel], dist[sel] = faces_in[t], b, d
    return tri, bary, dist


def register(flame_vertices: np.ndarray, flame_faces: np.ndarray, head: np.ndarray,
             flame_lm_faces: np.ndarray, flame_lm_bary: np.ndarray,
             target_vertices: np.ndarray, target_faces: np.ndarray, target_landmarks: np.ndarray,
             source_zones: np.ndarray | None = None, target_zones: np.ndarray | None = None,
             stiffness=(50.0, 20.0, 8.0, 3.0, 1.0, 0.5), iterations_per_step: int = 3,
             landmark_weight: float = 10.0, max_distance: float = 0.01) -> Correspondence:
    """Deform the FLAME head (vertices `head`, already in the target frame) onto the target surface."""
    index_of = -np.ones(len(flame_vertices), int)
    index_of[head] = np.arange(len(head))
    head_faces = flame_faces[(index_of[flame_faces] >= 0).all(1)]
    local_faces = index_of[head_faces]
    x0 = flame_vertices[head].astype(np.float64)
    n = len(x0)
    lap = uniform_laplacian(local_faces, n)
    lap = sp.diags(1.0 / np.maximum(lap.diagonal(), 1)) @ lap
    # landmark rows: barycentric combinations of head vertices
    lm_ids = INNER_LANDMARKS
    rows = np.repeat(np.arange(len(lm_ids)), 3)
    cols = index_of[flame_faces[flame_lm_faces[lm_ids]]].ravel()
    lm_mat = sp.csr_matrix((flame_lm_bary[lm_ids].ravel(), (rows, cols)), shape=(len(lm_ids), n))
    lm_target = target_landmarks[lm_ids]

    flame_lm0 = barycentric_points(flame_vertices, flame_faces, flame_lm_faces, flame_lm_bary)
    src_zones = zone_labels(x0, flame_lm0) if source_zones is None else source_zones[head]
    tgt_zones = zone_labels(target_vertices, target_landmarks) if target_zones is None else target_zones
    # a triangle belongs to the zone most of its corners are in
    corner_zones = tgt_zones[target_faces]
    face_zones = np.array([np.bincount(z, minlength=len(ZONE_NAMES)).argmax() for z in corner_zones])
    target_normals = vertex_normals(target_vertices, target_faces)

    x = x0.copy()
    for alpha in stiffness:
        for _ in range(iterations_per_step):
            tri, bary, dist = _zoned_projection(x, src_zones, target_vertices, target_faces, face_zones)
            closest = np.einsum("pk,pkc->pc", bary, target_vertices[target_faces[tri]])
            tn = np.einsum("pk,pkc->pc", bary, target_normals[target_faces[tri]])
            sn = vertex_normals(x, local_faces)
            good = (dist < max_distance) & ((sn * tn).sum(1) > 0.3)
            w = good.astype(float)
            a = (alpha * (lap.T @ lap) + sp.diags(w) + landmark_weight * (lm_mat.T @ lm_mat)).tocsc()
            solver = splu(a)
            rhs = w[:, None] * closest + landmark_weight * (lm_mat.T @ lm_target) + alpha * (lap.T @ (lap @ x0))
            x = solver.solve(rhs)
    tri, bary, dist = _zoned_projection(x, src_zones, target_vertices, target_faces, face_zones)
    residual = np.linalg.norm(lm_mat @ x - lm_target, axis=1).mean() * 1000
    return Correspondence(head, tri, bary, dist, x, float(residual))
