"""SEREP's capture losses (weights of its supplementary) plus head-pose and gaze terms."""
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


def capture_losses(out: dict, landmarks, n_synthetic: int, z_exp, rotation, gaze) -> dict[str, torch.Tensor]:
    """Unweighted terms. Synthetic rows come first; real rows add landmark and domain terms only."""
    s = n_synthetic
    terms = {"code": (out["z_exp"][:s] - z_exp).abs().mean(),
             "lmks": (out["landmarks"] - landmarks).abs().mean(),
             "pose": (out["rotation"][:s] - rotation).pow(2).sum((1, 2)).mean(),
             "gaze": (out["gaze"][:s] - gaze).abs().mean()}
    n = len(out["features"])
    if n > s:  # the domain classifier needs both domains; its GRL sends the reversed gradient into E_img
        logits = out["domain"]
        target = torch.cat([torch.zeros(s), torch.ones(n - s)]).to(logits)
        terms["domain"] = F.binary_cross_entropy_with_logits(logits, target)
    return terms


def total(terms: dict[str, torch.Tensor], w: LossWeights) -> torch.Tensor:
    return sum(getattr(w, k) * v for k, v in terms.items())
