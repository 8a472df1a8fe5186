"""Removes the folds the transfer leaves on an identity's shapes, fast enough to run on every identity.

A fold is a triangle turned over against its neighbours (`build.shapes.folded_triangles`, what `check`
counts). Deformation transfer keeps each triangle's deformation, so where a shape squeezes the skin hard (the
lid corners of a blink, the lower lip rolling in, the chin in jawForward) a differently shaped neutral turns a
few triangles over, in the exact construction as much as in its fast form. Where that happens is found once on
random identities (`survey`) and cached with the shape derivatives; on each identity only those places are
looked at, and where one of them is folded the vertices around it move as little as possible until every
triangle there faces its neighbours again: each triangle's normal n_f must keep
    n_f . m_f >= floor_f |n_f|,   m_f the unit mean normal of its edge neighbours (as the check measures),
floor_f = min(0.1, half its value at rest), the build's own margin; the violated constraints are projected
(position-based: the smallest move of the triangle's corners, with m_f held for the step), Jacobi-averaged,
for a few dozen sweeps. The lid margins are STIFF times harder to move, so a blink stays closed.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..geometry import adjacency

STIFF = 10.0
FLOOR = 0.1
OVERSHOOT = 0.02
SWEEPS = 60
FREE_RINGS = 1  # the folded triangles' vertices, grown by this many rings, may move


def _edge_neighbours(faces: np.ndarray) -> np.ndarray:
    """(F, 3) the triangle across each edge, -1 on a border."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    owner = np.tile(np.arange(len(faces)), 3)
    slot = np.repeat(np.arange(3), len(faces))
    key = np.sort(e, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, owner, slot = key[order], owner[order], slot[order]
    same = np.flatnonzero((key[1:] == key[:-1]).all(1))
    out = np.full((len(faces), 3), -1)
    out[owner[same], slot[same]] = owner[same + 1]
    out[owner[same + 1], slot[same + 1]] = owner[same]
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products over the last axis (einsum: a sum over an axis of length 3 is slow)."""
    return np.einsum("...c,...c->...", a, b)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(_dot(v, v)), 1e-20)[..., None]


def _rows(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a[index] along the first axis (np.take: several times faster than fancy indexing on these sizes)."""
    return np.take(a, index, axis=0)


def _sum_rows(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a[index].sum(1) for index (N, 3), as three takes."""
    return _rows(a, index[:, 0]) + _rows(a, index[:, 1]) + _rows(a, index[:, 2])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross over the last axis, without its axis bookkeeping (it runs on every sweep)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


class FoldRepair:
    """Finds and removes the folds of one identity's shapes.

    Where to look: the (shape, triangle) pairs of `candidates` (S, F), where the survey saw a triangle come
    close to folding, and on every shape the triangles that the identity's own neutral makes risky — creased
    against its neighbours, a sliver, or shrunk to a fraction of the template's area: an extreme identity
    can collapse a triangle the transfer then turns over, wherever it is. What a candidate's facing reads (its
    and its neighbours' corners) is indexed once per asset, shape by shape, so a call gathers those vertices,
    takes their normals and compares: a few array operations over all shapes at once.
    """

    RISKY_FACING = 0.5  # creased against its neighbours, where the template is not
    RISKY_RATIO = 0.5  # quality or area below this fraction of the template's

    def __init__(self, faces: np.ndarray, candidates: np.ndarray, template: np.ndarray, stiff_vertices=()):
        self.faces = np.asarray(faces)
        self.n_vertices = n_vertices = len(template)
        self.neighbours = _edge_neighbours(self.faces)
        self.adjacency = adjacency(self.faces, n_vertices)
        f = len(self.faces)
        self.face_vertices = sp.csr_matrix((np.ones(3 * f), (np.repeat(np.arange(f), 3), self.faces.ravel())),
                                           shape=(f, n_vertices))
        self.inverse_mass = np.where(np.isin(np.arange(n_vertices), np.asarray(stiff_vertices, np.int64)),
                                     1.0 / STIFF, 1.0)
        self.blocks = [self._block(np.flatnonzero(row)) for row in np.asarray(candidates, bool)]
        self.all_shapes = self._stack(list(enumerate(self.blocks)))
        template = np.asarray(template, np.float64)
        self.template_quality, self.template_area = _quality(template, self.faces)
        self.template_facing = facing(template, self.faces, self.neighbours)

    def risky(self, neutral: np.ndarray, rest: np.ndarray | None = None) -> np.ndarray:
        """Triangles the identity's neutral makes risky, whatever the shape (`rest`: its facing, if known)."""
        quality, area = _quality(neutral, self.faces)
        rest = facing(neutral, self.faces, self.neighbours) if rest is None else rest
        return np.flatnonzero((rest < self.RISKY_FACING) & (rest >= 0) & (self.template_facing >= self.RISKY_FACING)
                              | (quality < self.RISKY_RATIO * self.template_quality)
                              | (area < self.RISKY_RATIO * self.template_area))

    def _block(self, tris: np.ndarray) -> tuple:
        """Triangles `tris` of one shape and what their facing reads: the triangles whose normals it needs
        (themselves and their edge neighbours) and those triangles' vertices, numbered locally."""
        nb = self.neighbours[tris]
        normal_tris = np.unique(np.r_[tris, nb[nb >= 0]])
        nb_local = np.where(nb >= 0, np.searchsorted(normal_tris, nb), -1)
        vertex_ids = np.unique(self.faces[normal_tris])
        return (tris, np.searchsorted(normal_tris, tris), nb_local, vertex_ids,
                np.searchsorted(vertex_ids, self.faces[normal_tris]))

    def _stack(self, parts) -> tuple:
        """Blocks (row of `shapes`, block) stacked into one numbering: each triangle's row and number, the flat
        (row, vertex) index of each vertex to gather and its vertex, each normal's corners, and each triangle's
        own normal and its neighbours' (the index past the last normal where there is none)."""
        normal_start = np.cumsum([0] + [len(b[4]) for _, b in parts])
        vertex_start = np.cumsum([0] + [len(b[3]) for _, b in parts])
        total = normal_start[-1]

        def joined(arrays, empty_shape):
            return np.concatenate(arrays) if arrays else np.zeros(empty_shape, np.int64)
        return (joined([np.full(len(b[0]), r) for r, b in parts], 0),
                joined([b[0] for _, b in parts], 0),
                joined([r * self.n_vertices + b[3] for r, b in parts], 0),
                joined([b[3] for _, b in parts], 0),
                joined([b[4] + o for (_, b), o in zip(parts, vertex_start)], (0, 3)),
                joined([b[1] + o for (_, b), o in zip(parts, normal_start)], 0),
                joined([np.where(b[2] >= 0, b[2] + o, total) for (_, b), o in zip(parts, normal_start)], (0, 3)))

    @staticmethod
    def _turned(neutral: np.ndarray, flat_shapes: np.ndarray, stacked: tuple) -> tuple[np.ndarray, np.ndarray]:
        """(rows, triangles) of the stacked triangles whose normal points against the mean of their neighbours'
        unit normals (the sign of `facing`, without normalising what does not change it)."""
        rows, tris, flat, vertex, corners, own, around = stacked
        pos = _rows(neutral, vertex) + _rows(flat_shapes, flat)
        p0 = _rows(pos, corners[:, 0])
        unit = _unit(_cross(_rows(pos, corners[:, 1]) - p0, _rows(pos, corners[:, 2]) - p0))
        unit = np.concatenate([unit, np.zeros((1, 3))])
        turned = _dot(_rows(unit, own), _sum_rows(unit, around)) < 0
        return rows[turned], tris[turned]

    def folded(self, neutral: np.ndarray, shapes: np.ndarray, which) -> dict[int, np.ndarray]:
        """{shape: its folded triangles} among the places looked at; `shapes` (len(which), V, 3)."""
        which = [int(s) for s in which]
        flat_shapes = np.ascontiguousarray(shapes).reshape(-1, 3)
        if which == list(range(len(self.blocks))):
            stacked = self.all_shapes
        else:
            stacked = self._stack([(r, self.blocks[s]) for r, s in enumerate(which) if s < len(self.blocks)])
        rest_facing = facing(neutral, self.faces, self.neighbours)
        risky = self._block(self.risky(neutral, rest_facing))
        rows, tris = (np.concatenate(found) for found in zip(
            self._turned(neutral, flat_shapes, stacked),
            self._turned(neutral, flat_shapes, self._stack([(r, risky) for r in range(len(which))]))))
        keep = rest_facing[tris] >= 0
        key = np.unique(rows[keep] * len(self.faces) + tris[keep])
        rows, tris = key // len(self.faces), key % len(self.faces)
        return {which[r]: tris[rows == r] for r in np.unique(rows)}

    def _grown(self, mask: np.ndarray) -> np.ndarray:
        """(F, k) triangle masks grown by their edge neighbours."""
        padded = np.concatenate([mask, np.zeros((1, mask.shape[1]), bool)])
        nb = np.where(self.neighbours >= 0, self.neighbours, len(mask))
        return mask | _rows(padded, nb[:, 0]) | _rows(padded, nb[:, 1]) | _rows(padded, nb[:, 2])

    def __call__(self, neutral: np.ndarray, shapes: np.ndarray, which=None) -> np.ndarray:
        """`shapes` (len(which), V, 3) on `neutral` with their folds removed; changed in place."""
        which = list(range(len(shapes))) if which is None else [int(s) for s in which]
        if not which:
            return shapes
        neutral = np.asarray(neutral, np.float64)
        found = self.folded(neutral, shapes, which)
        if not found:
            return shapes
        row = {s: i for i, s in enumerate(which)}
        n_v, n_f = self.n_vertices, len(self.faces)
        # one stacked system over the folded shapes (column j: the j-th of `found`): (shape, vertex) pairs and
        # the triangles around the folds, in the order of the shapes, then of vertex and triangle numbers
        folded = list(found.values())
        free = np.zeros((n_v, len(found)), bool)
        free[self.faces[np.concatenate(folded)].ravel(),
             np.repeat(np.arange(len(found)), [3 * len(t) for t in folded])] = True
        for _ in range(FREE_RINGS):
            free |= (self.adjacency @ free.astype(float)) > 0
        moved = (self.face_vertices @ free.astype(float)) > 0
        column, t_ids = np.nonzero(self._grown(self._grown(moved)).T)  # the moved triangles, two rings on
        tri_key = column * n_f + t_ids
        nb = self.neighbours[t_ids]
        nb_key = column[:, None] * n_f + nb
        at = np.minimum(np.searchsorted(tri_key, nb_key), len(tri_key) - 1)
        nb = np.where((nb >= 0) & (tri_key[at] == nb_key), at, len(t_ids))  # neighbours outside: none
        vertex_key = np.unique(column[:, None] * n_v + self.faces[t_ids])
        tri = np.searchsorted(vertex_key, column[:, None] * n_v + self.faces[t_ids])
        v_column, ids = vertex_key // n_v, vertex_key % n_v
        v_rows = np.array([row[s] for s in found])[v_column]
        rest = _rows(neutral, ids)
        pos = rest + shapes[v_rows, ids]
        w_vertex = np.where(free[ids, v_column], self.inverse_mass[ids], 0.0)
        _, rest_unit, rest_around = _normals(rest, tri, nb)
        rest_facing = _dot(rest_unit, rest_around)
        # the triangles with a corner that may move are held to the floor (the others have nothing to move)
        active = moved[t_ids, column] & (rest_facing >= 0)
        floor = np.minimum(FLOOR, 0.5 * np.maximum(rest_facing, 0))
        w = w_vertex[tri]  # (T, 3)
        for _ in range(SWEEPS):
            normal, unit, around = _normals(pos, tri, nb)
            bad = np.flatnonzero(active & (_dot(unit, around) < floor))
            if not len(bad):
                break
            t = tri[bad]
            p0, p1, p2 = _rows(pos, t[:, 0]), _rows(pos, t[:, 1]), _rows(pos, t[:, 2])
            aim = floor[bad] + OVERSHOOT  # the projections approach their aim from below: aim a little past
            g = around[bad] - aim[:, None] * unit[bad]
            grad1, grad2 = _cross(p2 - p0, g), _cross(g, p1 - p0)
            grads = np.stack([-grad1 - grad2, grad1, grad2], 1)  # (B, 3 corners, 3)
            n_bad = normal[bad]
            c = _dot(n_bad, around[bad]) - aim * np.sqrt(_dot(n_bad, n_bad))
            denom = (w[bad] * _dot(grads, grads)).sum(1)
            step = (-(c / np.maximum(denom, 1e-30))[:, None, None] * w[bad][:, :, None] * grads).reshape(-1, 3)
            corners = t.ravel()
            count = np.maximum(np.bincount(corners, (w[bad] > 0).ravel(), len(pos)), 1)
            pos += np.stack([np.bincount(corners, step[:, k], len(pos)) for k in range(3)], 1) / count[:, None]
        shapes[v_rows, ids] = pos - rest
        return shapes


def _normals(pos: np.ndarray, tri: np.ndarray, nb: np.ndarray):
    """Unnormalised and unit normals of the triangles `tri`, and each one's unit neighbour mean (`nb`: rows
    of `tri`, len(tri) for none)."""
    p0 = _rows(pos, tri[:, 0])
    normal = _cross(_rows(pos, tri[:, 1]) - p0, _rows(pos, tri[:, 2]) - p0)
    unit = _unit(normal)
    around = _unit(_sum_rows(np.concatenate([unit, np.zeros((1, 3))]), nb))
    return normal, unit, around


def _quality(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's shape quality (4 sqrt(3) area / sum of squared edges: 1 equilateral, 0 degenerate)
    and area."""
    p0, p1, p2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    normal = _cross(p1 - p0, p2 - p0)
    area = 0.5 * np.sqrt(_dot(normal, normal))
    squared = sum(_dot(e, e) for e in (p1 - p0, p2 - p1, p0 - p2))
    return 4 * np.sqrt(3) * area / np.maximum(squared, 1e-30), area


def facing(vertices: np.ndarray, faces: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(..., F) cosine between each triangle's normal and the mean of its edge neighbours' (`_edge_neighbours`),
    as build.shapes.facing_neighbours measures it; batched over leading axes of `vertices` (..., V, 3)."""
    a = vertices[..., faces[:, 0], :]
    unit = _unit(_cross(vertices[..., faces[:, 1], :] - a, vertices[..., faces[:, 2], :] - a))
    padded = np.concatenate([unit, np.zeros(unit.shape[:-2] + (1, 3))], -2)
    nb = np.where(neighbours >= 0, neighbours, len(faces))
    around = _unit(sum(np.take(padded, nb[:, k], axis=-2) for k in range(3)))
    return _dot(unit, around)


def survey(shapes_of, neutral_of, faces: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """(S, F) the lowest facing (`facing`) of each triangle in each shape over `identities`
    (shapes_of(beta) (S, V, 3) on neutral_of(beta)), counting only identities where it faces its neighbours at
    rest; 1 where it never does."""
    neighbours = _edge_neighbours(faces)
    low = None
    for beta in identities:
        neutral, shapes = neutral_of(beta), shapes_of(beta)
        if low is None:
            low = np.ones((len(shapes), len(faces)))
        rest_ok = facing(neutral, faces, neighbours) >= 0
        low = np.where(rest_ok, np.minimum(low, facing(neutral + shapes, faces, neighbours)), low)
    return low


def at_risk(low_facing: np.ndarray, faces: np.ndarray, threshold: float, rings: int) -> np.ndarray:
    """(S, F) triangle masks: where the survey's lowest facing fell below `threshold`, grown by `rings` rings
    of edge neighbours."""
    found = low_facing < threshold
    neighbours = _edge_neighbours(faces)
    for _ in range(rings):
        grown = found.copy()
        for k in range(3):
            grown[:, neighbours[:, k] >= 0] |= found[:, neighbours[neighbours[:, k] >= 0, k]]
        found = grown
    return found
