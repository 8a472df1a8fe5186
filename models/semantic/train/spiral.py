"""Spiral sequences (SpiralNet++): a fixed-length, consistently ordered neighbourhood per vertex.

Each sequence is the vertex, then its 1-ring, 2-ring, ... , each ring sorted counter-clockwise around the
vertex normal starting from the direction of +Y projected on the tangent plane, cut to ``length``.
A fixed starting direction (rather than SpiralNet++'s arbitrary first neighbour) gives neighbouring
vertices similarly oriented spirals, which the shared weights of one SpiralConv can rely on.
"""
from __future__ import annotations

import numpy as np

from models.geometry import adjacency, vertex_normals


def _tangent_frame(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.array([0.0, 1.0, 0.0])
    if abs(normal @ ref) > 0.9:
        ref = np.array([1.0, 0.0, 0.0])
    e1 = ref - (ref @ normal) * normal
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)


def spiral_indices(vertices: np.ndarray, faces: np.ndarray, length: int = 9) -> np.ndarray:
    """(V, length) int64 vertex indices; short neighbourhoods (tiny components) repeat cyclically."""
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"spiral_indices: vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0:
        raise ValueError(f"spiral_indices: faces must be a non-empty (F, 3) triangle array, got {faces.shape}")
    if faces.max() >= len(vertices) or faces.min() < 0:
        raise ValueError("spiral_indices: faces index vertices that do not exist")
    if length < 1:
        raise ValueError(f"spiral_indices: length={length} must be >= 1")
    n = len(vertices)
    adj = adjacency(faces, n)
    normals = vertex_normals(vertices, faces)
    out = np.zeros((n, length), np.int64)
    for v in range(n):
        e1, e2 = _tangent_frame(normals[v])
        seq, visited, ring = [v], {v}, [v]
        while len(seq) < length:
            nxt = set()
            for u in ring:
                nxt.update(adj.indices[adj.indptr[u]:adj.indptr[u + 1]].tolist())
            nxt -= visited
            if not nxt:
                break
            ring = sorted(nxt)
            d = vertices[ring] - vertices[v]
            angle = np.arctan2(d @ e2, d @ e1) % (2 * np.pi)
            ring = [ring[i] for i in np.argsort(angle, kind="stable")]
            visited.update(ring)
            seq.extend(ring)
        seq = seq[:length]
        out[v] = [seq[i % len(seq)] for i in range(length)]
    return out
