"""Training data: identity pool, unpaired sampling, losses on hand-made meshes."""
import numpy as np
import pytest
import torch

from models.semantic import data as D
from models.vocab import arkit
from models.semantic.train.losses import Losses, lid_pairs
from semantic_helpers import make_test_asset


@pytest.fixture(scope="module")
def asset():
    return make_test_asset()


@pytest.fixture(scope="module")
def pool(asset, tmp_path_factory):
    return D.load_pool(asset, 3, 7, tmp_path_factory.mktemp("cache"))


def test_pool_is_cached_and_identity_dependent(asset, tmp_path):
    p1 = D.load_pool(asset, 2, 7, tmp_path)
    assert len(list(tmp_path.glob("identities-*.npz"))) == 1
    p2 = D.load_pool(asset, 2, 7, tmp_path)
    np.testing.assert_array_equal(p1.shapes, p2.shapes)
    assert p1.shapes.shape == (2, *asset.blendshapes.shape)
    np.testing.assert_allclose(p1.neutrals, D.neutrals_of(asset, p1.betas), atol=1e-6)
    # the same shape differs between identities (deformation transfer, not a copy)
    moving = np.linalg.norm(asset.blendshapes, axis=-1) > 1e-3
    diff = np.linalg.norm(p1.shapes[0] - p1.shapes[1], axis=-1)[moving]
    assert diff.max() > 1e-5
    assert diff.mean() < 0.3 * np.linalg.norm(asset.blendshapes, axis=-1)[moving].mean()


def test_blinks_close_on_every_identity(asset, pool):
    from models.head.eyelids import eyelid_gap_mm
    from models.semantic.evaluate import blink_weights

    cols = arkit.columns(asset.shape_names)
    for i in range(len(pool)):
        closed = D.pose(pool, np.array([i]), blink_weights(), cols)[0]
        assert eyelid_gap_mm(asset, closed) < 1.0
        assert eyelid_gap_mm(asset, pool.neutrals[i]) > 5.0


def test_stream_never_repeats_an_expression(asset, pool):
    stream = D.TrainingStream(pool, asset.shape_names, D.default_sampler(), seed=0)
    batches = [stream.next(8) for _ in range(4)]
    w = np.concatenate([b.weights for b in batches])
    assert len(np.unique(w.round(6), axis=0)) == len(w)
    b = batches[0]
    cols = arkit.columns(asset.shape_names)
    np.testing.assert_allclose(b.meshes, D.pose(pool, b.identity, b.weights, cols), atol=1e-6)
    assert b.meshes.shape == (8, asset.n_vertices, 3)


def test_arkit_columns_reject_unknown_names():
    with pytest.raises(ValueError, match="not ARKit names"):
        arkit.columns(("smile",))


def test_losses_on_hand_made_meshes(asset):
    losses = Losses(asset.faces, asset.n_vertices, lid_pairs(asset))
    x = torch.as_tensor(asset.template)[None]
    zero = losses.geometric(x, x)
    assert all(float(v) == 0 for v in zero.values())
    shifted = losses.geometric(x + torch.tensor([0.001, 0.0, 0.0]), x)  # 1 mm translation
    assert abs(float(shifted["rec"]) - 0.1) < 1e-5  # centimetres
    assert float(shifted["edge"]) < 1e-10 and float(shifted["delta"]) < 1e-5 and float(shifted["eyes"]) < 1e-3  # float32 noise
    scaled = losses.geometric(x * 1.01, x)
    assert float(scaled["edge"]) > 0
    # eyes: opening only the lids changes the lid term
    lids = torch.zeros_like(x)
    lids[0, losses.eyes_pairs[:, 0], 1] = 0.001
    assert float(losses.geometric(x + lids, x)["eyes"]) > 0
    codes = torch.randn(4, 64)
    assert float(Losses.cycle(codes, codes)) == 0
    assert abs(float(Losses.cycle(codes * 0.0, codes)) - 1.0) < 1e-4


def test_swapped_eye_term_keeps_the_fraction_of_opening(asset):
    """A closed eye put on another face must be closed there; an open one open by that face's own amount."""
    losses = Losses(asset.faces, asset.n_vertices, lid_pairs(asset))
    u, lo = losses.eyes_pairs[:, 0], losses.eyes_pairs[:, 1]
    a_neutral = torch.as_tensor(asset.template)[None]
    b_neutral = a_neutral.clone()
    b_neutral[0, u, 1] += 0.001  # B's eyes open 1 mm wider than A's
    a_closed, b_closed = a_neutral.clone(), b_neutral.clone()
    a_closed[0, u] = a_neutral[0, lo]
    b_closed[0, u] = b_neutral[0, lo]
    assert float(losses.eyes_cycle(b_closed, b_neutral, a_closed, a_neutral)) < 1e-3
    assert float(losses.eyes_cycle(b_neutral, b_neutral, a_closed, a_neutral)) > 1.0  # left open: mm summed
    assert float(losses.eyes_cycle(b_neutral, b_neutral, a_neutral, a_neutral)) < 1e-3
    # copying A's opening onto B is wrong by B's extra millimetre at each pair
    assert float(losses.eyes_cycle(a_neutral, b_neutral, a_neutral, a_neutral)) > 1.0


def test_expression_space_tells_b_own_expression_from_a_copied_one(asset, pool):
    """B wearing weights lies in B's expression space; A's displacement with the same weights does not."""
    from models.semantic.train.losses import ExpressionSpace

    space = ExpressionSpace(pool.shapes)
    cols = arkit.columns(asset.shape_names)
    w = D.default_sampler()(np.random.default_rng(3), 4)
    a, b = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 0])
    on_b = torch.as_tensor(D.pose(pool, b, w, cols) - pool.neutrals[b])
    copied = torch.as_tensor(D.pose(pool, a, w, cols) - pool.neutrals[a])
    assert float(space.distance(on_b, b)) < 1e-5  # cm
    assert float(space.distance(copied, b)) > 100 * float(space.distance(on_b, b)) + 1e-6
    # the residual is what a least-squares fit of B's shapes leaves
    basis = pool.shapes[b[0]].reshape(len(asset.shape_names), -1).T.astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, copied[0].numpy().reshape(-1).astype(np.float64), rcond=None)
    expected = copied[0].numpy().reshape(-1) - basis @ coef
    got = space.residual(copied[:1], b[:1]).numpy().reshape(-1)
    assert np.linalg.norm(got - expected) < 1e-2 * np.linalg.norm(expected)  # float32 against float64
