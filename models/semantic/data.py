"""Training and evaluation meshes made on the fly from the head asset.

An identity is a neutral ``template + identity_basis @ beta``; its expression shapes are the head
model's identity-specific ARKit shapes (``HeadModel.shapes``: the asset's blendshapes moved onto that
neutral by deformation transfer, lids re-closed), the same ones the rig and the renders use, so the same
weights give a slightly different displacement on every face. A pool of identities is computed once and
cached; expressions are drawn fresh for every sample, and never reused, so no
expression is ever seen on two identities (unpaired training).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from models.atomic_io import save_npz
from models.head.asset import asset_digest  # noqa: F401  (D.asset_digest: the one asset digest)
from models.head.identity_shapes import close_blinks, construction_digest  # noqa: F401  (close_blinks moved there)
from models.head.model import HeadModel
from models.vocab import arkit

POOL_VERSION = 1
# Seeds of the disjoint random streams: training identities/expressions, validation, held-out test, and the
# expressions whose PCA starts the optional linear paths (pca_init.py).
TRAIN_SEED, VALIDATION_SEED, HELDOUT_SEED, PCA_SEED = 0, 1_000_003, 2_000_003, 3_000_003


@dataclasses.dataclass
class IdentityPool:
    betas: np.ndarray  # (N, K) identity coefficients
    neutrals: np.ndarray  # (N, V, 3) metres
    shapes: np.ndarray  # (N, S, V, 3) transferred blendshape displacements, asset.shape_names order

    def __len__(self) -> int:
        return len(self.betas)


def default_cache_dir() -> Path:
    from models.paths import cache_dir

    return cache_dir() / "semantic"


def sample_betas(rng: np.random.Generator, n: int, k: int, sigma: float = 1.0, clip: float = 2.5) -> np.ndarray:
    return np.clip(rng.normal(0.0, sigma, (n, k)), -clip, clip).astype(np.float32)


def neutrals_of(asset, betas: np.ndarray) -> np.ndarray:
    basis = asset.identity_basis
    if betas.shape[-1] != basis.shape[2]:
        raise ValueError(f"betas have {betas.shape[-1]} components, the asset has {basis.shape[2]}")
    return (asset.template[None] + np.einsum("vck,nk->nvc", basis, betas)).astype(np.float32)


def build_pool(asset, betas: np.ndarray, progress=None) -> IdentityPool:
    model = HeadModel(asset)
    neutrals = neutrals_of(asset, betas)
    shapes = np.empty((len(betas), *asset.blendshapes.shape), np.float32)
    for i, beta in enumerate(betas):
        shapes[i] = model.shapes(beta)
        if progress is not None:
            progress(i + 1, len(betas))
    return IdentityPool(betas.astype(np.float32), neutrals, shapes)


def load_pool(asset, n: int, seed: int, cache_dir: Path, sigma: float = 1.0, progress=None) -> IdentityPool:
    """``n`` identities drawn from ``seed``; cached under ``cache_dir`` keyed by asset and settings."""
    if n < 1:
        raise ValueError(f"identity pool size must be >= 1, got {n}")
    key = hashlib.sha256(f"{asset_digest(asset)}/{construction_digest(asset)}/{n}/{seed}/{sigma}/{POOL_VERSION}"
                         .encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"identities-{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                return IdentityPool(data["betas"], data["neutrals"], data["shapes"])
        except Exception:
            path.unlink(missing_ok=True)
    betas = sample_betas(np.random.default_rng(seed), n, asset.n_identity, sigma)
    pool = build_pool(asset, betas, progress)
    save_npz(path, {"betas": pool.betas, "neutrals": pool.neutrals, "shapes": pool.shapes})
    return pool


def pose(pool: IdentityPool, identity: np.ndarray, weights: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Meshes (B, V, 3) of pool identities wearing ARKit ``weights`` (B, 52)."""
    w = weights[:, columns]
    return pool.neutrals[identity] + np.einsum("bs,bsvc->bvc", w, pool.shapes[identity])


@dataclasses.dataclass
class Batch:
    meshes: np.ndarray  # (B, V, 3)
    neutrals: np.ndarray  # (B, V, 3)
    identity: np.ndarray  # (B,) pool index
    weights: np.ndarray  # (B, 52)


class TrainingStream:
    """Endless random (identity, fresh expression) batches from a pool."""

    def __init__(self, pool: IdentityPool, shape_names, sampler, seed: int = TRAIN_SEED):
        self.pool = pool
        self.columns = arkit.columns(shape_names)
        self.sampler = sampler
        self.rng = np.random.default_rng(seed)

    def next(self, batch: int) -> Batch:
        identity = self.rng.integers(0, len(self.pool), batch)
        weights = self.sampler(self.rng, batch)
        return Batch(pose(self.pool, identity, weights, self.columns), self.pool.neutrals[identity], identity, weights)


def default_sampler(**options):
    """The shared ARKit sampler, ``(rng, n) -> (n, 52)``, with ``ExpressionOptions`` overrides."""
    try:
        from models.expressions import ExpressionOptions, sample_expressions
    except ImportError as exc:
        raise ImportError("models/expressions.py (the shared expression sampler) is missing; "
                          "check out the project's models/ package completely") from exc
    opts = ExpressionOptions(**options)
    return lambda rng, n: sample_expressions(rng, n, opts)
