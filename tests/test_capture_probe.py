"""The landmark probe: shape features, the ridge map and its alpha choice, the held-out fraction."""
import numpy as np
import pytest

from models.capture.train.mesh_loss import FaceMetric
from models.capture.train.probe import fit_ridge, probe_points, shape_features


def _metric(rng) -> FaceMetric:
    return FaceMetric(rng.normal(0, 1e-3, (64, 30, 3)).astype(np.float32), np.full(30, 1 / 30, np.float32))


TEMPLATE = np.random.default_rng(9).uniform(20, 100, (478, 2))


def _faces(rng, n, mixing):
    """Codes, and 478 points that move linearly with them around one template face."""
    z = rng.normal(size=(n, 64)).astype(np.float32)
    return z, TEMPLATE + (z @ mixing).reshape(n, 478, 2)


def test_shape_features_ignore_where_the_face_is_and_its_size():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 128, (4, 478, 2))
    np.testing.assert_allclose(shape_features(p), shape_features(p * 0.7 + [5.0, -3.0]), atol=1e-9)
    f = shape_features(p).reshape(4, 478, 2)
    np.testing.assert_allclose(f.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose((f ** 2).sum(2).mean(1), 1)


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 20))
    w = rng.normal(size=(20, 3))
    ridge = fit_ridge(x, x @ w + 2.0, 1e-9)
    np.testing.assert_allclose(ridge.weights, w, atol=1e-6)
    np.testing.assert_allclose(ridge(x[:5]), x[:5] @ w + 2.0, atol=1e-6)


def test_points_that_carry_the_code_score_near_zero_and_noise_near_one():
    rng = np.random.default_rng(2)
    metric = _metric(rng)
    mixing = rng.normal(0, 0.3, (64, 956))
    z, points = _faces(rng, 1200, mixing)
    zh, held = _faces(np.random.default_rng(3), 100, mixing)  # other expressions
    yaw = np.linspace(0, 90, 100)
    median = np.median(z, 0)
    good = probe_points(metric, points, z, held, zh, yaw, median)
    assert good["all"] < 0.05 and set(good) >= {"yaw_0_20", "yaw_20_45", "yaw_45_up", "alpha"}
    unrelated = rng.uniform(20, 100, held.shape)
    bad = probe_points(metric, points, z, unrelated, zh, yaw, median)
    assert bad["all"] > 0.9
    lost = held.copy()
    lost[:10] = np.nan  # faces a detector missed are left out, not scored
    assert probe_points(metric, points, z, lost, zh, yaw, median)["heldout_rows"] == 90


@pytest.mark.parametrize("px, worse_than", [(0.0, None), (2.0, 0.05)])
def test_noise_in_the_points_costs_accuracy(px, worse_than):
    rng = np.random.default_rng(4)
    metric = _metric(rng)
    mixing = rng.normal(0, 0.3, (64, 956))
    z, points = _faces(rng, 1200, mixing)
    zh, held = _faces(np.random.default_rng(5), 100, mixing)
    noisy = lambda p: p + rng.normal(0, px, p.shape)  # noqa: E731
    got = probe_points(metric, noisy(points), z, noisy(held), zh, np.zeros(100), np.median(z, 0))["all"]
    assert (got < 0.05) if worse_than is None else (got > worse_than)
