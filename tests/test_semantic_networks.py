"""Forward shapes of E_exp, E_id, D_mesh; a few training steps lower the loss; checkpoints and resume."""
import dataclasses

import numpy as np
import pytest
import torch

from models.semantic import data as D
from models.semantic.train.losses import ExpressionSpace, LossWeights, Losses, lid_pairs
from models.semantic.train.networks import SCALE, SpiralConv
from models.semantic.train.pca_init import fit_pca, pca_init, set_decoder_basis, set_encoder_projection
from models.semantic.presets import TrainConfig
from models.semantic.train.train import build_model, load_trained, partner_indices, train, train_step
from semantic_helpers import make_test_asset


@pytest.fixture(scope="module")
def asset():
    return make_test_asset()


@pytest.fixture(scope="module")
def model(asset, tmp_path_factory):
    torch.manual_seed(0)
    return build_model(asset, tmp_path_factory.mktemp("cache"))


def test_spiral_conv_matches_its_definition():
    torch.manual_seed(0)
    spirals = torch.randint(0, 40, (40, 9))
    x = torch.randn(3, 40, 8)
    for out in (16, 3):  # gather-then-project and project-then-gather paths
        conv = SpiralConv(8, out, spirals)
        expected = conv.linear(x[:, spirals.reshape(-1)].reshape(3, 40, 72))
        torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)


def test_forward_shapes(model, asset):
    b, v = 3, asset.n_vertices
    mesh = torch.as_tensor(asset.template)[None].repeat(b, 1, 1)
    z_exp = model.encode_expression(mesh + 0.001, mesh)
    z_id = model.encode_identity(mesh)
    assert z_exp.shape == (b, 64) and z_id.shape == (b, 64)
    assert model.displacement(z_exp, z_id).shape == (b, v, 3)
    assert model.decode(z_exp, z_id, mesh).shape == (b, v, 3)
    # Table 1 layer widths
    assert [c.out_ch for c in model.e_exp.convs] == [32, 32, 32, 64, 64]
    assert [c.out_ch for c in model.d_mesh.convs] == [64, 32, 32, 32, 3]
    assert model.d_mesh.fc.in_features == 128
    assert model.d_mesh.fc.out_features == model.d_mesh.coarse[0] * 64


def test_untrained_decoder_starts_at_the_neutral(model, asset):
    z = torch.randn(2, 64)
    with torch.no_grad():
        assert float(model.displacement(z, z).abs().max()) == 0.0


def test_pca_paths_whiten_and_reconstruct():
    rng = np.random.default_rng(0)
    rows = np.linalg.qr(rng.standard_normal((30, 5)))[0].T  # 5 orthonormal directions in 30-d
    x = (rng.standard_normal((400, 5)) * [5.0, 3.0, 2.0, 1.0, 0.5]) @ rows + 1.0
    basis = fit_pca(x, 8)  # more code entries than the data's rank
    assert basis.components.shape == (8, 30) and basis.explained == pytest.approx(1.0)
    assert np.all(basis.std[5:] == pytest.approx(1e-3 * basis.std[0]))  # floored, not ~0
    enc, dec = torch.nn.Linear(30, 8).double(), torch.nn.Linear(8, 30).double()
    set_encoder_projection(enc, basis)
    set_decoder_basis(dec, basis)
    with torch.no_grad():
        code = enc(torch.as_tensor(x))
        np.testing.assert_allclose(dec(code).numpy(), x, atol=1e-9)
    np.testing.assert_allclose(code[:, :5].std(0).numpy(), 1.0, rtol=1e-6)  # whitened
    assert float(code[:, 5:].abs().max()) < 1e-6  # no variance there: no code either

    few = fit_pca(x[:3], 8)  # fewer samples than code entries: zero rows past the data's rank
    assert np.all(few.components[3:] == 0) and np.all(np.isfinite(few.std))
    with pytest.raises(ValueError, match="at least two"):
        fit_pca(x[:1], 8)


def test_pca_init_sets_the_linear_paths(asset, tmp_path):
    torch.manual_seed(0)
    model = build_model(asset, tmp_path, linear_paths=True)
    pool = D.load_pool(asset, 3, 0, tmp_path)
    sample = D.TrainingStream(pool, asset.shape_names, D.default_sampler(), seed=1).next(40)
    expression, identity = pca_init(model, sample.meshes - sample.neutrals, pool.neutrals - asset.template)
    z = torch.randn(2, 64)
    with torch.no_grad():
        # the decoder's spiral path is silent: the displacement is the PCA basis times the code
        expected = expression.mean + (z.numpy().astype(np.float64) * expression.std) @ expression.components
        np.testing.assert_allclose(model.d_mesh(torch.cat([z, torch.randn(2, 64)], 1)).numpy().reshape(2, -1),
                                   expected, atol=1e-4)
        # E_id's spiral path is silent: the identity code is the whitened projection of the offset
        got = model.encode_identity(torch.as_tensor(pool.neutrals)).numpy()
    offsets = (pool.neutrals - asset.template).reshape(len(pool.neutrals), -1) * SCALE
    want = (offsets - identity.mean) @ identity.components.T
    np.testing.assert_allclose(got, want / identity.std, atol=1e-3)
    assert model.e_exp.linear_path is None  # E_exp stays purely spiral (pca_init.py says why)


def test_partners_have_other_identities():
    perm, valid = partner_indices(np.array([0, 0, 1, 2]))
    assert list(perm) == [1, 2, 3, 0]
    assert list(valid) == [False, True, True, True]


def test_a_few_training_steps_lower_the_loss(asset, tmp_path):
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CI shares 2 cores; one thread is faster there
    model = build_model(asset, tmp_path)
    losses = Losses(asset.faces, asset.n_vertices, lid_pairs(asset), LossWeights(space=10.0))
    pool = D.load_pool(asset, 3, 0, tmp_path)
    space = ExpressionSpace(pool.shapes)
    stream = D.TrainingStream(pool, asset.shape_names, D.default_sampler(), seed=0)
    batch = stream.next(4)
    config = TrainConfig(batch=4, cycle_batch=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(12):
        terms = train_step(model, losses, batch, config, "cpu", space)
        loss = losses.total(terms)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        assert set(terms) == {"rec", "delta", "edge", "eyes", "cycle", "eyes_cycle", "space"}
    torch.set_num_threads(threads)
    assert history[-1] < 0.7 * history[0], history
    assert float(terms["space"].detach()) > 0


def test_train_checkpoints_and_resumes(asset, tmp_path):
    config = TrainConfig(batch=4, cycle_batch=4, steps=4, warmup_steps=1, pool=2, val_every=2, val_identities=2,
                         val_samples=4, linear_paths=True, pca_samples=16, threads=1)
    run = train(asset, config, tmp_path, run_dir=tmp_path / "run", log=lambda line: None, show_progress=False)
    ck = torch.load(run / "last.pt", weights_only=False)
    assert ck["step"] == 4 and [h["step"] for h in ck["history"]] == [2, 4]
    assert (run / "best.pt").is_file() and not list(run.glob("*.tmp"))
    trained = load_trained(asset, run / "last.pt", tmp_path)
    assert trained.d_mesh.linear_path is not None
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(value, ck["model"][key])

    # a longer schedule on the same run directory goes on from step 4: only steps 5 and 6 are trained
    more = []
    train(asset, dataclasses.replace(config, steps=6), tmp_path, run_dir=run, log=more.append, show_progress=False)
    assert any("resuming" in line and "step 4" in line for line in more)
    assert [line.split()[1] for line in more if line.startswith("step ")] == ["6"]
    resumed = torch.load(run / "last.pt", weights_only=False)
    assert resumed["step"] == 6 and [h["step"] for h in resumed["history"]] == [2, 4, 6]


def test_load_trained_reads_models_without_linear_paths(asset, tmp_path):
    torch.manual_seed(0)
    plain = build_model(asset, tmp_path, linear_paths=False)
    assert plain.e_id.linear_path is None and plain.d_mesh.linear_path is None
    torch.save({"model": plain.state_dict(), "template": asset.template, "faces": asset.faces}, tmp_path / "plain.pt")
    loaded = load_trained(asset, tmp_path / "plain.pt", tmp_path)
    assert loaded.d_mesh.linear_path is None
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, plain.state_dict()[key])


def test_load_trained_rejects_another_topology(asset, tmp_path):
    ck = {"model": {}, "template": np.zeros((10, 3), np.float32), "faces": np.zeros((1, 3), np.int64)}
    torch.save(ck, tmp_path / "other.pt")
    with pytest.raises(RuntimeError, match="another mesh topology"):
        load_trained(asset, tmp_path / "other.pt", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m models.semantic train"):
        load_trained(asset, tmp_path / "missing.pt", tmp_path)
