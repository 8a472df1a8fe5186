"""The face-surface code loss: the code error seen through the semantic decoder, in mm."""
import numpy as np
import torch

from models.capture.train.losses import TorchFaceMetric
from models.capture.train.mesh_loss import FaceMetric, decoder_jacobian, face_metric, face_vertices
from models.metrics import multirex
from models.semantic.runtime import WEIGHTS_DIR, SemanticRuntime


class LinearDecoder:
    """A decoder whose displacement is z @ A on any identity."""

    def __init__(self, vertices=7):
        self.a = np.random.default_rng(0).normal(size=(64, vertices, 3)).astype(np.float32)

    def encode_identity(self, neutral):
        return np.zeros((len(neutral), 64), np.float32)

    def displacement(self, z_exp, z_id):
        return np.einsum("bk,kvc->bvc", z_exp, self.a)


def test_jacobian_of_a_linear_decoder_is_its_matrix():
    dec = LinearDecoder()
    jac = decoder_jacobian(dec, np.random.default_rng(1).normal(size=64), np.zeros((7, 3)))
    np.testing.assert_allclose(jac, dec.a, atol=2e-4)


def test_torch_term_equals_the_numpy_metric():
    rng = np.random.default_rng(2)
    metric = FaceMetric(rng.normal(0, 1e-3, (64, 9, 3)).astype(np.float32), rng.dirichlet(np.ones(9)).astype(np.float32))
    a, b = rng.normal(size=(2, 5, 64)).astype(np.float32)
    torch_mm = TorchFaceMetric(metric)(torch.as_tensor(a), torch.as_tensor(b))
    np.testing.assert_allclose(float(torch_mm), metric.error_mm(a, b).mean(), rtol=1e-5)
    assert metric.error_mm(a, a).max() == 0


def test_each_region_gets_an_equal_share(head_asset):
    ids, weights = face_vertices(head_asset.regions)
    assert len(np.unique(ids)) == len(ids) and abs(weights.sum() - 1) < 1e-5
    groups = list(multirex.regions_from_masks(head_asset.regions).values()) + [
        np.flatnonzero(head_asset.regions["eyes"])]
    share = {int(i): w for i, w in zip(ids, weights)}
    for g in groups:
        np.testing.assert_allclose(sum(share[int(i)] for i in g), 1 / len(groups), rtol=1e-5)


def test_linearised_error_matches_the_decoded_faces(head_asset):
    """On the shipped decoder, the metric is the mean distance of the decoded faces (it is linear in the code)."""
    from models.head import HeadModel
    from models.vocab.arkit import INDEX

    model = HeadModel(head_asset)
    rng = np.random.default_rng(3)
    identity = rng.normal(0, 1, (6, head_asset.n_identity)).astype(np.float32)
    weights = np.zeros((6, 52), np.float32)
    weights[:, INDEX["jawOpen"]] = rng.uniform(0, 1, 6)
    weights[:, INDEX["mouthSmileLeft"]] = rng.uniform(0, 1, 6)
    weights[:, INDEX["eyeBlinkRight"]] = rng.uniform(0, 1, 6)
    sem = SemanticRuntime(WEIGHTS_DIR)
    neutral = model.neutral(identity).astype(np.float32)
    z = sem.encode_expression(model.vertices(identity, weights).astype(np.float32), neutral)
    metric = face_metric(WEIGHTS_DIR, z, model, log=lambda *a: None)
    z_pred = np.roll(z, 1, axis=0)  # another sample's expression
    ids, vw = face_vertices(head_asset.regions)
    z_id = sem.encode_identity(neutral)
    exact = (np.linalg.norm(sem.decode(z_pred, z_id, neutral)[:, ids] - sem.decode(z, z_id, neutral)[:, ids],
                            axis=2) * vw).sum(1) * 1000
    linear = metric.error_mm(z_pred, z)
    assert exact.min() > 0.3  # the expressions differ by millimetres
    np.testing.assert_allclose(linear, exact, rtol=0.05, atol=0.03)
