"""The deformation transfer solved exactly on small patches, around a solution that is only approximate.

The linearised transfer (identity_shapes.py) is within a few hundredths of a millimetre of the exact one
almost everywhere, but where a shape squeezes or rotates the skin hard (under the chin in jawOpen, the lower
lip in mouthRollLower) its second-order terms reach most of a millimetre. On such a patch the transfer's own
Poisson equations are solved again on the identity's neutral, with the approximate solution on the ring around
the patch as boundary values: the patch's rows of the whole-head system, so the result is the exact transfer up
to the (small) error on that ring, which the screened Poisson operator only attenuates inside the patch.

Every patch is one shape's: the shapes' systems are independent, so the patches of the shapes asked for are
stacked into one block-diagonal system, assembled from per-triangle arrays and solved with one factorisation.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .transfer import DeformationTransfer


class PatchSolver:
    """Re-solves each shape's transfer exactly on its patch (`interior[s]`, a vertex mask per shape).

    The patches of all shapes are stacked once into one numbering (interior unknowns first, then the rings),
    with the index arrays that scatter per-triangle values into the system's matrix and right-hand side, so a
    call is a few array operations, one sparse factorisation and one solve.
    """

    def __init__(self, transfer: DeformationTransfer, interior: np.ndarray, n_vertices: int):
        faces = transfer.faces
        self.faces = faces
        self.n_vertices = n_vertices
        self.screening = transfer.screening
        self.shape_ids = {int(s) for s in np.flatnonzero(interior.any(1))}
        if not self.shape_ids:
            return
        stacked, change, inner_parts, ring_parts = [], [], [], []
        for s in sorted(self.shape_ids):
            touching = interior[s][faces].any(1)
            used = np.unique(faces[touching])
            inner_parts.append((s, used[interior[s][used]]))
            ring_parts.append((s, used[~interior[s][used]]))
        # unknowns: every shape's interior, then every ring; (shape, vertex) -> stacked number
        order = inner_parts + ring_parts
        self.shape_of = np.concatenate([np.full(len(v), s) for s, v in order]).astype(np.int64)
        self.ids = np.concatenate([v for _, v in order]).astype(np.int64)
        self.n_inner = sum(len(v) for _, v in inner_parts)
        key = self.shape_of * n_vertices + self.ids
        lookup = np.argsort(key)
        for s in sorted(self.shape_ids):
            touching = interior[s][faces].any(1)
            stacked.append(lookup[np.searchsorted(key[lookup], s * n_vertices + faces[touching])])
            change.append(transfer.q_minus_i_t[s, touching])
        self.stacked_faces = np.concatenate(stacked)  # (F, 3) stacked numbers
        self.target_change = np.concatenate(change)  # (F, 3, 3) the source's Q^T - I
        self.copied = transfer.displacements[self.shape_of[:self.n_inner], self.ids[:self.n_inner]]
        # the stiffness entries (row, col) of each triangle's 3 x 3 block, split into matrix and ring terms
        r = np.repeat(self.stacked_faces, 3, axis=1).ravel()
        c = np.tile(self.stacked_faces, (1, 3)).ravel()
        inner_row = r < self.n_inner
        self.matrix_entries = np.flatnonzero(inner_row & (c < self.n_inner))
        self.ring_entries = np.flatnonzero(inner_row & (c >= self.n_inner))
        self.ring_rows, self.ring_cols = r[self.ring_entries], c[self.ring_entries]
        pattern = sp.csc_matrix((np.ones(len(self.matrix_entries) + self.n_inner),
                                 (np.r_[r[self.matrix_entries], np.arange(self.n_inner)],
                                  np.r_[c[self.matrix_entries], np.arange(self.n_inner)])),
                                shape=(self.n_inner,) * 2)
        pattern.sum_duplicates()
        # a fill-reducing order of the unknowns, found once on the pattern (the values change with the identity,
        # the pattern does not), so each call factorises in that order without searching for one
        self.position = splu(pattern + sp.identity(self.n_inner, format="csc") * 10, permc_spec="MMD_AT_PLUS_A",
                             diag_pivot_thresh=0.0, options={"SymmetricMode": True}).perm_c
        self.order = np.argsort(self.position)  # the unknown at each position of the ordered system
        # the ordered system's pattern, and the position in its CSC data of each entry and of each diagonal
        row = self.position[np.r_[r[self.matrix_entries], np.arange(self.n_inner)]]
        col = self.position[np.r_[c[self.matrix_entries], np.arange(self.n_inner)]]
        pattern = sp.csc_matrix((np.ones(len(row)), (row, col)), shape=(self.n_inner,) * 2)
        pattern.sum_duplicates()
        self.indptr, self.indices = pattern.indptr, pattern.indices
        pattern_key = np.repeat(np.arange(self.n_inner), np.diff(self.indptr)) * self.n_inner + self.indices
        self.data_slot = np.searchsorted(pattern_key, col * self.n_inner + row)
        # each shape's stacked unknowns and ring values are contiguous
        self.inner_range, self.ring_range = {}, {}
        for s, v in inner_parts:
            a = int(np.searchsorted(self.shape_of[:self.n_inner], s))
            self.inner_range[s] = (a, a + len(v))
        for s, v in ring_parts:
            a = self.n_inner + int(np.searchsorted(self.shape_of[self.n_inner:], s))
            self.ring_range[s] = (a, a + len(v))
        self.rows_of_corners = self.stacked_faces.ravel()

    def screening_weight(self, neutral: np.ndarray) -> float:
        """The transfer's screening weight on `neutral`: screening x the mean diagonal of its Laplacian."""
        p0, p1, p2 = (neutral[self.faces[:, i]] for i in range(3))
        doubled_area = np.linalg.norm(np.cross(p1 - p0, p2 - p0), axis=1)
        squared = sum(np.einsum("fc,fc->f", e, e) for e in (p2 - p1, p0 - p2, p1 - p0))
        return self.screening * float((squared / (2 * doubled_area)).sum()) / self.n_vertices

    def __call__(self, neutral: np.ndarray, shapes: np.ndarray, which=None) -> np.ndarray:
        """`shapes` (len(which), V, 3), the approximate transfer of the shapes `which` (default all), with
        their patches re-solved; changed in place and returned. Every patch is solved; only those of `which`
        are written."""
        which = list(range(len(shapes))) if which is None else [int(s) for s in which]
        slot = {s: i for i, s in enumerate(which)}
        if not self.shape_ids & set(slot):
            return shapes
        neutral = np.asarray(neutral, np.float64)
        n = self.n_inner
        # the triangles' hat-function gradients on the neutral, as in transfer.gradient_operator
        pos = neutral[self.ids]
        f = self.stacked_faces
        p0, p1, p2 = pos[f[:, 0]], pos[f[:, 1]], pos[f[:, 2]]
        normal = np.cross(p1 - p0, p2 - p0)
        doubled = np.linalg.norm(normal, axis=1)
        unit = normal / doubled[:, None]
        grads = np.stack([np.cross(unit, e) for e in (p2 - p1, p0 - p2, p1 - p0)], 1) / doubled[:, None, None]
        area = doubled / 2
        stiffness = (area[:, None, None] * (grads @ grads.transpose(0, 2, 1))).ravel()  # (F * 9,)
        target = (np.eye(3) - unit[:, :, None] * unit[:, None, :]) @ self.target_change  # P_f (Q_f^T - I)
        load = (area[:, None, None] * (grads @ target)).reshape(-1, 3)  # per corner, xyz
        lam = self.screening_weight(neutral)

        corners = self.rows_of_corners
        inner = corners < n
        rhs = np.stack([np.bincount(corners[inner], load[inner, k], n) for k in range(3)], 1)
        rhs += lam * self.copied
        ring = self.ring_cols - n
        known = np.zeros((len(self.ids) - n, 3))  # the rings of shapes not asked for stay zero: not written
        for s, i in slot.items():
            if s in self.shape_ids:
                a, b = self.ring_range[s]
                known[a - n:b - n] = shapes[i, self.ids[a:b]]
        weights = -stiffness[self.ring_entries]
        rhs += np.stack([np.bincount(self.ring_rows, weights * known[ring, k], n) for k in range(3)], 1)
        data = np.bincount(self.data_slot, np.r_[stiffness[self.matrix_entries], np.full(n, lam)],
                           len(self.indices))
        matrix = sp.csc_matrix((data, self.indices, self.indptr), shape=(n, n))
        solution = splu(matrix, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                        options={"SymmetricMode": True}).solve(rhs[self.order])[self.position]
        for s, i in slot.items():
            if s in self.shape_ids:
                a, b = self.inner_range[s]
                shapes[i, self.ids[a:b]] = solution[a:b]
        return shapes


def patch_interiors(errors: np.ndarray, faces: np.ndarray, n_vertices: int, threshold: float, rings: int,
                    mirror: np.ndarray | None = None, pairs=()) -> np.ndarray:
    """(S, V) masks: the vertices where `errors` (S, V, the largest error seen per vertex) exceed `threshold`,
    grown by `rings` rings of neighbours; each Left/Right pair (indices in `pairs`) gets the union of its own
    and its partner's mirrored mask, so mirrored shapes stay mirrored."""
    from ..geometry import adjacency

    adj = adjacency(faces, n_vertices)
    masks = errors > threshold
    for _ in range(rings):
        masks = masks | (np.asarray(adj @ masks.T.astype(float)).T > 0)
    if mirror is not None:
        for left, right in pairs:
            masks[left] |= masks[right][mirror]
            masks[right] |= masks[left][mirror]
    return masks
