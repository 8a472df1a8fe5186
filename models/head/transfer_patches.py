"""The deformation transfer solved exactly on small patches, around a solution that is only approximate.

The linearised transfer (identity_shapes.py) is within a few hundredths of a millimetre of the exact one
almost everywhere, but where a shape squeezes or rotates the skin hard (under the chin in jawOpen, the lower
lip in mouthRollLower) its second-order terms reach most of a millimetre. On such a patch the transfer's own
Poisson equations are solved again on the identity's neutral, with the approximate solution on the ring around
the patch as boundary values: the patch's rows of the whole-head system, so the result is the exact transfer up
to the (small) error on that ring, which the screened Poisson operator only attenuates inside the patch.

Every patch is one shape's: the shapes' systems are independent, so the patches of all shapes are stacked
into one block-diagonal system, assembled from per-triangle arrays and solved as a few bands (banded Cholesky,
`band_groups`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_solve_banded, cholesky_banded
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee

from .transfer import DeformationTransfer


class PatchSolver:
    """Re-solves each shape's transfer exactly on its patch (`interior[s]`, a vertex mask per shape).

    The patches of all shapes are stacked once into one numbering (interior unknowns first, then the rings),
    with the index arrays that scatter per-triangle values into the system's bands and right-hand side, so a
    call is a few array operations and a banded factorisation and solve per group of patches.
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
        # the matrix is symmetric positive definite and block-diagonal (one block per connected patch, a few
        # hundred unknowns each), so it is factorised as bands (Cholesky), each patch in the order that keeps its
        # band narrow (reverse Cuthill-McKee), the patches grouped by that width (a band's cost grows with its
        # square); orders and each entry's slot in its band's upper storage are found once: the values change
        # with the identity, the pattern does not
        row = np.r_[r[self.matrix_entries], np.arange(self.n_inner)]
        col = np.r_[c[self.matrix_entries], np.arange(self.n_inner)]
        self.bands = band_groups(row, col, self.n_inner)
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
        normal = np.cross(p1 - p0, p2 - p0)
        doubled_area = np.sqrt(np.einsum("fc,fc->f", normal, normal))
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
        # the triangles' stiffness and load on the neutral, as in transfer.gradient_operator: with e_i the edge
        # opposite corner i and d twice the area, the hat gradients are n x e_i / d, so the stiffness
        # area g_i . g_j is e_i . e_j / 2d and the load area g_i^T P (Q^T - I) is (n x e_i)^T (Q^T - I) / 2 (the
        # gradients lie in the plane: the projection P changes nothing)
        pos = neutral[self.ids]
        f = self.stacked_faces
        p0, p1, p2 = pos[f[:, 0]], pos[f[:, 1]], pos[f[:, 2]]
        edges = np.stack([p2 - p1, p0 - p2, p1 - p0], 1)  # (F, 3, 3)
        normal = np.cross(edges[:, 2], -edges[:, 1])
        doubled = np.sqrt(np.einsum("fc,fc->f", normal, normal))
        # (batched einsum and matmul are slow on 3 x 3 blocks: sums over the coordinate written out)
        stiffness = sum(edges[:, :, None, c] * edges[:, None, :, c] for c in range(3))
        stiffness = (stiffness / (2 * doubled)[:, None, None]).ravel()  # (F * 9,)
        turned = np.cross((normal / doubled[:, None])[:, None], edges)  # n x e_i
        load = sum(turned[:, :, c, None] * self.target_change[:, None, c, :] for c in range(3))
        load = 0.5 * load.reshape(-1, 3)  # per corner, xyz
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
        values = np.r_[stiffness[self.matrix_entries], np.full(n, lam)]
        solution = np.empty((n, 3))
        for unknowns, width, entries, band_slot in self.bands:
            band = np.bincount(band_slot, values[entries], (width + 1) * len(unknowns)).reshape(width + 1, -1)
            factor = cholesky_banded(band, overwrite_ab=True, check_finite=False)
            solution[unknowns] = cho_solve_banded((factor, False), rhs[unknowns], overwrite_b=True,
                                                  check_finite=False)
        for s, i in slot.items():
            if s in self.shape_ids:
                a, b = self.inner_range[s]
                shapes[i, self.ids[a:b]] = solution[a:b]
        return shapes


def band_groups(row: np.ndarray, col: np.ndarray, n: int) -> list[tuple]:
    """The symmetric pattern of entries (row, col) over n unknowns as bands: per group of connected components
    of similar band width (reverse Cuthill-McKee within each component), its unknowns in band order, the band
    width, the entries whose upper triangle it stores and each one's slot in the upper band storage
    (scipy.linalg.cholesky_banded's, raveled)."""
    pattern = sp.csr_matrix((np.ones(len(row)), (row, col)), shape=(n, n))
    _, label = connected_components(pattern, directed=False)
    members = np.split(np.argsort(label, kind="stable"), np.cumsum(np.bincount(label))[:-1])
    position = np.empty(n, np.int64)  # of each unknown within its component's band order
    width = np.empty(len(members), np.int64)
    for k, ids in enumerate(members):
        local = reverse_cuthill_mckee(pattern[ids][:, ids], symmetric_mode=True)
        position[ids[local]] = np.arange(len(ids))
        inside = label[row] == k
        width[k] = np.abs(position[row[inside]] - position[col[inside]]).max(initial=0)
    group = np.ceil(np.log2(width + 1)).astype(np.int64)  # widths within a factor of two share a band
    bands = []
    for g in np.unique(group):
        comps = np.flatnonzero(group == g)
        unknowns = np.concatenate([members[k][np.argsort(position[members[k]])] for k in comps])
        at = np.zeros(n, np.int64)  # position in this band
        at[unknowns] = np.arange(len(unknowns))
        entries = np.flatnonzero(np.isin(label[row], comps) & (at[row] <= at[col]))
        w = int(width[comps].max())
        slot = (w + at[row[entries]] - at[col[entries]]) * len(unknowns) + at[col[entries]]
        bands.append((unknowns, w, entries, slot))
    return bands


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
