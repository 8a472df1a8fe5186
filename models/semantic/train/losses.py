"""SEREP's training losses. All geometric terms are in centimetres (the networks' working units).

  rec    mean per-vertex Euclidean error of the reconstruction
  cycle  expression codes swapped between identities, decoded and re-encoded must come back
         (squared error divided by the codes' mean squared norm, so shrinking codes cannot game it)
  delta  mean Euclidean error of the delta (uniform-Laplacian) coordinates: local surface detail
  edge   mean squared error of edge lengths (cm^2)
  eyes   error of the upper-minus-lower lid vectors in millimetres, summed over the lid pairs of both
         eyes: the lids must open and close by the right amount (a few dozen vertices among 5023, so
         a mean would leave this term without weight, and a blink open by 2 mm would go unnoticed)
  eyes_cycle  the same eye term for the swapped decodes, where no target mesh exists: each lid pair of
         A's expression put on B must be open by the same fraction of B's neutral opening as it is of
         A's (a closed eye stays closed on every face, a half blink stays half). It needs no paired
         data, only A's mesh and both neutrals.
  space  (not in the paper) the swapped decodes must be expressions the target face can make: the
         distance of B's decoded displacement from the span of B's own transferred blendshapes, mean
         per vertex. It names no expression and pairs nothing, so training stays unpaired; it is what
         tells "A's displacement copied onto B" apart from B's version of it (README).
Default weights are the paper's: rec 1, cycle 1, delta 0.01, edge 10000, eyes 0.01 (both eye terms);
space is this project's addition.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from models.geometry import arc_length_param, edges_of
from models.semantic.train.networks import SCALE


@dataclasses.dataclass(frozen=True)
class LossWeights:
    rec: float = 1.0
    cycle: float = 1.0
    delta: float = 0.01
    edge: float = 10000.0
    eyes: float = 0.01
    eyes_cycle: float = 0.01
    space: float = 0.0  # not the paper's: TrainConfig.space_weight sets it


def lid_pairs(asset) -> np.ndarray:
    """(P, 2) (upper, lower) lid-margin vertex pairs of both eyes, matched by arc length, corners dropped."""
    pairs = []
    for margins in asset.eyelid_margins.values():
        up, lo = margins.upper, margins.lower
        tu, tl = arc_length_param(asset.template[up]), arc_length_param(asset.template[lo])
        for i in range(1, len(up) - 1):
            j = int(np.argmin(np.abs(tl[1:-1] - tu[i]))) + 1 if len(lo) > 2 else 0
            pairs.append((up[i], lo[j]))
    return np.array(pairs, np.int64).reshape(-1, 2)


class Losses(torch.nn.Module):
    def __init__(self, faces: np.ndarray, n_vertices: int, eye_pairs: np.ndarray,
                 weights: LossWeights = LossWeights()):
        super().__init__()
        e = torch.as_tensor(edges_of(np.asarray(faces)), dtype=torch.long)
        deg = torch.zeros(n_vertices).index_add_(0, e.reshape(-1), torch.ones(e.numel()))
        self.register_buffer("e0", e[:, 0].contiguous(), persistent=False)
        self.register_buffer("e1", e[:, 1].contiguous(), persistent=False)
        self.register_buffer("inv_deg", 1.0 / deg.clamp(min=1.0), persistent=False)
        self.register_buffer("eyes_pairs", torch.as_tensor(eye_pairs, dtype=torch.long).reshape(-1, 2),
                             persistent=False)
        self.weights = weights

    def delta_coordinates(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.zeros_like(x)
        s = s.index_add(1, self.e0, x[:, self.e1]).index_add(1, self.e1, x[:, self.e0])
        return x - s * self.inv_deg[None, :, None]

    def edge_lengths(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, self.e0] - x[:, self.e1]).norm(dim=-1)

    def geometric(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """rec, delta, edge, eyes between meshes given in metres."""
        p, t = pred * SCALE, target * SCALE
        out = {
            "rec": (p - t).norm(dim=-1).mean(),
            "delta": (self.delta_coordinates(p) - self.delta_coordinates(t)).norm(dim=-1).mean(),
            "edge": (self.edge_lengths(p) - self.edge_lengths(t)).pow(2).mean(),
        }
        if len(self.eyes_pairs):
            gap_err = self.lid_vectors(p) - self.lid_vectors(t)
            out["eyes"] = gap_err.norm(dim=-1).sum(1).mean() * 10.0  # cm -> mm
        else:
            out["eyes"] = p.new_zeros(())
        return out

    def lid_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, 3) upper minus lower vertex of each lid pair, in the units of x."""
        return x[:, self.eyes_pairs[:, 0]] - x[:, self.eyes_pairs[:, 1]]

    def lid_openings(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) distance between the upper and lower vertex of each lid pair, in cm (x in metres)."""
        return self.lid_vectors(x).norm(dim=-1) * SCALE

    def eyes_cycle(self, swapped: torch.Tensor, target_neutral: torch.Tensor, source: torch.Tensor,
                   source_neutral: torch.Tensor) -> torch.Tensor:
        if not len(self.eyes_pairs):
            return swapped.new_zeros(())
        fraction = self.lid_openings(source) / self.lid_openings(source_neutral).clamp(min=0.05)
        wanted = fraction.detach() * self.lid_openings(target_neutral)
        return (self.lid_openings(swapped) - wanted).abs().sum(1).mean() * 10.0  # cm -> mm

    @staticmethod
    def cycle(recovered: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        codes = codes.detach()
        return (recovered - codes).pow(2).sum(-1).mean() / (codes.pow(2).sum(-1).mean() + 1e-6)

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(getattr(self.weights, k) * v for k, v in terms.items())


class ExpressionSpace:
    """Each pool identity's expression space: the span of its transferred blendshapes (float32, held
    by reference, not copied), with the inverse Gram matrices that project onto it."""

    def __init__(self, shapes: np.ndarray):
        n, s = shapes.shape[:2]
        self.bases = torch.from_numpy(np.ascontiguousarray(shapes, np.float32).reshape(n, s, -1))
        blocks = (c.double() for c in self.bases.split(16))  # float64 16 identities at a time: memory
        grams = torch.cat([b @ b.transpose(1, 2) for b in blocks])
        self.inverse_grams = torch.linalg.pinv(grams).float()

    def residual(self, displacement: torch.Tensor, identity: np.ndarray) -> torch.Tensor:
        """(B, V, 3) part of each displacement (metres) that no blend of its identity's shapes reaches."""
        idx = torch.as_tensor(identity, dtype=torch.long)
        basis = self.bases[idx].to(displacement.device)
        inv = self.inverse_grams[idx].to(displacement.device)
        d = displacement.reshape(len(displacement), -1, 1)
        coefficients = inv @ (basis @ d)
        return (d - basis.transpose(1, 2) @ coefficients).reshape(displacement.shape)

    def distance(self, displacement: torch.Tensor, identity: np.ndarray) -> torch.Tensor:
        """Mean per-vertex distance from the expression space, in cm (displacement in metres)."""
        return (self.residual(displacement, identity) * SCALE).norm(dim=-1).mean()
