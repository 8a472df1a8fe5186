"""Mesh hierarchy for spiral networks: quadric decimation levels with down/up-sampling operators.

Level 0 is the input topology. Each coarser level keeps a subset of the finer level's vertices
(COMA-style): quadric decimation (fast-simplification) decides which vertices merge, and each merged
cluster is represented by its member nearest the decimated position. So
  * down-sampling is a row selection: ``x_coarse = x_fine[down[l]]``,
  * up-sampling is barycentric interpolation on the coarse surface:
    ``x_fine = sum_k up_weights[l][:, k] * x_coarse[up_index[l][:, k]]``.
Connected components (FLAME: head, two eyeballs) are decimated separately so none vanishes.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from models.atomic_io import save_npz
from models.geometry import components, project_to_surface
from models.semantic.train.spiral import spiral_indices

HIERARCHY_VERSION = 1


@dataclasses.dataclass
class MeshHierarchy:
    vertices: list[np.ndarray]  # per level (V_l, 3) float32
    faces: list[np.ndarray]  # per level (F_l, 3) int64
    spirals: list[np.ndarray]  # per level (V_l, S) int64
    down: list[np.ndarray]  # per transition l -> l+1: (V_{l+1},) int64 indices into level l
    up_index: list[np.ndarray]  # per transition: (V_l, 3) int64 indices into level l+1
    up_weights: list[np.ndarray]  # per transition: (V_l, 3) float32, rows sum to 1

    @property
    def n_levels(self) -> int:
        return len(self.vertices)

    @property
    def sizes(self) -> list[int]:
        return [len(v) for v in self.vertices]


def _decimate_component(points: np.ndarray, tris: np.ndarray, factor: float):
    """Returns (representative local vertex per coarse vertex, coarse faces in coarse local indices)."""
    import fast_simplification

    target = max(4, int(round(len(tris) / factor)))
    pts = np.ascontiguousarray(points, np.float64)
    tris = np.ascontiguousarray(tris, np.int32)
    _, _, collapses = fast_simplification.simplify(pts, tris, target_count=target, return_collapses=True)
    coarse_pts, coarse_tris, mapping = fast_simplification.replay_simplification(
        pts.astype(np.float32), tris, collapses)
    n_coarse = len(coarse_pts)
    dist = np.linalg.norm(pts - coarse_pts[mapping], axis=1)
    rep = np.full(n_coarse, -1, np.int64)
    best = np.full(n_coarse, np.inf)
    for i, (j, d) in enumerate(zip(mapping, dist)):
        if d < best[j]:
            best[j], rep[j] = d, i
    if (rep < 0).any():
        raise RuntimeError("quadric decimation produced a vertex no input vertex maps to")
    return rep, np.asarray(coarse_tris, np.int64)


def build_hierarchy(vertices: np.ndarray, faces: np.ndarray, factors=(4, 4, 4, 4),
                    spiral_length: int = 9) -> MeshHierarchy:
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"build_hierarchy: vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError("build_hierarchy: faces must be (F, 3) indices into vertices")
    levels_v, levels_f = [vertices], [faces]
    labels = components(faces, len(vertices))
    down, up_i, up_w = [], [], []
    for factor in factors:
        v, f = levels_v[-1], levels_f[-1]
        reps, coarse_faces, coarse_labels = [], [], []
        offset = 0
        for c in np.unique(labels):
            local = np.flatnonzero(labels == c)
            remap = np.full(len(v), -1, np.int64)
            remap[local] = np.arange(len(local))
            tris = remap[f[(labels[f] == c).all(1)]]
            rep, ctris = _decimate_component(v[local], tris, factor)
            reps.append(local[rep])
            coarse_faces.append(ctris + offset)
            coarse_labels.append(np.full(len(rep), c))
            offset += len(rep)
        sel = np.concatenate(reps)
        cv, cf, cl = v[sel], np.concatenate(coarse_faces), np.concatenate(coarse_labels)
        idx = np.zeros((len(v), 3), np.int64)
        w = np.zeros((len(v), 3), np.float64)
        for c in np.unique(labels):
            fine = np.flatnonzero(labels == c)
            cfaces = cf[(cl[cf] == c).all(1)]
            tri, bary, _ = project_to_surface(v[fine], cv, cfaces)
            idx[fine] = cfaces[tri]
            w[fine] = bary
        w = np.clip(w, 0.0, None)
        w /= w.sum(1, keepdims=True)
        down.append(sel)
        up_i.append(idx)
        up_w.append(w.astype(np.float32))
        levels_v.append(cv)
        levels_f.append(cf)
        labels = cl
    spirals = [spiral_indices(v, f, spiral_length) for v, f in zip(levels_v, levels_f)]
    return MeshHierarchy([v.astype(np.float32) for v in levels_v], levels_f, spirals, down, up_i, up_w)


def _key(vertices: np.ndarray, faces: np.ndarray, factors, spiral_length: int) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(vertices, np.float32).tobytes())
    h.update(np.ascontiguousarray(faces, np.int64).tobytes())
    h.update(repr((tuple(factors), spiral_length, HIERARCHY_VERSION)).encode())
    return h.hexdigest()[:16]


def save_hierarchy(h: MeshHierarchy, path: Path) -> None:
    arrays = {"n_levels": np.array(h.n_levels)}
    for name in ("vertices", "faces", "spirals", "down", "up_index", "up_weights"):
        for i, a in enumerate(getattr(h, name)):
            arrays[f"{name}/{i}"] = a
    save_npz(path, arrays)


def load_hierarchy_file(path: Path) -> MeshHierarchy:
    with np.load(path, allow_pickle=False) as data:
        n = int(data["n_levels"])
        get = lambda name, count: [data[f"{name}/{i}"] for i in range(count)]  # noqa: E731
        return MeshHierarchy(get("vertices", n), get("faces", n), get("spirals", n),
                             get("down", n - 1), get("up_index", n - 1), get("up_weights", n - 1))


def load_hierarchy(vertices: np.ndarray, faces: np.ndarray, cache_dir: Path, factors=(4, 4, 4, 4),
                   spiral_length: int = 9) -> MeshHierarchy:
    """Build once per (topology, rest shape, settings); later calls read the cached file."""
    path = Path(cache_dir) / f"hierarchy-{_key(vertices, faces, factors, spiral_length)}.npz"
    if path.is_file():
        try:
            return load_hierarchy_file(path)
        except Exception:  # a corrupt cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    h = build_hierarchy(vertices, faces, factors, spiral_length)
    save_hierarchy(h, path)
    return h
