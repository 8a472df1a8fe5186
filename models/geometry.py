"""Plain-numpy mesh geometry shared by the head builder, the quality checks and the renderers."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """The three edges (3F, 2) of every triangle in its winding: each inner edge twice, once each way."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def edges_of(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2), smaller index first."""
    return np.unique(np.sort(directed_edges(faces), axis=1), axis=0)


def adjacency(faces: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    e = edges_of(faces)
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    return (a + a.T).tocsr()


def components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Connected-component label per vertex."""
    return connected_components(adjacency(faces, n_vertices), directed=False)[1]


def uniform_laplacian(faces: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    """L = D - A (graph Laplacian); rows of isolated vertices are zero."""
    a = adjacency(faces, n_vertices)
    return (sp.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()


def cotangent_laplacian(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """Positive semi-definite cotangent Laplacian (weights clamped at a small positive value)."""
    v = vertices.astype(np.float64)
    rows, cols, vals = [], [], []
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        a, b, c = v[faces[:, i]], v[faces[:, j]], v[faces[:, k]]
        u, w = a - c, b - c
        cot = np.einsum("ij,ij->i", u, w) / np.maximum(np.linalg.norm(np.cross(u, w), axis=1), 1e-12)
        cot = np.maximum(cot, 1e-3) * 0.5
        rows += [faces[:, i], faces[:, j]]
        cols += [faces[:, j], faces[:, i]]
        vals += [cot, cot]
    n = len(v)
    w = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    return (sp.diags(np.asarray(w.sum(axis=1)).ravel()) - w).tocsr()


def face_normals(vertices: np.ndarray, faces: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Normals of triangles; works on (..., V, 3) batches."""
    a = vertices[..., faces[:, 0], :]
    n = np.cross(vertices[..., faces[:, 1], :] - a, vertices[..., faces[:, 2], :] - a)
    if normalize:
        n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-20)
    return n


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    fn = face_normals(vertices, faces, normalize=False)
    vn = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-20)


def edge_length_graph(vertices: np.ndarray, edges: np.ndarray) -> sp.csr_matrix:
    """(V, V) sparse graph of `edges` weighted by their length, for shortest paths (use it undirected)."""
    n = len(vertices)
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    return sp.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()


def harmonic_fill(laplacian: sp.csr_matrix, values: np.ndarray, free: np.ndarray) -> np.ndarray:
    """`values` (V, C) with the rows where `free` is set replaced by the harmonic interpolation of the others."""
    from scipy.sparse.linalg import spsolve

    free_ids, known = np.where(free)[0], np.where(~free)[0]
    a = laplacian[free_ids][:, free_ids].tocsc()
    rhs = -laplacian[free_ids][:, known] @ values[known]
    out = values.copy()
    out[free_ids] = spsolve(a, rhs).reshape(len(free_ids), -1)  # one factorisation for every column
    return out


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (E, 2) used by a single triangle, in that triangle's winding."""
    directed = directed_edges(faces)
    key = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return directed[counts[inverse.ravel()] == 1]


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Ordered vertex loops along edges used by a single triangle."""
    nxt = {int(a): int(b) for a, b in boundary_edges(faces)}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.array(loop))
    return loops


def barycentric_points(vertices: np.ndarray, faces: np.ndarray, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Points given as (triangle, barycentric) pairs; vertices may be batched (..., V, 3)."""
    corners = vertices[..., faces[tri], :]  # (..., P, 3, 3)
    return np.einsum("...pkc,pk->...pc", corners, bary)


def arc_length_param(points: np.ndarray) -> np.ndarray:
    """Arc length from the first point along a polyline (N, 3), as a fraction 0..1 of the whole."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    t = np.r_[0, np.cumsum(seg)]
    return t / max(t[-1], 1e-12)


def point_polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance (P,) from each point to the nearest point of the polyline `line` (N, 3)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.einsum("psc,sc->ps", points[:, None] - a[None], ab) / np.maximum((ab ** 2).sum(1), 1e-20)
    closest = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]
    return np.linalg.norm(points[:, None] - closest, axis=2).min(1)


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Umeyama: scale s, rotation R, translation t minimising sum w |s R src + t - dst|^2."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, d, vt = np.linalg.svd(cov)
    fix = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[2, 2] = -1
    r = u @ fix @ vt
    var_s = (w * (xs ** 2).sum(1)).sum()
    s = np.trace(np.diag(d) @ fix) / var_s
    t = mu_d - s * r @ mu_s
    return s, r, t


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere: centre, radius."""
    a = np.c_[2 * points, np.ones(len(points))]
    b = (points ** 2).sum(1)
    x = np.linalg.lstsq(a, b, rcond=None)[0]
    centre = x[:3]
    return centre, float(np.sqrt(x[3] + centre @ centre))


def affine_regressor(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Minimum-norm weights w (sum 1) with w @ points == target.

    A pivot written this way moves with the mesh like FLAME's joint regressor: it is exact on the
    mesh it was fitted on and follows any translation, rotation or scaling of the points.
    """
    a = np.vstack([points.T, np.ones(len(points))])
    b = np.append(target, 1.0)
    return np.linalg.lstsq(a, b, rcond=None)[0]


def mirror_map(vertices: np.ndarray, tolerance: float) -> np.ndarray:
    """Index of each vertex's mirror image across x = 0; raises if the mesh is not symmetric."""
    from scipy.spatial import cKDTree

    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    dist, idx = cKDTree(vertices).query(mirrored)
    if dist.max() > tolerance:
        raise ValueError(f"mesh is not mirror-symmetric: worst vertex off by {dist.max():.2e}")
    return idx


def closest_points_on_triangles(points: np.ndarray, tri_vertices: np.ndarray) -> np.ndarray:
    """Closest point on each triangle (P, 3, 3) to each point (P, 3); returns barycentrics (P, 3).

    Ericson's region test, vectorised.
    """
    a, b, c = tri_vertices[:, 0], tri_vertices[:, 1], tri_vertices[:, 2]
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = points - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = points - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = va + vb + vc
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    v = vb / denom
    w = vc / denom
    bary = np.stack([1 - v - w, v, w], 1)

    def put(mask, values):
        bary[mask] = values[mask] if values.ndim == 2 else values

    # edge regions
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    zeros = np.zeros_like(d1)
    m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    put(m, np.stack([1 - t_ab, t_ab, zeros], 1))
    m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    put(m, np.stack([1 - t_ac, zeros, t_ac], 1))
    m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    put(m, np.stack([zeros, 1 - t_bc, t_bc], 1))
    # vertex regions
    put((d1 <= 0) & (d2 <= 0), np.array([1.0, 0, 0]))
    put((d3 >= 0) & (d4 <= d3), np.array([0, 1.0, 0]))
    put((d6 >= 0) & (d5 <= d6), np.array([0, 0, 1.0]))
    return bary


def project_to_surface(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: int = 16):
    """Closest surface point of a triangle mesh: (triangle index, barycentrics, distance) per point.

    Candidates are the k triangles whose centroids are nearest; exact for meshes with even triangles.
    """
    from scipy.spatial import cKDTree

    centroids = vertices[faces].mean(1)
    _, cand = cKDTree(centroids).query(points, k=min(k, len(faces)))
    cand = cand.reshape(len(points), -1)
    best_d = np.full(len(points), np.inf)
    best_t = np.zeros(len(points), int)
    best_b = np.zeros((len(points), 3))
    for j in range(cand.shape[1]):
        t = cand[:, j]
        tv = vertices[faces[t]]
        b = closest_points_on_triangles(points, tv)
        d = np.linalg.norm(np.einsum("pk,pkc->pc", b, tv) - points, axis=1)
        better = d < best_d
        best_d[better], best_t[better], best_b[better] = d[better], t[better], b[better]
    return best_t, best_b, best_d


def triangulate_quads(quads: np.ndarray) -> np.ndarray:
    """Split quads (a triangle repeats its last index) into triangles, dropping degenerate ones."""
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    keep = (tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])
    return tris[keep].astype(np.int32)
