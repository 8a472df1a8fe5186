"""Shape-key weights from a target mesh: bounded linear least squares with the expression-exclusive pairs.

The general retarget solve: a decoded mesh of the target identity -> the target rig's own shape-key
weights in [0, 1]. Exclusive pairs (smile/frown, blink/wide, jawLeft/jawRight, ...) are never both
above `bound`: when a solve puts both above it, the weaker one is capped at the bound and the frame is
solved again.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear

from ..vocab.arkit import EXCLUSIVE_PAIRS
from ..vocab.arkit import ARKIT_NAMES

PAIR_BOUND = 0.25


def pair_indices(shape_names) -> np.ndarray:
    """(P, 2) indices into `shape_names` of the exclusive pairs both of whose shapes are present."""
    pos = {n: i for i, n in enumerate(shape_names)}
    return np.array([(pos[a], pos[b]) for a, b in EXCLUSIVE_PAIRS if a in pos and b in pos], int).reshape(-1, 2)


def cap_violations(w: np.ndarray, upper: np.ndarray, pairs: np.ndarray, bound: float) -> bool:
    """Lower `upper` to `bound` for the weaker shape of each pair both above it; True when any changed."""
    changed = False
    for a, b in pairs:
        if w[a] > bound + 1e-6 and w[b] > bound + 1e-6:
            weak = a if w[a] < w[b] else b
            upper[weak] = min(upper[weak], bound)
            changed = True
    return changed


def to_arkit(weights: np.ndarray, shape_names) -> np.ndarray:
    """(T, S) weights in `shape_names` order -> (T, 52) in ARKIT_NAMES order (absent shapes 0)."""
    out = np.zeros((len(weights), len(ARKIT_NAMES)))
    out[:, [ARKIT_NAMES.index(n) for n in shape_names]] = weights
    return out


class MeshSolver:
    """Solves meshes of one identity (its neutral and blendshapes) for weights; the system is factored once."""

    def __init__(self, neutral: np.ndarray, blendshapes: np.ndarray, shape_names, vertex_mask=None,
                 bound: float = PAIR_BOUND):
        mask = np.ones(len(neutral), bool) if vertex_mask is None else np.asarray(vertex_mask, bool)
        self.neutral = np.asarray(neutral, np.float64)
        self.mask = mask
        self.shape_names = tuple(shape_names)
        a = np.asarray(blendshapes, np.float64)[:, mask].reshape(len(blendshapes), -1).T  # (3M, S)
        self.q, self.r = np.linalg.qr(a)
        self.n_points = int(mask.sum())
        self.pairs = pair_indices(self.shape_names)
        self.bound = bound

    def solve(self, target: np.ndarray):
        """target (V, 3) or (T, V, 3) metres -> weights (T, S) in shape order, RMS vertex residual (T,) mm."""
        target = np.asarray(target, np.float64)
        target = target[None] if target.ndim == 2 else target
        s = self.r.shape[1]
        weights = np.zeros((len(target), s))
        residual = np.zeros(len(target))
        for k, mesh in enumerate(target):
            b = (mesh - self.neutral)[self.mask].ravel()
            qb = self.q.T @ b
            outside = max(float(b @ b - qb @ qb), 0.0)
            upper = np.ones(s)
            for _ in range(4):
                w = np.clip(lsq_linear(self.r, qb, bounds=(np.zeros(s), upper), method="bvls").x, 0.0, upper)
                if not cap_violations(w, upper, self.pairs, self.bound):
                    break
            weights[k] = w
            inside = float(np.sum((self.r @ w - qb) ** 2))
            residual[k] = 1000.0 * np.sqrt((inside + outside) / self.n_points)
        return weights, residual


def solve_mesh_weights(model, target: np.ndarray, identity=None, vertex_mask=None, bound: float = PAIR_BOUND):
    """A HeadModel's ARKit weights (T, 52) for target meshes of its identity, and the residual (T,) in mm."""
    neutral = model.neutral(identity)[0]
    solver = MeshSolver(neutral, model.shapes(identity), model.shape_names, vertex_mask, bound)
    w, residual = solver.solve(target)
    return to_arkit(w, model.shape_names), residual


def identity_of_neutral(model, vertices: np.ndarray):
    """The identity coefficients of a neutral FLAME-topology mesh (V, 3) in the head frame (linear least
    squares on the identity basis) and the RMS residual in mm."""
    basis = model.identity_basis.reshape(-1, model.identity_basis.shape[2])
    d = (np.asarray(vertices, np.float64) - model.template).ravel()
    beta = np.linalg.lstsq(basis, d, rcond=None)[0]
    residual = 1000.0 * float(np.sqrt(np.mean((basis @ beta - d).reshape(-1, 3) ** 2) * 3))
    return beta, residual
