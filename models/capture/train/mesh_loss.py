"""A code loss in millimetres of face surface: the code error seen through the semantic decoder.

The raw code L1 treats the 64 dimensions alike, but they are not alike on the face: a ridge fit shows the jaw and
mouth shapes decide almost all of the MultiREX error, while the code's L1 is spread over gaze and lid dimensions
that barely move the surface. The shipped decoder is linear in the expression code to within 0.015 mm on held-out
codes and identities, so its Jacobian at the data's median code, on the template identity, turns a code error
into a per-vertex displacement exactly enough for a loss: `FaceMetric.error_mm` is the mean vertex distance over
the metric's regions (forehead and brows, nose, mouth, cheeks) plus the eyes (for blinks), each region weighted
equally as the MultiREX mean weights them. numpy here; the torch term lives in `losses.py`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from models.metrics import multirex

EXTRA_REGIONS = ("eyes",)  # not a MultiREX region, but blinks are read there


@dataclasses.dataclass(frozen=True)
class FaceMetric:
    jacobian: np.ndarray  # (64, V, 3) metres of displacement per code unit, at the face vertices below
    vertex_weights: np.ndarray  # (V,) summing to 1: each region weighted equally

    def error_mm(self, z_pred: np.ndarray, z_true: np.ndarray) -> np.ndarray:
        """(B,) weighted mean vertex distance in mm between the two codes' decoded faces (linearised)."""
        d = np.einsum("bk,kvc->bvc", np.asarray(z_pred) - np.asarray(z_true), self.jacobian)
        return (np.linalg.norm(d, axis=2) * self.vertex_weights).sum(1) * 1000.0


def face_vertices(region_masks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices of the MultiREX regions and the eyes, and weights giving each region an equal share."""
    groups = list(multirex.regions_from_masks(region_masks).values())
    groups += [np.flatnonzero(np.asarray(region_masks[r], bool)) for r in EXTRA_REGIONS if r in region_masks]
    ids = np.concatenate(groups)
    weights = np.concatenate([np.full(len(g), 1.0 / (len(g) * len(groups))) for g in groups])
    return ids, weights.astype(np.float32)


def decoder_jacobian(semantic, z_ref: np.ndarray, neutral: np.ndarray, step: float = 0.05) -> np.ndarray:
    """(64, V, 3) central differences of the decoder's displacement at `z_ref` on the identity of `neutral`."""
    z_ref = np.asarray(z_ref, np.float32)
    z_id = semantic.encode_identity(np.asarray(neutral, np.float32)[None])
    h = np.eye(len(z_ref), dtype=np.float32) * step
    d = semantic.displacement(np.concatenate([z_ref + h, z_ref - h]), z_id)
    return (d[:len(z_ref)] - d[len(z_ref):]) / (2 * step)


def face_metric(semantic_dir: Path, z_train: np.ndarray, model=None, log=print) -> FaceMetric:
    """The metric for a training set: the decoder's Jacobian at the set's median code, on the template identity."""
    from models.capture.train.targets import head_model
    from models.semantic.runtime import SemanticRuntime

    model = model or head_model(log)
    ids, weights = face_vertices(model.asset.regions)
    template = model.neutral(np.zeros((1, model.asset.n_identity), np.float32))[0]
    jac = decoder_jacobian(SemanticRuntime(semantic_dir), np.median(z_train, 0), template)
    return FaceMetric(jac[:, ids].astype(np.float32), weights)
