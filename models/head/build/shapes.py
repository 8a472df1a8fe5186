"""ARKit blendshapes on FLAME topology from ICT-FaceKit: transfer, symmetry, fold count and removal."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment, minimize
from scipy.spatial.distance import cdist

from ...geometry import adjacency, edges_of, face_normals, harmonic_fill, uniform_laplacian
from ...vocab.arkit import ARKIT_NAMES, MIRROR_PAIRS, OMITTED

# Shapes whose ICT names already end in Left/Right as whole words of the ARKit name.
_UNSPLIT = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")


def ict_sources(arkit_name: str) -> tuple[str, ...]:
    """ICT-FaceKit shape names whose deltas sum to one ARKit shape."""
    if arkit_name in _UNSPLIT:
        return (arkit_name,)
    if arkit_name in ("browInnerUp", "cheekPuff"):
        return (arkit_name + "_L", arkit_name + "_R")
    if arkit_name.endswith("Left"):
        return (arkit_name[: -len("Left")] + "_L",)
    if arkit_name.endswith("Right"):
        return (arkit_name[: -len("Right")] + "_R",)
    return (arkit_name,)


def arkit_deltas(expr_names: list[str], expr_deltas: np.ndarray) -> dict[str, np.ndarray]:
    """ICT-FaceKit's deltas summed into the ARKit shapes FLAME carries, in ARKIT_NAMES order."""
    index = {name: i for i, name in enumerate(expr_names)}
    return {name: sum(expr_deltas[index[s]] for s in ict_sources(name))
            for name in ARKIT_NAMES if name not in OMITTED}


def transfer_displacements(deltas: dict[str, np.ndarray], rotation_scale, target_faces: np.ndarray,
                           triangles: np.ndarray, bary: np.ndarray, skin: np.ndarray,
                           n_vertices: int) -> tuple[tuple[str, ...], np.ndarray]:
    """Displacement of each FLAME skin vertex = the ICT displacement at its corresponding surface point."""
    names = tuple(deltas)
    out = np.zeros((len(names), n_vertices, 3))
    for k, name in enumerate(names):
        delta = rotation_scale(deltas[name])
        out[k, skin] = np.einsum("pk,pkc->pc", bary, delta[target_faces[triangles]])
    return names, out


def mirror_map(vertices: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Bijective mirror map across x = 0: optimal assignment within each group (skin; the eyeballs as a pair).

    Nearest-neighbour matching is not enough: the FLAME template is up to 3.7 mm asymmetric, more than
    the spacing of the eyelid vertices.
    """
    out = np.arange(len(vertices))
    for src, dst in groups:
        cost = cdist(vertices[src], vertices[dst] * [-1, 1, 1])
        rows, cols = linear_sum_assignment(cost)
        out[src[rows]] = dst[cols]
    return out


def mirror_displacement(d: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return d[..., mirror, :] * np.array([-1.0, 1.0, 1.0])


def symmetrize_pairs(names, shapes: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Make each Left shape the exact mirror image of its Right partner (their average)."""
    out = shapes.copy()
    for left, right in MIRROR_PAIRS:
        if left not in names:
            continue
        i, j = names.index(left), names.index(right)
        avg_right = 0.5 * (shapes[j] + mirror_displacement(shapes[i], mirror))
        out[j] = avg_right
        out[i] = mirror_displacement(avg_right, mirror)
    return out


def asymmetry_pct(names, shapes: np.ndarray, mirror: np.ndarray) -> dict[str, float]:
    """|D_right - mirror(D_left)| / |D_right| per pair, in percent."""
    out = {}
    for left, right in MIRROR_PAIRS:
        if left not in names:
            continue
        dl, dr = shapes[names.index(left)], shapes[names.index(right)]
        out[left[: -len("Left")]] = float(100 * np.linalg.norm(dr - mirror_displacement(dl, mirror))
                                          / max(np.linalg.norm(dr), 1e-12))
    return out


def triangle_neighbours(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a, b) of triangles sharing an edge."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    owner = np.tile(np.arange(len(faces)), 3)
    key = np.sort(e, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, owner = key[order], owner[order]
    same = (key[1:] == key[:-1]).all(1)
    return owner[:-1][same], owner[1:][same]


def facing_neighbours(vertices: np.ndarray, faces: np.ndarray, pair_a: np.ndarray, pair_b: np.ndarray) -> np.ndarray:
    """Cosine between each triangle's normal and the mean normal of its edge neighbours (pairs a-b)."""
    normal = face_normals(vertices, faces)
    around = np.zeros_like(normal)
    np.add.at(around, pair_a, normal[pair_b])
    np.add.at(around, pair_b, normal[pair_a])
    around /= np.maximum(np.linalg.norm(around, axis=-1, keepdims=True), 1e-20)
    return (normal * around).sum(-1)


def folded_triangles(rest: np.ndarray, deformed: np.ndarray, faces: np.ndarray, pairs=None) -> np.ndarray:
    """Triangles that turned over relative to their neighbours.

    A triangle counts as flipped when its normal points against the mean normal of its edge
    neighbours, and did not at rest. Unlike a comparison with the rest normal, this ignores the
    large but legitimate rotations of rolling lips or a closing lid, and catches the folds.
    """
    a, b = triangle_neighbours(faces) if pairs is None else pairs
    return np.where((facing_neighbours(deformed, faces, a, b) < 0) & (facing_neighbours(rest, faces, a, b) >= 0))[0]


def _around_folds(faces: np.ndarray, folded: np.ndarray, rings: int, adj: sp.csr_matrix) -> np.ndarray:
    """Vertex mask: the vertices of the folded triangles grown by `rings` rings."""
    region = np.zeros(adj.shape[0], bool)
    region[faces[folded].ravel()] = True
    for _ in range(rings):
        region |= np.asarray(adj @ region.astype(float)).ravel() > 0
    return region


def repair_folds(rest: np.ndarray, shape: np.ndarray, faces: np.ndarray, pinned: np.ndarray | None = None,
                 max_rings: int = 8) -> np.ndarray:
    """Replace the displacement around folded triangles by a harmonic fill from its surroundings.

    The region (folded triangles grown by a few rings) takes the smoothest displacement that agrees
    with the untouched mesh around it, which moves the patch almost rigidly and so unfolds it. The
    region grows until no fold is left. `pinned` vertices (e.g. the lid margins) keep their displacement.
    """
    lap = uniform_laplacian(faces, len(rest))
    adj = adjacency(faces, len(rest))
    pairs = triangle_neighbours(faces)
    d = shape.copy()
    for rings in range(1, max_rings + 1):
        bad = folded_triangles(rest, rest + d, faces, pairs)
        if not len(bad):
            break
        region = _around_folds(faces, bad, rings, adj)
        if pinned is not None:
            region &= ~pinned
        d = harmonic_fill(lap, d, region)
    return d


STIFF = 1000.0  # how much more a stiff vertex resists moving: lid margins keep the gap under 0.5 mm


def unfold(rest: np.ndarray, shape: np.ndarray, faces: np.ndarray, stiff: np.ndarray | None = None,
           rings: int = 2, rounds: int = 4) -> np.ndarray:
    """Move the vertices around folded triangles as little as possible until none is folded.

    A small optimisation over the folds grown by a few rings: each triangle there must face the same
    way as its neighbours (penalised below a small margin), while edge vectors and positions stay
    close to the given shape. `stiff` vertices (e.g. the lid margins) resist moving STIFF times more.
    Harmonic smoothing cannot do this at the lid corners, where the folds touch the margins themselves.
    L-BFGS with finite differences is enough for the few dozen vertices of a fold.
    """
    pair_a, pair_b = triangle_neighbours(faces)
    adj = adjacency(faces, len(rest))
    d = shape.copy()
    for round_ in range(rounds):
        bad = folded_triangles(rest, rest + d, faces, (pair_a, pair_b))
        if not len(bad):
            break
        region = _around_folds(faces, bad, rings + round_, adj)
        touching = region[faces].any(1)
        keep = touching[pair_a] | touching[pair_b]
        tris = np.unique(np.r_[pair_a[keep], pair_b[keep]])
        la, lb = np.searchsorted(tris, pair_a[keep]), np.searchsorted(tris, pair_b[keep])
        # work on the few vertices involved, renumbered
        e = edges_of(faces[touching])
        e = e[region[e].any(1)]
        ids = np.unique(np.r_[faces[tris].ravel(), e.ravel()])
        tri_faces, e = np.searchsorted(ids, faces[tris]), np.searchsorted(ids, e)
        free = np.where(region[ids])[0]

        floor = np.minimum(0.1, 0.5 * np.maximum(facing_neighbours(rest[ids], tri_faces, la, lb), 0))
        given = rest[ids] + d[ids]
        given_edges = given[e[:, 0]] - given[e[:, 1]]
        scale = np.median(np.linalg.norm(rest[ids][e[:, 0]] - rest[ids][e[:, 1]], axis=1))
        weight = np.ones(len(free)) if stiff is None else np.where(stiff[ids[free]], STIFF, 1.0)

        def energy(x):
            pos = given.copy()
            pos[free] = x.reshape(-1, 3)
            fold = (np.maximum(floor - facing_neighbours(pos, tri_faces, la, lb), 0) ** 2).sum()
            edge = ((pos[e[:, 0]] - pos[e[:, 1]]) - given_edges) / scale
            move = ((pos[free] - given[free]) / scale) ** 2
            return 100 * fold + 0.1 * (edge ** 2).sum() + 0.01 * (weight[:, None] * move).sum()

        result = minimize(energy, given[free].ravel(), method="L-BFGS-B", options={"maxiter": 500})
        d[ids[free]] = result.x.reshape(-1, 3) - rest[ids[free]]
    return d
