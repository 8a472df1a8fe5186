"""The ARKit shapes of one identity: the asset's shapes moved onto its neutral, lids re-closed.

The construction (what the semantic autoencoder trains on, the rig writes and the generator renders):
gradient-domain deformation transfer (`transfer.py`) of the asset's blendshapes from the template onto
the identity's neutral; then the eyeBlink shapes get the head build's lid-closing corrective again,
because on another eye shape the transferred lids miss each other by up to 3 mm.

The exact transfer takes about a second per identity (a sparse factorisation and 153 solves), so
`IdentityShapes` uses it linearised in the identity coefficients,
    transfer(beta) ~ transfer(0) + sum_k beta_k d transfer / d beta_k,
with the exact derivatives at the template taken once (one factorisation and K solves) and cached under the
cache folder, keyed by the asset's arrays and the transfer's code. Where the linearisation measurably breaks
(its error on a few random identities, taken with the derivatives and cached with them: under the chin in
jawOpen, the lower lip in mouthRollLower, ...) each shape's transfer is solved again exactly on a small patch,
with the linearised solution around it as boundary values (transfer_patches.py). The lid corrective is not smooth
in the identity (which vertices it holds changes), so it is not linearised: it runs on every call, on
the skin patch around each eye. `python -m models.head shapes-bench` measures both against the exact
construction.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np

from ..atomic_io import save_npz
from ..blas_threads import BlasThreads
from ..geometry import fit_sphere
from ..vocab.arkit import MIRROR_PAIRS
from .asset import HeadAsset
from .fold_repair import FoldRepair, at_risk, survey
from .transfer import DeformationTransfer
from .transfer_patches import PatchSolver, patch_interiors

DERIVATIVES_VERSION = 3
ASSEMBLY_STEP = 1e-3  # step of the central differences of the Poisson system's assembly, in standard deviations
# The exact patches: where the linearisation's error on PATCH_IDENTITIES random identities (N(0, 1) clipped to
# +-2.5 sd, their own seed) exceeds PATCH_THRESHOLD metres, grown by PATCH_RINGS rings.
PATCH_IDENTITIES = 16
PATCH_SEED = 314159
PATCH_THRESHOLD = 0.1e-3
PATCH_RINGS = 1
# Where folds are looked for: the triangles whose facing fell below FOLD_RISK on FOLD_IDENTITIES random
# identities (their own seed), grown by FOLD_RINGS rings of edge neighbours, plus what each identity's neutral
# makes risky (fold_repair.FoldRepair).
FOLD_IDENTITIES = 100
FOLD_SEED = 271828
FOLD_RISK = 0.25
FOLD_RINGS = 2


class BlinkCloser:
    """Re-closes the lids of transferred eyeBlink shapes (eyelids.close_lids on each eye).

    On another eye shape the transferred lids stop short or overshoot by a millimetre or more, and a
    blink must stay a closed eye on every face. close_lids only reads the skin within its reach
    (REGION_RADIUS) of the eyeball centre, so each eye works on the skin patch around it, renumbered:
    the same result as on the whole head, a few times faster.
    """

    REGION_RADIUS = 0.03  # close_lids' default region_radius
    PATCH_MARGIN = 0.02  # how far an identity may move the lids relative to the eye (checked per call)

    def __init__(self, asset):
        from ..geometry import uniform_laplacian

        self.asset = asset
        margins = asset.eyelid_margins
        faces = asset.skin_faces
        template = asset.template.astype(np.float64)
        skin_ids = np.unique(faces)
        self.eyes = {}  # blink shape index -> (side, eyeball ids, patch ids, patch faces, margins, Laplacian)
        self.beyond = {}  # blink shape index -> the skin vertices outside its patch
        for side, eyeball in (("left", asset.eyeball_left), ("right", asset.eyeball_right)):
            name = "eyeBlink" + side.capitalize()
            if name not in asset.shape_names:
                continue
            centre, _ = fit_sphere(template[eyeball])
            near = np.linalg.norm(template - centre, axis=1) < self.REGION_RADIUS + self.PATCH_MARGIN
            patch_faces = faces[near[faces].any(1)]
            ids = np.unique(patch_faces)
            local = lambda v: np.searchsorted(ids, v)  # noqa: E731
            m = margins[side]
            self.eyes[asset.shape_names.index(name)] = (
                side, np.asarray(eyeball), ids, local(patch_faces), type(m)(local(m.upper), local(m.lower)),
                uniform_laplacian(local(patch_faces), len(ids)))
            self.beyond[asset.shape_names.index(name)] = np.setdiff1d(skin_ids, ids)
        self.shape_ids = set(self.eyes)

    def __call__(self, neutral: np.ndarray, shapes: np.ndarray) -> np.ndarray:
        """`shapes` (S, V, 3) with both blink shapes closed on `neutral` (a copy)."""
        return self.close_in_place(neutral, np.array(shapes, np.float64))

    def close_in_place(self, neutral: np.ndarray, shapes: np.ndarray) -> np.ndarray:
        """`shapes` (S, V, 3) float64 with both blink shapes closed on `neutral`, changed in place."""
        for k in self.shape_ids:
            shapes[k] = self.close(neutral, k, shapes[k])
        return shapes

    def close(self, neutral: np.ndarray, k: int, blink: np.ndarray) -> np.ndarray:
        """The blink shape number `k` (V, 3) closed on `neutral`."""
        from . import eyelids

        neutral = np.asarray(neutral, np.float64)
        _, eyeball, ids, faces, margins, lap = self.eyes[k]
        centre, radius = fit_sphere(neutral[eyeball])
        if (np.linalg.norm(neutral[self.beyond[k]] - centre, axis=1) < self.REGION_RADIUS).any():
            raise ValueError("identity moves the lids too far from the eye for the lid corrective's patch; "
                             "use identity coefficients within a few standard deviations")
        closed = np.array(blink, np.float64)
        closed[ids] = eyelids.close_lids(neutral[ids], closed[ids], faces, margins, centre, radius,
                                         self.REGION_RADIUS, lap)
        return closed


def close_blinks(asset, neutral: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """The eyeBlink shapes of `shapes` (S, V, 3) with the lids re-closed on `neutral` (BlinkCloser)."""
    return BlinkCloser(asset)(neutral, shapes)


def checked_identity(identity, n_identity: int) -> np.ndarray:
    beta = np.asarray(identity, np.float64)
    if beta.shape != (n_identity,):
        raise ValueError(f"identity needs {n_identity} coefficients, got shape {beta.shape}")
    return beta


def neutral_of(asset: HeadAsset, identity) -> np.ndarray:
    beta = checked_identity(identity, asset.n_identity)
    return asset.template.astype(np.float64) + asset.identity_basis.astype(np.float64) @ beta


def exact_transfer(asset: HeadAsset):
    """identity (K,) -> (S, V, 3) transferred displacements, solved exactly (about a second per call)."""
    transfer = DeformationTransfer(asset.template, asset.blendshapes, asset.faces)
    return lambda identity: transfer(neutral_of(asset, identity)).astype(np.float64)


def exact_shapes(asset: HeadAsset, fold_repair: FoldRepair | None = None):
    """identity (K,) -> (S, V, 3): the construction without linearisation (the reference for shapes-bench),
    its folds removed by `fold_repair` when given (IdentityShapes.fold_repair, which holds where to look)."""
    transfer, closer = exact_transfer(asset), BlinkCloser(asset)

    def shapes(identity):
        neutral = neutral_of(asset, identity)
        out = closer(neutral, transfer(identity))
        return out if fold_repair is None else fold_repair(neutral, out)
    return shapes


@dataclasses.dataclass
class TransferDerivatives:
    """transfer(beta) ~ base + beta . derivative, on the vertices a shape can move (zero elsewhere)."""

    vertex_ids: np.ndarray  # (n,) the skin vertices; the eyeballs never move
    base: np.ndarray  # (S, n, 3) float32: the transfer at beta = 0
    derivative: np.ndarray  # (K, S, n, 3) float32: d transfer / d beta_k
    n_vertices: int
    patches: np.ndarray  # (S, V) bool: per shape, the vertices where the transfer is solved again exactly
    fold_candidates: np.ndarray  # (S, F) bool over asset.skin_faces: where each shape's folds are looked for

    def shapes(self, beta: np.ndarray, which=None) -> np.ndarray:
        """(len(which), V, 3) float64 displacements of the shapes `which` (default all)."""
        k, s, n, _ = self.derivative.shape
        which = np.arange(s) if which is None else np.asarray(which, np.int64)
        beta = beta.astype(np.float32)
        if np.array_equal(which, np.arange(s)):
            moved = (beta @ self.derivative.reshape(k, -1)).reshape(s, n, 3)
            moved += self.base
        else:
            moved = np.stack([(beta @ self.derivative[:, i].reshape(k, -1)).reshape(n, 3) for i in which]
                             ) + self.base[which] if len(which) else np.zeros((0, n, 3), np.float32)
        out = np.zeros((len(which), self.n_vertices, 3))
        ids = self.vertex_ids
        span = len(ids) and np.array_equal(ids, np.arange(ids[0], ids[0] + len(ids)))
        out[:, slice(ids[0], ids[0] + len(ids)) if span else ids] = moved  # a slice copies faster
        return out


class IdentityShapes:
    """HeadModel's identity-specific shapes: the linearised transfer, solved exactly on the patches where that
    is not close enough, lids re-closed exactly, folds removed."""

    def __init__(self, asset: HeadAsset, derivatives: TransferDerivatives, repair_folds: bool = True):
        if derivatives.derivative.shape[0] != asset.n_identity:
            raise ValueError(f"shape derivatives are for {derivatives.derivative.shape[0]} identity coefficients, "
                             f"the asset has {asset.n_identity}")
        self.asset = asset
        self.derivatives = derivatives
        self.closer = BlinkCloser(asset)
        self.patch_solver = PatchSolver(DeformationTransfer(asset.template, asset.blendshapes, asset.faces),
                                        derivatives.patches, asset.n_vertices)
        margins = [np.r_[m.upper, m.lower] for m in asset.eyelid_margins.values()]
        self.fold_repair = FoldRepair(asset.skin_faces, derivatives.fold_candidates, asset.template,
                                      np.concatenate(margins) if margins else ()) if repair_folds else None
        self.template = asset.template.astype(np.float64)
        self.identity_basis = asset.identity_basis.astype(np.float64)
        # one BLAS thread: the banded solves are small, and a second thread on a busy machine slows them ~10x
        self.blas = BlasThreads()

    def _beta_and_neutral(self, identity) -> tuple[np.ndarray, np.ndarray]:
        beta = checked_identity(identity, self.asset.n_identity)
        return beta, self.template + self.identity_basis @ beta

    def __call__(self, identity) -> np.ndarray:
        """(S, V, 3) float64 displacements of every shape on identity (K,)."""
        beta, neutral = self._beta_and_neutral(identity)
        with self.blas.limit(1):
            shapes = self.closer.close_in_place(neutral, self.patch_solver(neutral, self.derivatives.shapes(beta)))
            return shapes if self.fold_repair is None else self.fold_repair(neutral, shapes)

    def combine(self, identity, weights) -> np.ndarray:
        """(V, 3) float64: sum_s weights[s] shapes_s(identity), computing only the shapes with a weight."""
        weights = np.asarray(weights, np.float64)
        active = np.flatnonzero(weights)
        out = np.zeros((self.asset.n_vertices, 3))
        if not len(active):
            return out
        beta, neutral = self._beta_and_neutral(identity)
        with self.blas.limit(1):
            shapes = self.patch_solver(neutral, self.derivatives.shapes(beta, active), active)
            for i, s in enumerate(active):
                if s in self.closer.shape_ids:
                    shapes[i] = self.closer.close(neutral, s, shapes[i])
            if self.fold_repair is not None:
                self.fold_repair(neutral, shapes, active)
        return np.einsum("s,svc->vc", weights[active], shapes)


def derivatives_digest(asset: HeadAsset) -> str:
    """Hash of what the cached file depends on: the asset arrays the transfer, its patches and the survey of
    folds read, and their code (the survey runs the whole construction, this module's included)."""
    from . import eyelids, fold_repair, transfer, transfer_patches

    h = hashlib.sha256(f"transfer-derivatives-v{DERIVATIVES_VERSION}/step{ASSEMBLY_STEP}/patches{PATCH_IDENTITIES},"
                       f"{PATCH_SEED},{PATCH_THRESHOLD},{PATCH_RINGS}/folds{FOLD_IDENTITIES},{FOLD_SEED},{FOLD_RISK},{FOLD_RINGS}".encode())
    for a in (asset.template, asset.faces, asset.identity_basis, asset.blendshapes, asset.head_vertices,
              asset.mirror):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(" ".join(asset.shape_names).encode())
    for side in sorted(asset.eyelid_margins):  # the lid corrective, in the survey of folds
        margins = asset.eyelid_margins[side]
        h.update(side.encode() + np.asarray(margins.upper).tobytes() + np.asarray(margins.lower).tobytes())
    for module in (transfer, transfer_patches, fold_repair, eyelids, sys.modules[__name__]):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def construction_digest(asset: HeadAsset) -> str:
    """Hash of everything the shapes of an identity depend on: the derivatives and the lid corrective's code."""
    from . import eyelids

    h = hashlib.sha256(derivatives_digest(asset).encode())
    for side in sorted(asset.eyelid_margins):
        margins = asset.eyelid_margins[side]
        h.update(side.encode() + np.asarray(margins.upper).tobytes() + np.asarray(margins.lower).tobytes())
    for path in (Path(__file__), Path(eyelids.__file__)):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def linearise(asset: HeadAsset, progress=None) -> TransferDerivatives:
    """Exact derivatives of the transfer at the template (one factorisation, K solves), the patches where
    they are not close enough (PATCH_IDENTITIES exact transfers) and where folds are looked for (the survey of
    FOLD_IDENTITIES identities' shapes).

    x(beta) solves A(beta) x = b(beta), so dx/dbeta_k = A(0)^-1 (db/dbeta_k - dA/dbeta_k x(0)); the
    derivatives of the system's assembly are central differences with a small step (it is smooth).
    """
    from .transfer import factorize

    transfer = DeformationTransfer(asset.template, asset.blendshapes, asset.faces)
    k = asset.n_identity
    moved = np.asarray(asset.head_vertices)
    matrix, rhs = transfer.system(neutral_of(asset, np.zeros(k)))
    solver = factorize(matrix)
    x0 = solver.solve(rhs)
    base = transfer.displacements_of(x0)[:, moved]
    derivative = np.empty((k, base.shape[0], len(moved), 3), np.float32)
    for i in range(k):
        step = np.zeros(k)
        step[i] = ASSEMBLY_STEP
        plus, minus = transfer.system(neutral_of(asset, step)), transfer.system(neutral_of(asset, -step))
        d_rhs = (plus[1] - minus[1]) - (plus[0] - minus[0]) @ x0
        derivative[i] = transfer.displacements_of(solver.solve(d_rhs / (2 * ASSEMBLY_STEP)))[:, moved]
        if progress is not None:
            progress(i + 1, k + PATCH_IDENTITIES + 1)
    linear = TransferDerivatives(moved, base.astype(np.float32), derivative, asset.n_vertices,
                                 np.zeros((base.shape[0], asset.n_vertices), bool),
                                 np.zeros((base.shape[0], len(asset.skin_faces)), bool))
    errors = np.zeros((base.shape[0], asset.n_vertices))
    betas = np.clip(np.random.default_rng(PATCH_SEED).normal(size=(PATCH_IDENTITIES, k)), -2.5, 2.5)
    for i, beta in enumerate(betas):
        exact = transfer(neutral_of(asset, beta)).astype(np.float64)
        errors = np.maximum(errors, np.linalg.norm(linear.shapes(beta) - exact, axis=-1))
        if progress is not None:
            progress(k + i + 1, k + PATCH_IDENTITIES + 1)
    names = list(asset.shape_names)
    pairs = [(names.index(left), names.index(right)) for left, right in MIRROR_PAIRS if left in names]
    mirror = asset.mirror if len(asset.mirror) == asset.n_vertices else None  # stand-in assets have none
    linear.patches = patch_interiors(errors, asset.faces, asset.n_vertices, PATCH_THRESHOLD, PATCH_RINGS,
                                     mirror, pairs)
    linear.fold_candidates = fold_candidates(asset, linear)
    if progress is not None:
        progress(k + PATCH_IDENTITIES + 1, k + PATCH_IDENTITIES + 1)
    return linear


def fold_candidates(asset: HeadAsset, derivatives: TransferDerivatives) -> np.ndarray:
    """(S, F) where the shapes (without fold removal) of FOLD_IDENTITIES random identities came close to folding."""
    shapes = IdentityShapes(asset, derivatives, repair_folds=False)
    betas = np.clip(np.random.default_rng(FOLD_SEED).normal(size=(FOLD_IDENTITIES, asset.n_identity)), -2.5, 2.5)
    low = survey(shapes, lambda beta: neutral_of(asset, beta), asset.skin_faces, betas)
    return at_risk(low, asset.skin_faces, FOLD_RISK, FOLD_RINGS)


def load_identity_shapes(asset: HeadAsset, cache: Path | None = None, progress=None) -> IdentityShapes:
    """The identity shapes of this asset; the derivatives come from `cache` (default: the head cache folder),
    or are computed and written there atomically."""
    if cache is None:
        from ..paths import cache_dir

        cache = cache_dir()
    path = Path(cache) / f"shape-derivatives-{derivatives_digest(asset)}.npz"
    derivatives = None
    if path.is_file():
        try:
            with np.load(path) as data:
                derivatives = TransferDerivatives(data["vertex_ids"], data["base"], data["derivative"],
                                                  asset.n_vertices, data["patches"], data["fold_candidates"])
        except Exception:  # a damaged cache file is recomputed
            path.unlink(missing_ok=True)
    if derivatives is None:
        derivatives = linearise(asset, progress)
        save_npz(path, {"vertex_ids": derivatives.vertex_ids, "base": derivatives.base,
                        "derivative": derivatives.derivative, "patches": derivatives.patches,
                        "fold_candidates": derivatives.fold_candidates})
    return IdentityShapes(asset, derivatives)
