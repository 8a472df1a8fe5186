"""Deformation transfer in the gradient domain (Sumner & Popovic 2004, solved as a Poisson problem).

Each source triangle's deformation gradient Q_f (with Sumner's fourth vertex along the normal) is
applied to the matching target triangle: the transferred shape is the one whose per-triangle gradients
best match ``P_f Q_f^T`` in the area-weighted least-squares sense. A weak screening term ties the
result to the copied displacement; it only fixes what gradients cannot see (each component's
translation), so a wide face gets a wide smile and a small one a small smile.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu


def gradient_operator(vertices: np.ndarray, faces: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """G (3F, V) with rows 3f..3f+2 the gradient of each hat function on triangle f; areas (F,); unit normals (F, 3)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    dbl = np.linalg.norm(n, axis=1)
    if (dbl <= 1e-16).any():
        raise ValueError(f"gradient_operator: {(dbl <= 1e-16).sum()} degenerate triangles (zero area)")
    unit = n / dbl[:, None]
    grads = [np.cross(unit, e) / dbl[:, None] for e in (p2 - p1, p0 - p2, p1 - p0)]  # (F, 3) each
    rows = (3 * np.arange(len(f))[:, None] + np.arange(3)[None]).ravel()
    r, c, d = [], [], []
    for i in range(3):
        r.append(rows)
        c.append(np.repeat(f[:, i], 3))
        d.append(grads[i].ravel())
    g = sp.csr_matrix((np.concatenate(d), (np.concatenate(r), np.concatenate(c))), shape=(3 * len(f), len(v)))
    return g, dbl / 2, unit


def _frames(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Sumner's per-triangle frame [e1, e2, n/sqrt|n|] as columns, (..., F, 3, 3)."""
    p0 = vertices[..., faces[:, 0], :]
    e1 = vertices[..., faces[:, 1], :] - p0
    e2 = vertices[..., faces[:, 2], :] - p0
    n = np.cross(e1, e2)
    n = n / np.sqrt(np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-30))
    return np.stack([e1, e2, n], axis=-1)


def source_gradients(rest: np.ndarray, displacements: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Deformation gradients Q (S, F, 3, 3) of each shape ``rest + displacements[s]``."""
    rest = np.asarray(rest, np.float64)
    inv = np.linalg.inv(_frames(rest, faces))
    deformed = _frames(rest[None] + np.asarray(displacements, np.float64), faces)
    return deformed @ inv[None]


class DeformationTransfer:
    """Transfers shapes defined on ``source_rest`` onto any target with the same topology."""

    def __init__(self, source_rest: np.ndarray, displacements: np.ndarray, faces: np.ndarray,
                 screening: float = 1e-3):
        displacements = np.asarray(displacements)
        if displacements.ndim != 3 or displacements.shape[1:] != np.shape(source_rest):
            raise ValueError(f"DeformationTransfer: displacements must be (S, V, 3) matching the rest shape "
                             f"{np.shape(source_rest)}, got {displacements.shape}")
        self.faces = np.asarray(faces)
        self.displacements = displacements.astype(np.float64)
        self.q_minus_i_t = np.swapaxes(source_gradients(source_rest, displacements, self.faces), -1, -2) - np.eye(3)
        self.screening = screening

    def system(self, target_rest: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
        """The Poisson system on ``target_rest``: matrix (V, V) and right-hand sides (V, S * 3)."""
        target_rest = np.asarray(target_rest, np.float64)
        g, area, unit = gradient_operator(target_rest, self.faces)
        w = sp.diags(np.repeat(area, 3))
        lap = (g.T @ w @ g).tocsc()
        lam = self.screening * lap.diagonal().mean()
        proj = np.eye(3) - unit[:, :, None] * unit[:, None, :]  # (F, 3, 3) tangent projectors
        target_grad = proj[None] @ self.q_minus_i_t  # (S, F, 3, 3): P_f (Q_f^T - I)
        s, f = target_grad.shape[:2]
        rhs = g.T @ w @ target_grad.reshape(s, 3 * f, 3).transpose(1, 0, 2).reshape(3 * f, s * 3)
        rhs = rhs + lam * self.displacements.transpose(1, 0, 2).reshape(-1, s * 3)
        return (lap + lam * sp.identity(lap.shape[0], format="csc")).tocsc(), rhs

    def displacements_of(self, solution: np.ndarray) -> np.ndarray:
        """(S, V, 3) from a solution (V, S * 3) of the system."""
        return solution.reshape(len(solution), -1, 3).transpose(1, 0, 2)

    def __call__(self, target_rest: np.ndarray) -> np.ndarray:
        """(S, V, 3) displacements of the transferred shapes on ``target_rest``."""
        matrix, rhs = self.system(target_rest)
        return self.displacements_of(factorize(matrix).solve(rhs)).astype(np.float32)


def factorize(matrix: sp.csc_matrix):
    """Sparse LU of the (symmetric positive definite) Poisson matrix: a symmetric ordering without pivoting,
    which fills in less."""
    return splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
