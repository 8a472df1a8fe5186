"""SEREP's capture losses (weights of its supplementary) plus head-pose, gaze and face-surface terms."""
from __future__ import annotations

import dataclasses

import torch
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class LossWeights:
    code: float = 10.0
    lmks: float = 1.0
    domain: float = 0.005
    pose: float = 1.0  # squared Frobenius distance of rotation matrices (= 8 sin^2(angle / 2))
    gaze: float = 1.0  # L1 of yaw/pitch in radians
    mesh: float = 5.0  # the code error as mm of face surface (mesh_loss.py), when a FaceMetric is given
    dense: float = 20.0  # L1 of the 478 points in crop units, when the network has the dense head


def loss_weights(overrides: list[str]) -> LossWeights:
    """LossWeights with `TERM=W` overrides (the CLI's --loss-weight); a bad one is a one-line ValueError."""
    names = [f.name for f in dataclasses.fields(LossWeights)]
    values = {}
    for item in overrides:
        term, sep, value = item.partition("=")
        if not sep or term not in names:
            raise ValueError(f"--loss-weight {item!r}: expected TERM=W with TERM one of {', '.join(names)}")
        try:
            values[term] = float(value)
        except ValueError:
            raise ValueError(f"--loss-weight {item!r}: {value!r} is not a number") from None
        if not values[term] >= 0:
            raise ValueError(f"--loss-weight {item!r}: a weight must be 0 or more")
    return LossWeights(**values)


class TorchFaceMetric(torch.nn.Module):
    """mesh_loss.FaceMetric as tensors (buffers, so `.to(device)` moves them)."""

    def __init__(self, metric):
        super().__init__()
        k, v, _ = metric.jacobian.shape
        self.register_buffer("jacobian", torch.as_tensor(metric.jacobian).reshape(k, v * 3))
        self.register_buffer("weights", torch.as_tensor(metric.vertex_weights))

    def forward(self, z_pred, z_true):
        d = ((z_pred - z_true) @ self.jacobian).reshape(len(z_pred), -1, 3)
        return (d.pow(2).sum(2).add(1e-12).sqrt() * self.weights).sum(1).mean() * 1000.0


def capture_losses(out: dict, landmarks, n_synthetic: int, z_exp, rotation, gaze,
                   face: TorchFaceMetric | None = None, dense=None, dense_valid=None) -> dict[str, torch.Tensor]:
    """Unweighted terms. Synthetic rows come first; real rows add landmark and domain terms only (and dense ones:
    MediaPipe's 478 points are their pseudo-labels). The dense term counts the rows `dense_valid` marks."""
    s = n_synthetic
    terms = {"code": (out["z_exp"][:s] - z_exp).abs().mean(),
             "lmks": (out["landmarks"] - landmarks).abs().mean(),
             "pose": (out["rotation"][:s] - rotation).pow(2).sum((1, 2)).mean(),
             "gaze": (out["gaze"][:s] - gaze).abs().mean()}
    if face is not None:
        terms["mesh"] = face(out["z_exp"][:s], z_exp)
    if "dense" in out and dense is not None:
        valid = dense_valid.to(out["dense"])
        per_row = (out["dense"] - dense).abs().mean((1, 2))
        terms["dense"] = (per_row * valid).sum() / valid.sum().clamp(min=1.0)
    n = len(out["features"])
    if n > s:  # the domain classifier needs both domains; its GRL sends the reversed gradient into E_img
        logits = out["domain"]
        target = torch.cat([torch.zeros(s), torch.ones(n - s)]).to(logits)
        terms["domain"] = F.binary_cross_entropy_with_logits(logits, target)
    return terms


def total(terms: dict[str, torch.Tensor], w: LossWeights) -> torch.Tensor:
    return sum(getattr(w, k) * v for k, v in terms.items())
