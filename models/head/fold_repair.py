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


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt((v * v).sum(-1, keepdims=True)), 1e-20)


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
    can collapse a triangle the transfer then turns over, wherever it is.
    """

    RISKY_FACING = 0.5  # creased against its neighbours, where the template is not
    RISKY_RATIO = 0.5  # quality or area below this fraction of the template's

    def __init__(self, faces: np.ndarray, candidates: np.ndarray, template: np.ndarray, stiff_vertices=()):
        self.faces = np.asarray(faces)
        n_vertices = len(template)
        self.neighbours = _edge_neighbours(self.faces)
        self.adjacency = adjacency(self.faces, n_vertices)
        f = len(self.faces)
        self.vertex_faces = sp.csr_matrix((np.ones(3 * f), (self.faces.ravel(), np.repeat(np.arange(f), 3))),
                                          shape=(n_vertices, f))
        self.inverse_mass = np.where(np.isin(np.arange(n_vertices), np.asarray(stiff_vertices, np.int64)),
                                     1.0 / STIFF, 1.0)
        self.candidate_shape, self.candidate_tri = np.nonzero(candidates)
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

    def folded(self, neutral: np.ndarray, shapes: np.ndarray, which) -> dict[int, np.ndarray]:
        """{shape: its folded triangles} among the places looked at; `shapes` (len(which), V, 3)."""
        row = np.full(max(max(which), int(self.candidate_shape.max(initial=0))) + 1, -1)
        row[list(which)] = np.arange(len(which))
        keep = row[self.candidate_shape] >= 0
        rest_facing = facing(neutral, self.faces, self.neighbours)
        risky = self.risky(neutral, rest_facing)
        rows = np.r_[row[self.candidate_shape[keep]], np.repeat(np.arange(len(which)), len(risky))]
        tris = np.r_[self.candidate_tri[keep], np.tile(risky, len(which))]
        pair = np.unique(rows * len(self.faces) + tris)
        rows, tris = pair // len(self.faces), pair % len(self.faces)
        nb = self.neighbours[tris]
        around_tris = np.concatenate([tris[:, None], np.where(nb >= 0, nb, tris[:, None])], 1)  # (P, 4)
        corners = self.faces[around_tris]  # (P, 4, 3)
        pos = neutral[corners] + shapes[rows[:, None, None], corners]
        unit = _unit(_cross(pos[..., 1, :] - pos[..., 0, :], pos[..., 2, :] - pos[..., 0, :]))
        unit[:, 1:] *= (nb >= 0)[..., None]
        now = (unit[:, 0] * _unit(unit[:, 1:].sum(1))).sum(1)
        bad = (now < 0) & (rest_facing[tris] >= 0)
        return {int(which[r]): tris[bad & (rows == r)] for r in np.unique(rows[bad])}

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
        # one stacked system over the folded shapes: (shape, vertex) pairs and the triangles around the folds
        vertex_parts, tri_parts, nb_parts, moved_parts, n_v, n_t = [], [], [], [], 0, 0
        for s, folded in found.items():
            free = np.zeros(len(neutral), bool)
            free[self.faces[folded].ravel()] = True
            for _ in range(FREE_RINGS):
                free |= np.asarray(self.adjacency @ free.astype(float)).ravel() > 0
            moved = (self.vertex_faces.T @ free.astype(float)) > 0
            checked = moved.copy()
            checked[self.neighbours[moved][self.neighbours[moved] >= 0]] = True
            context = checked.copy()
            context[self.neighbours[checked][self.neighbours[checked] >= 0]] = True
            t_ids = np.flatnonzero(context)
            v_ids = np.unique(self.faces[t_ids])
            local = np.full(len(self.faces), -1)
            local[t_ids] = np.arange(len(t_ids)) + n_t
            nb = local[self.neighbours[t_ids]]
            nb[self.neighbours[t_ids] < 0] = -1
            vertex_parts.append((s, v_ids, free[v_ids]))
            tri_parts.append(np.searchsorted(v_ids, self.faces[t_ids]) + n_v)
            nb_parts.append(nb)
            moved_parts.append(moved[t_ids])
            n_v += len(v_ids)
            n_t += len(t_ids)
        ids = np.concatenate([v for _, v, _ in vertex_parts])
        rest = neutral[ids]
        pos = rest + np.concatenate([shapes[row[s], v] for s, v, _ in vertex_parts])
        w_vertex = np.concatenate([np.where(f, self.inverse_mass[v], 0.0) for _, v, f in vertex_parts])
        tri = np.concatenate(tri_parts)
        nb = np.concatenate(nb_parts)
        nb = np.where(nb >= 0, nb, n_t)  # a border's missing neighbour: an extra zero normal
        _, rest_unit, rest_around = _normals(rest, tri, nb)
        rest_facing = (rest_unit * rest_around).sum(1)
        # the triangles with a corner that may move are held to the floor (the others have nothing to move)
        active = np.concatenate(moved_parts) & (rest_facing >= 0)
        floor = np.minimum(FLOOR, 0.5 * np.maximum(rest_facing, 0))
        w = w_vertex[tri]  # (T, 3)
        for _ in range(SWEEPS):
            normal, unit, around = _normals(pos, tri, nb)
            bad = np.flatnonzero(active & ((unit * around).sum(1) < floor))
            if not len(bad):
                break
            t = tri[bad]
            p0, p1, p2 = pos[t[:, 0]], pos[t[:, 1]], pos[t[:, 2]]
            aim = floor[bad] + OVERSHOOT  # the projections approach their aim from below: aim a little past
            g = around[bad] - aim[:, None] * unit[bad]
            grad1, grad2 = _cross(p2 - p0, g), _cross(g, p1 - p0)
            grads = np.stack([-grad1 - grad2, grad1, grad2], 1)  # (B, 3 corners, 3)
            c = (normal[bad] * around[bad]).sum(1) - aim * np.sqrt((normal[bad] ** 2).sum(1))
            denom = (w[bad] * (grads ** 2).sum(2)).sum(1)
            step = (-(c / np.maximum(denom, 1e-30))[:, None, None] * w[bad][:, :, None] * grads).reshape(-1, 3)
            corners = t.ravel()
            count = np.maximum(np.bincount(corners, (w[bad] > 0).ravel(), len(pos)), 1)
            pos += np.stack([np.bincount(corners, step[:, k], len(pos)) for k in range(3)], 1) / count[:, None]
        start = 0
        for s, v, _ in vertex_parts:
            shapes[row[s], v] = pos[start:start + len(v)] - rest[start:start + len(v)]
            start += len(v)
        return shapes


def _normals(pos: np.ndarray, tri: np.ndarray, nb: np.ndarray):
    """Unnormalised and unit normals of the triangles `tri`, and each one's unit neighbour mean (`nb`: rows
    of `tri`, len(tri) for none)."""
    normal = _cross(pos[tri[:, 1]] - pos[tri[:, 0]], pos[tri[:, 2]] - pos[tri[:, 0]])
    unit = _unit(normal)
    around = _unit(np.r_[unit, np.zeros((1, 3))][nb].sum(1))
    return normal, unit, around


def _quality(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's shape quality (4 sqrt(3) area / sum of squared edges: 1 equilateral, 0 degenerate)
    and area."""
    p0, p1, p2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    area = 0.5 * np.sqrt((_cross(p1 - p0, p2 - p0) ** 2).sum(1))
    squared = sum(np.einsum("fc,fc->f", e, e) for e in (p1 - p0, p2 - p1, p0 - p2))
    return 4 * np.sqrt(3) * area / np.maximum(squared, 1e-30), area


def facing(vertices: np.ndarray, faces: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(..., F) cosine between each triangle's normal and the mean of its edge neighbours' (`_edge_neighbours`),
    as build.shapes.facing_neighbours measures it; batched over leading axes of `vertices` (..., V, 3)."""
    a = vertices[..., faces[:, 0], :]
    unit = _unit(_cross(vertices[..., faces[:, 1], :] - a, vertices[..., faces[:, 2], :] - a))
    padded = np.concatenate([unit, np.zeros(unit.shape[:-2] + (1, 3))], -2)
    around = _unit(padded[..., np.where(neighbours >= 0, neighbours, len(faces)), :].sum(-2))
    return (unit * around).sum(-1)


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
