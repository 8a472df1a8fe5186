"""Gradient-domain deformation transfer."""
import numpy as np
import pytest

from models.head.transfer import DeformationTransfer, gradient_operator
from semantic_helpers import SHARED


@pytest.fixture(scope="module")
def setup():
    d = np.load(SHARED / "flame2023_open_subset.npz")
    v, f = d["v_template"].astype(np.float64), d["faces"]
    rng = np.random.default_rng(0)
    disp = np.zeros((3, len(v), 3))
    for s in range(3):
        c = v[rng.integers(0, 3931)]
        w = np.exp(-((v - c) ** 2).sum(1) / (2 * 0.02 ** 2))
        w[3931:] = 0
        disp[s] = w[:, None] * rng.normal(0, 0.005, 3)
    return v, f, disp, d["shapedirs"]


def test_gradient_operator_reproduces_linear_functions(setup):
    v, f, _, _ = setup
    g, area, unit = gradient_operator(v, f)
    grad = (g @ (v @ np.array([1.0, 2.0, 3.0]))).reshape(-1, 3)
    expect = np.array([1.0, 2.0, 3.0]) - (unit @ np.array([1.0, 2.0, 3.0]))[:, None] * unit  # tangent part
    np.testing.assert_allclose(grad, expect, atol=1e-6)
    assert (area > 0).all()


def test_transfer_onto_the_source_is_the_identity(setup):
    v, f, disp, _ = setup
    out = DeformationTransfer(v, disp, f)(v)
    assert np.abs(out - disp).max() < 1e-6


def test_transfer_follows_the_target_shape(setup):
    v, f, disp, shapedirs = setup
    t = DeformationTransfer(v, disp, f)
    # translating the target changes nothing; scaling it up scales the expression with it
    np.testing.assert_allclose(t(v + np.array([0.1, -0.2, 0.3])), disp, atol=1e-6)
    ratio = np.linalg.norm(t(v * 1.1), axis=-1).sum() / np.linalg.norm(disp, axis=-1).sum()
    assert 1.05 < ratio < 1.15
    # on another identity it differs from a copy, but only by a fraction of its size
    other = t(v + shapedirs @ np.r_[2.0, -2.0, np.zeros(58)])
    diff = np.linalg.norm(other - disp, axis=-1).max(1)
    assert (diff > 1e-5).all() and (diff < 0.5 * np.linalg.norm(disp, axis=-1).max(1)).all()


def test_transfer_rejects_mismatched_shapes(setup):
    v, f, disp, _ = setup
    with pytest.raises(ValueError, match="displacements"):
        DeformationTransfer(v, disp[:, :100], f)
