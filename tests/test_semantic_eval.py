"""Each eval metric on hand-made retargeting methods whose scores are known."""
import numpy as np
import pytest

from models.head.eyelids import eyelid_gap_mm
from models.semantic import data as D
from models.semantic.evaluate import blink_weights, copy_displacement, evaluate, make_heldout
from semantic_helpers import make_test_asset


@pytest.fixture(scope="module")
def asset():
    return make_test_asset()


@pytest.fixture(scope="module")
def held(asset, tmp_path_factory):
    return make_heldout(asset, tmp_path_factory.mktemp("cache"), n_identities=3, n_expressions=10)


@pytest.fixture(scope="module")
def gap(asset):
    return lambda v: eyelid_gap_mm(asset, v)


def _poses(held):
    p, c = held.pool, held.columns
    return (D.pose(p, held.a, held.weights, c), D.pose(p, held.a2, held.weights, c),
            D.pose(p, held.b, held.weights, c))


def _face_mm(x, y, face):
    return np.linalg.norm((x - y)[:, face], axis=-1).mean() * 1000


def test_heldout_pairs_are_distinct_identities(held):
    assert (held.a != held.b).all() and (held.a2 != held.a).all() and (held.a2 != held.b).all()


def test_oracle_scores_zero(held, gap):
    """A method that knows the answer: it looks the source expression up in the held-out set."""
    p, c = held.pool, held.columns

    def oracle(mesh, src, dst):
        out = []
        for m, s, d in zip(mesh, src, dst):
            i = int(np.argmin(np.abs(p.neutrals - s).sum((1, 2))))
            j = int(np.argmin(np.abs(p.neutrals - d).sum((1, 2))))
            disp = (m - p.neutrals[i])[None]
            basis = p.shapes[i][:, held.face].reshape(len(c), -1)
            w, *_ = np.linalg.lstsq(basis.T, disp[:, held.face].reshape(-1), rcond=None)
            full = np.zeros((1, 52), np.float32)
            full[0, c] = w
            out.append(D.pose(p, np.array([j]), full, c)[0])
        return np.stack(out)

    measured = []
    scores = evaluate(oracle, held, lambda v: measured.append(v) or gap(v))
    assert scores["recon_mm"] < 1e-3 and scores["retarget_mm"] < 1e-3 and scores["identity_leakage_mm"] < 1e-3
    # the blink of each identity is measured on the next one (B), not on its own face (A)
    closed = D.pose(p, np.arange(3), np.repeat(blink_weights(), 3, 0), c)
    np.testing.assert_allclose(np.stack(measured), np.roll(closed, 1, 0), atol=1e-6)
    assert not np.allclose(np.stack(measured), closed, atol=1e-4)
    assert scores["blink_gap_mm"] == pytest.approx(np.mean([gap(v) for v in closed]), rel=1e-4)


def test_copy_baseline_metrics(held, gap):
    mesh_a, mesh_a2, mesh_b = _poses(held)
    p = held.pool
    scores = evaluate(copy_displacement, held, gap)
    assert scores["recon_mm"] == pytest.approx(0.0, abs=1e-6)
    on_b = p.neutrals[held.b] + mesh_a - p.neutrals[held.a]
    on_b2 = p.neutrals[held.b] + mesh_a2 - p.neutrals[held.a2]
    assert scores["retarget_mm"] == pytest.approx(_face_mm(on_b, mesh_b, held.face), rel=1e-4)
    assert scores["identity_leakage_mm"] == pytest.approx(_face_mm(on_b, on_b2, held.face), rel=1e-4)
    assert scores["retarget_mm"] > 0 and scores["identity_leakage_mm"] > 0


def test_constant_offset_and_do_nothing_methods(held, gap):
    mesh_a, _, mesh_b = _poses(held)
    p = held.pool
    offset = lambda m, s, d: copy_displacement(m, s, d) + np.array([0.001, 0, 0], np.float32)  # noqa: E731
    scores = evaluate(offset, held, gap)
    assert scores["recon_mm"] == pytest.approx(1.0, abs=1e-4)  # exactly 1 mm everywhere
    base = evaluate(copy_displacement, held, gap)
    assert scores["identity_leakage_mm"] == pytest.approx(base["identity_leakage_mm"], abs=1e-4)

    neutral = lambda m, s, d: np.array(d, copy=True)  # noqa: E731 - ignores the expression entirely
    scores = evaluate(neutral, held, gap)
    assert scores["identity_leakage_mm"] == 0.0
    assert scores["retarget_mm"] == pytest.approx(_face_mm(p.neutrals[held.b], mesh_b, held.face), rel=1e-4)
    assert scores["recon_mm"] == pytest.approx(_face_mm(p.neutrals[held.a], mesh_a, held.face), rel=1e-4)
    # the eyes stay open: the gap is the open-eye height
    assert scores["blink_gap_mm"] == pytest.approx(np.mean([gap(v) for v in np.roll(p.neutrals, 1, 0)]), rel=1e-6)
    assert scores["blink_gap_mm"] > 5.0


def test_shipped_weights_meet_the_targets(head_asset, tmp_path):
    """The ONNX files in models/weights/, on the full held-out set of the real head asset."""
    from models.semantic.evaluate import TARGETS, report
    from models.semantic.runtime import SemanticRuntime

    runtime = SemanticRuntime()
    # not the asset's digest: its bytes can differ between CPUs (the same pins and inputs built another digest on an
    # AVX-512 machine), so the topology is checked here and the shapes by the targets below
    assert runtime.meta["n_vertices"] == len(head_asset.template), "re-export after rebuilding the head asset"
    scores = report(head_asset, runtime.retarget, tmp_path)
    for key, target in TARGETS.items():
        assert scores[key] <= target, scores
    assert scores["retarget_mm"] < scores["baseline"]["retarget_mm"], scores
    assert scores["targets_met"]
