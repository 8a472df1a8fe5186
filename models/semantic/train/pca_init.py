"""Linear paths for E_id and D_mesh, started at a whitened PCA of the training data (on in the presets;
``train --no-linear-paths`` leaves them out).

Per identity, expressions on the FLAME head are linear in the ARKit weights, and deformation transfer changes them
between identities by only ~0.17 mm. So the 64 leading principal components of sampled expression displacements
reconstruct held-out ones to ~0.05 mm, and FLAME identities are exactly linear in their 60 coefficients. Learning
those maps through the spiral layers takes most of a CPU budget. Computing them takes seconds. D_mesh's linear path
becomes the PCA basis scaled by the components' standard deviations, and E_id's the matching whitened projection,
so codes have unit scale. The spiral paths start silent (E_id's last Linear and D_mesh's last SpiralConv at zero).

E_exp gets no linear path. A linear projection resolves the source face's own version of the expression, so
decoding its code on another face copies the displacement. That is a fixed point of the reconstruction and cycle
losses: 7 minutes of training gave 0.07 mm reconstruction and a retarget error equal to the copy baseline's
(README). With the linear paths in E_id and D_mesh (27 min, held-out) reconstruction falls to 0.13 mm from
0.44 mm, but on their own the model drifts towards copying and A's full blink leaves B's lids 1.6 mm apart; the
expression-space term (losses.py) keeps it semantic, and the presets use both.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from models.semantic.train.networks import SCALE, SemanticAutoencoder


@dataclasses.dataclass(frozen=True)
class PCABasis:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D), orthonormal rows (zero rows past the data's rank when N <= k)
    std: np.ndarray  # (k,) standard deviation of the data along each component (floored, see ``fit_pca``)
    explained: float  # fraction of the variance the k components hold


def fit_pca(samples: np.ndarray, k: int, floor: float = 1e-3) -> PCABasis:
    """PCA of (N, D) samples.  Components with almost no variance (e.g. past the 60 FLAME identity
    components in a 64-d code) keep ``floor`` times the first one's standard deviation, so whitening cannot
    blow their rounding noise up into the code."""
    x = np.asarray(samples, np.float64).reshape(len(samples), -1)
    if len(x) < 2:
        raise ValueError("PCA initialisation needs at least two samples")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    if len(s) < k:  # fewer samples than code entries: the missing components are zero (a code entry of 0)
        vt = np.concatenate([vt, np.zeros((k - len(s), vt.shape[1]))])
        s = np.concatenate([s, np.zeros(k - len(s))])
    std = s[:k] / np.sqrt(len(x) - 1)
    return PCABasis(mean, vt[:k], np.maximum(std, floor * std[0]), float((s[:k] ** 2).sum() / max((s ** 2).sum(), 1e-30)))


def set_encoder_projection(linear: torch.nn.Linear, basis: PCABasis) -> None:
    """code = (components @ (x - mean)) / std"""
    w = basis.components / basis.std[:, None]
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(w, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(-w @ basis.mean, dtype=linear.bias.dtype))


def set_decoder_basis(linear: torch.nn.Linear, basis: PCABasis) -> None:
    """x = mean + components.T @ (std * code)"""
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor((basis.components * basis.std[:, None]).T, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(basis.mean, dtype=linear.bias.dtype))


def pca_init(model: SemanticAutoencoder, expression_displacements: np.ndarray,
             identity_offsets: np.ndarray) -> tuple[PCABasis, PCABasis]:
    """Set the linear paths from (N, V, 3) expression displacements (mesh minus its neutral) and (M, V, 3)
    identity offsets (neutral minus template), both in metres; silence the spiral paths' outputs."""
    expression = fit_pca(np.asarray(expression_displacements) * SCALE, model.d_mesh.linear_in)
    identity = fit_pca(np.asarray(identity_offsets) * SCALE, model.e_id.linear_path.out_features)
    set_encoder_projection(model.e_id.linear_path, identity)
    set_decoder_basis(model.d_mesh.linear_path, expression)
    with torch.no_grad():
        model.e_id.fc.weight.zero_()
        model.e_id.fc.bias.zero_()
        model.d_mesh.convs[-1].linear.weight.zero_()
        model.d_mesh.convs[-1].linear.bias.zero_()
    return expression, identity


def linear_path_parameters(model: SemanticAutoencoder) -> list[torch.nn.Parameter]:
    return [p for m in (model.e_exp, model.e_id, model.d_mesh) if m.linear_path is not None
            for p in m.linear_path.parameters()]
