"""Identity-specific ARKit shapes: the fast form against the exact construction, blinks, caching, HeadModel."""
import numpy as np
import pytest

from models.head import HeadModel
from models.head import identity_shapes as ids
from semantic_helpers import make_test_asset


@pytest.fixture(scope="module")
def model(head_asset):
    return HeadModel(head_asset)


def _identities(asset, n, seed):
    return np.clip(np.random.default_rng(seed).normal(size=(n, asset.n_identity)), -2.5, 2.5)


def test_fast_shapes_match_the_exact_construction(head_asset, model):
    from models.head.build.identity_quality import random_identities
    from models.head.build.shapes_bench import BENCH_SEED

    exact = ids.exact_shapes(head_asset, model.identity_shapes.fold_repair)
    face = head_asset.regions["face"].astype(bool)
    # the first is shapes-bench's worst identity: the linearisation alone is 0.88 mm off under the chin in jawOpen
    betas = np.r_[random_identities(1, head_asset.n_identity, BENCH_SEED), _identities(head_asset, 1, 11)]
    for beta in betas:
        err = np.linalg.norm(model.shapes(beta) - exact(beta), axis=-1) * 1000
        assert err[:, face].mean() < 0.02 and err.max() < 0.3
        # and they are the identity's own shapes, not the template's
        assert np.linalg.norm(model.shapes(beta) - head_asset.blendshapes, axis=-1).max() > 0.5e-3


def test_vertices_and_combine_use_the_identity_shapes(head_asset, model):
    beta = _identities(head_asset, 1, 12)[0]
    shapes = model.shapes(beta)
    names = list(head_asset.shape_names)
    for name in ("jawOpen", "eyeBlinkLeft"):
        w = np.zeros(len(names))
        w[names.index(name)] = 1.0
        assert np.abs(model.vertices(beta, w)[0] - model.neutral(beta)[0] - shapes[names.index(name)]).max() < 1e-7
    w = np.random.default_rng(1).uniform(0, 1, len(names)) * (np.arange(len(names)) % 5 == 0)
    w[names.index("eyeBlinkRight")] = 0.7
    assert np.abs(model.shaped(beta, w)[0] - model.neutral(beta)[0] - np.einsum("s,svc->vc", w, shapes)).max() < 1e-7


def test_blinks_close_on_random_identities(head_asset, model):
    from models.head.build.identity_quality import identity_report

    report = identity_report(head_asset, model, n=4)
    assert report["identity_eyelid_gap_mm"] <= 0.5
    assert report["identity_lid_vertices_inside_eyeball"] == 0
    assert report["identity_flipped_triangles"] == 0  # the transfer alone folds about 20 triangles per identity


def test_lids_closed_on_the_eye_patch_equal_the_whole_head(head_asset):
    from models.geometry import fit_sphere
    from models.head import eyelids

    beta = _identities(head_asset, 1, 13)[0] * 1.5
    neutral = ids.neutral_of(head_asset, beta)
    blink = head_asset.blendshapes.astype(np.float64)
    patch = ids.BlinkCloser(head_asset)(neutral, blink)
    for side, eyeball in (("left", head_asset.eyeball_left), ("right", head_asset.eyeball_right)):
        k = head_asset.shape_names.index("eyeBlink" + side.capitalize())
        whole = eyelids.close_lids(neutral, blink[k], head_asset.skin_faces, head_asset.eyelid_margins[side],
                                   *fit_sphere(neutral[eyeball]))
        assert np.abs(patch[k] - whole).max() < 1e-12
        assert np.abs(patch[k] - blink[k]).max() > 1e-4  # the corrective did something


def test_derivatives_are_cached_and_a_damaged_cache_is_recomputed(tmp_path):
    asset = make_test_asset(n_identity=1)
    first = ids.load_identity_shapes(asset, tmp_path)
    files = list(tmp_path.glob("shape-derivatives-*.npz"))
    assert len(files) == 1
    beta = np.array([-2.0])
    # linear in the identity: exact on the template, close elsewhere
    exact = ids.exact_shapes(asset)
    linear = ids.IdentityShapes(asset, first.derivatives, repair_folds=False)  # the stand-in's random shapes fold
    assert np.abs(linear(np.zeros(1)) - exact(np.zeros(1))).max() < 1e-7
    assert np.abs(linear(beta) - exact(beta)).max() < 2e-4
    files[0].write_bytes(b"not an npz")
    again = ids.load_identity_shapes(asset, tmp_path)
    assert np.abs(again(beta) - first(beta)).max() < 1e-9
    with pytest.raises(ValueError, match="identity needs 1"):
        again(np.zeros(3))


def test_patches_are_the_exact_transfer_given_exact_values_around_them():
    """A patch re-solved from the exact transfer on its ring is the exact transfer inside, whatever was there."""
    from models.head.transfer import DeformationTransfer
    from models.head.transfer_patches import PatchSolver

    asset = make_test_asset(n_identity=2)
    transfer = DeformationTransfer(asset.template, asset.blendshapes, asset.faces)
    neutral = ids.neutral_of(asset, np.array([2.0, -1.5]))
    exact = transfer(neutral).astype(np.float64)
    interior = np.zeros((len(exact), asset.n_vertices), bool)
    rng = np.random.default_rng(3)
    for s in (0, 4, 9):  # a blob of skin vertices each
        centre = asset.template[rng.integers(0, 3931)]
        interior[s, :3931] = np.linalg.norm(asset.template[:3931] - centre, axis=1) < 0.02
    solver = PatchSolver(transfer, interior, asset.n_vertices)
    shapes = exact + interior[:, :, None] * rng.normal(0, 1e-3, exact.shape)
    solved = solver(neutral, shapes.copy())
    assert np.abs(solved - exact).max() < 1e-9
    # a subset of the shapes, in another order
    which = [9, 1, 4]
    part = solver(neutral, shapes[which].copy(), which)
    assert np.abs(part - exact[which]).max() < 1e-9


def test_fold_repair_unfolds_where_it_looks_and_nowhere_else(head_asset):
    from models.geometry import adjacency
    from models.head.build.shapes import folded_triangles, triangle_neighbours
    from models.head.fold_repair import FoldRepair

    faces = head_asset.skin_faces
    template = head_asset.template.astype(np.float64)
    pairs = triangle_neighbours(faces)
    nose = int(np.argmax(np.where(np.arange(len(template)) < 3931, template[:, 2], -1)))
    shape = np.zeros((2, len(template), 3))
    beyond = int(adjacency(faces, len(template))[nose].indices[0])
    shape[:, nose] = 1.6 * (template[beyond] - template[nose])  # past a neighbour: triangles turn over
    folded = folded_triangles(template, template + shape[0], faces, pairs)
    assert len(folded)
    candidates = np.zeros((2, len(faces)), bool)
    candidates[0, folded] = True  # looked for in shape 0 only
    repaired = FoldRepair(faces, candidates, template)(template, shape.copy())
    assert len(folded_triangles(template, template + repaired[0], faces, pairs)) == 0
    assert np.abs(repaired[1] - shape[1]).max() == 0  # not looked for there
    moved = np.linalg.norm(repaired[0] - shape[0], axis=1) > 0
    assert moved[nose] and moved.sum() < 30  # only around the fold


def test_fold_detection_finds_exactly_the_folded_places_it_looks_at(head_asset, model):
    """The indexed detection (all shapes at once, or some in another order) finds what the check's own measure,
    taken over every triangle, finds among the candidates and the identity's risky triangles."""
    from models.head.fold_repair import facing

    fast = model.identity_shapes
    repair = fast.fold_repair
    faces = head_asset.skin_faces
    candidates = fast.derivatives.fold_candidates
    total = 0
    for beta in _identities(head_asset, 2, 14) * 1.3:
        neutral = ids.neutral_of(head_asset, beta)
        shapes = fast.closer.close_in_place(neutral, fast.patch_solver(neutral, fast.derivatives.shapes(beta)))
        rest_ok = facing(neutral, faces, repair.neighbours) >= 0
        turned = (facing(neutral + shapes, faces, repair.neighbours) < 0) & rest_ok
        looked = candidates.copy()
        looked[:, repair.risky(neutral)] = True
        expected = {s: np.flatnonzero(turned[s] & looked[s]) for s in range(len(shapes)) if (turned[s] & looked[s]).any()}
        found = repair.folded(neutral, shapes, range(len(shapes)))
        assert found.keys() == expected.keys()
        assert all(np.array_equal(found[s], expected[s]) for s in expected)
        which = sorted(expected)[::-1] + [s for s in range(len(shapes)) if s not in expected][:2]  # another order
        some = repair.folded(neutral, shapes[which], which)
        assert some.keys() == {s for s in which if s in expected}
        assert all(np.array_equal(some[s], expected[s]) for s in some)
        total += sum(len(t) for t in expected.values())
    assert total > 10  # the transfer alone folds about 20 triangles per identity


def test_fold_repair_of_several_shapes_at_once_equals_each_alone(head_asset):
    """The folded shapes are repaired in one stacked system: each one's result is what it gets alone."""
    from models.geometry import adjacency
    from models.head.build.shapes import folded_triangles, triangle_neighbours
    from models.head.fold_repair import FoldRepair

    faces = head_asset.skin_faces
    template = head_asset.template.astype(np.float64)
    pairs = triangle_neighbours(faces)
    adj = adjacency(faces, len(template))
    skin = np.unique(faces)
    shape = np.zeros((3, len(template), 3))
    for s, v in ((0, int(skin[100])), (2, int(skin[2000])), (2, int(skin[3000]))):
        shape[s, v] = 1.6 * (template[adj[v].indices[0]] - template[v])
    candidates = np.zeros((3, len(faces)), bool)
    for s in (0, 2):
        candidates[s, folded_triangles(template, template + shape[s], faces, pairs)] = True
    assert candidates[0].any() and candidates[2].any()
    repair = FoldRepair(faces, candidates, template, stiff_vertices=skin[:50])
    together = repair(template, shape.copy())
    for s in (0, 2):
        alone = repair(template, shape[[s]].copy(), [s])[0]
        assert np.abs(together[s] - alone).max() < 1e-15
        assert len(folded_triangles(template, template + together[s], faces, pairs)) == 0
    assert np.abs(together[1]).max() == 0


def test_blas_threads_are_limited_in_the_block_and_restored():
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS)

    from models.blas_threads import BlasThreads

    blas = BlasThreads()
    before = [get() for get, _ in blas.libraries]
    with blas.limit(1):
        assert all(get() == 1 for get, _ in blas.libraries)
    assert [get() for get, _ in blas.libraries] == before
