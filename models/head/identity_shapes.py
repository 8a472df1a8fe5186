"""The ARKit shapes of one identity: the asset's shapes moved onto its neutral, lids re-closed.

The construction (what the semantic autoencoder trains on, the rig writes and the generator renders):
gradient-domain deformation transfer (`transfer.py`) of the asset's blendshapes from the template onto
the identity's neutral; then the eyeBlink shapes get the head build's lid-closing corrective again,
because on another eye shape the transferred lids miss each other by up to 3 mm.

The exact transfer takes about a second per identity (a sparse factorisation and 153 solves), so
`IdentityShapes` uses it linearised in the identity coefficients,
    transfer(beta) ~ transfer(0) + sum_k beta_k d transfer / d beta_k,
with the exact derivatives at the template taken once (one factorisation and K solves) and cached under the
cache folder, keyed by the asset's arrays and the transfer's code. The lid corrective is not smooth
in the identity (which vertices it holds changes), so it is not linearised: it runs on every call, on
the skin patch around each eye. `python -m models.head shapes-bench` measures both against the exact
construction.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ..atomic_io import save_npz
from ..geometry import fit_sphere
from .asset import HeadAsset
from .transfer import DeformationTransfer

DERIVATIVES_VERSION = 2
ASSEMBLY_STEP = 1e-3  # step of the central differences of the Poisson system's assembly, in standard deviations


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
        self.skin_ids = np.unique(faces)
        self.eyes = {}  # blink shape index -> (side, eyeball ids, patch ids, patch faces, margins, Laplacian)
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
        self.shape_ids = set(self.eyes)

    def __call__(self, neutral: np.ndarray, shapes: np.ndarray) -> np.ndarray:
        """`shapes` (S, V, 3) with both blink shapes closed on `neutral`."""
        shapes = np.array(shapes, np.float64)
        for k in self.shape_ids:
            shapes[k] = self.close(neutral, k, shapes[k])
        return shapes

    def close(self, neutral: np.ndarray, k: int, blink: np.ndarray) -> np.ndarray:
        """The blink shape number `k` (V, 3) closed on `neutral`."""
        from . import eyelids

        neutral = np.asarray(neutral, np.float64)
        _, eyeball, ids, faces, margins, lap = self.eyes[k]
        centre, radius = fit_sphere(neutral[eyeball])
        reach = np.linalg.norm(neutral[self.skin_ids] - centre, axis=1) < self.REGION_RADIUS
        if not np.isin(self.skin_ids[reach], ids).all():
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


def exact_shapes(asset: HeadAsset):
    """identity (K,) -> (S, V, 3): the construction without linearisation (the reference for shapes-bench)."""
    transfer, closer = exact_transfer(asset), BlinkCloser(asset)
    return lambda identity: closer(neutral_of(asset, identity), transfer(identity))


@dataclasses.dataclass
class TransferDerivatives:
    """transfer(beta) ~ base + beta . derivative, on the vertices a shape can move (zero elsewhere)."""

    vertex_ids: np.ndarray  # (n,) the skin vertices; the eyeballs never move
    base: np.ndarray  # (S, n, 3) float32: the transfer at beta = 0
    derivative: np.ndarray  # (K, S, n, 3) float32: d transfer / d beta_k
    n_vertices: int

    def shapes(self, beta: np.ndarray, which=None) -> np.ndarray:
        """(len(which), V, 3) float64 displacements of the shapes `which` (default all)."""
        k, s, n, _ = self.derivative.shape
        which = np.arange(s) if which is None else np.asarray(which)
        out = np.zeros((len(which), self.n_vertices, 3))
        if len(which) == s:
            moved = (beta.astype(np.float32) @ self.derivative.reshape(k, -1)).reshape(s, n, 3)
        else:
            moved = np.stack([(beta.astype(np.float32) @ self.derivative[:, i].reshape(k, -1)).reshape(n, 3)
                              for i in which]) if len(which) else np.zeros((0, n, 3))
        out[:, self.vertex_ids] = self.base[which] + moved
        return out


class IdentityShapes:
    """HeadModel's identity-specific shapes: the linearised transfer, lids re-closed exactly."""

    def __init__(self, asset: HeadAsset, derivatives: TransferDerivatives):
        if derivatives.derivative.shape[0] != asset.n_identity:
            raise ValueError(f"shape derivatives are for {derivatives.derivative.shape[0]} identity coefficients, "
                             f"the asset has {asset.n_identity}")
        self.asset = asset
        self.derivatives = derivatives
        self.closer = BlinkCloser(asset)
        self.template = asset.template.astype(np.float64)
        self.identity_basis = asset.identity_basis.astype(np.float64)

    def _beta_and_neutral(self, identity) -> tuple[np.ndarray, np.ndarray]:
        beta = checked_identity(identity, self.asset.n_identity)
        return beta, self.template + self.identity_basis @ beta

    def __call__(self, identity) -> np.ndarray:
        """(S, V, 3) float64 displacements of every shape on identity (K,)."""
        beta, neutral = self._beta_and_neutral(identity)
        return self.closer(neutral, self.derivatives.shapes(beta))

    def combine(self, identity, weights) -> np.ndarray:
        """(V, 3) float64: sum_s weights[s] shapes_s(identity), computing only the shapes with a weight."""
        weights = np.asarray(weights, np.float64)
        active = np.flatnonzero(weights)
        out = np.zeros((self.asset.n_vertices, 3))
        if not len(active):
            return out
        beta, neutral = self._beta_and_neutral(identity)
        shapes = self.derivatives.shapes(beta, active)
        for i, s in enumerate(active):
            if s in self.closer.shape_ids:
                shapes[i] = self.closer.close(neutral, s, shapes[i])
        return np.einsum("s,svc->vc", weights[active], shapes)


def derivatives_digest(asset: HeadAsset) -> str:
    """Hash of the asset arrays the transfer reads and of the transfer's code."""
    from . import transfer

    h = hashlib.sha256(f"transfer-derivatives-v{DERIVATIVES_VERSION}/step{ASSEMBLY_STEP}".encode())
    for a in (asset.template, asset.faces, asset.identity_basis, asset.blendshapes, asset.head_vertices):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(Path(transfer.__file__).read_bytes())
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
    """Exact derivatives of the transfer at the template (one factorisation, K solves).

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
            progress(i + 1, k)
    return TransferDerivatives(moved, base.astype(np.float32), derivative, asset.n_vertices)


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
                                                  asset.n_vertices)
        except Exception:  # a damaged cache file is recomputed
            path.unlink(missing_ok=True)
    if derivatives is None:
        derivatives = linearise(asset, progress)
        save_npz(path, {"vertex_ids": derivatives.vertex_ids, "base": derivatives.base,
                        "derivative": derivatives.derivative})
    return IdentityShapes(asset, derivatives)
