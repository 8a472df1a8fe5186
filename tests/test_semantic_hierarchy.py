"""Spiral indices and sampling matrices on the real FLAME topology."""
import numpy as np
import pytest

from models.geometry import adjacency, components
from models.semantic.train.hierarchy import build_hierarchy, load_hierarchy
from models.semantic.train.spiral import spiral_indices
from semantic_helpers import SHARED


@pytest.fixture(scope="module")
def flame():
    d = np.load(SHARED / "flame2023_open_subset.npz")
    return d["v_template"], d["faces"]


@pytest.fixture(scope="module")
def hierarchy(flame, tmp_path_factory):
    return load_hierarchy(*flame, cache_dir=tmp_path_factory.mktemp("cache"))


def test_spirals_start_at_the_vertex_then_walk_its_rings(flame):
    v, f = flame
    s = spiral_indices(v, f, 9)
    adj = adjacency(f, len(v))
    assert s.shape == (len(v), 9) and s.dtype == np.int64
    assert (s[:, 0] == np.arange(len(v))).all()
    assert s.min() >= 0 and s.max() < len(v)
    for i in np.random.default_rng(0).choice(len(v), 300, replace=False):
        ring1 = set(adj.indices[adj.indptr[i]:adj.indptr[i + 1]])
        n1 = min(len(ring1), 8)
        assert set(s[i, 1:1 + n1]) <= ring1  # the first ring comes first
        assert len(set(s[i])) == 9  # no repeats on a full-size neighbourhood


def test_spirals_reject_bad_input(flame):
    v, f = flame
    with pytest.raises(ValueError, match="faces index vertices"):
        spiral_indices(v[:100], f)
    with pytest.raises(ValueError, match="vertices must be"):
        spiral_indices(v[:, :2], f)


def test_four_downsamplings_of_about_four(hierarchy, flame):
    sizes = hierarchy.sizes
    assert len(sizes) == 5 and sizes[0] == 5023
    for a, b in zip(sizes, sizes[1:]):
        assert 3.0 < a / b < 5.5
    # head and both eyeballs survive down to the coarsest level
    for level in range(5):
        n = len(np.unique(components(hierarchy.faces[level], sizes[level])))
        assert n == 3


def test_sampling_matrices_are_valid(hierarchy):
    for l in range(4):
        fine, coarse = hierarchy.sizes[l], hierarchy.sizes[l + 1]
        down = hierarchy.down[l]
        assert down.shape == (coarse,) and len(np.unique(down)) == coarse
        assert down.min() >= 0 and down.max() < fine
        np.testing.assert_allclose(hierarchy.vertices[l][down], hierarchy.vertices[l + 1])
        idx, w = hierarchy.up_index[l], hierarchy.up_weights[l]
        assert idx.shape == (fine, 3) and w.shape == (fine, 3)
        assert idx.min() >= 0 and idx.max() < coarse
        assert (w >= 0).all()
        np.testing.assert_allclose(w.sum(1), 1, atol=1e-5)
        # kept vertices up-sample to themselves exactly
        up = np.einsum("vk,vkc->vc", w, hierarchy.vertices[l + 1][idx])
        np.testing.assert_allclose(up[down], hierarchy.vertices[l][down], atol=1e-6)
        # and the rest land near their rest position (the coarse surface is close to the fine one)
        err = np.linalg.norm(up - hierarchy.vertices[l], axis=1)
        assert np.median(err) < [0.002, 0.004, 0.008, 0.02][l]
        assert hierarchy.spirals[l].max() < fine


def test_cached_hierarchy_is_reused(flame, tmp_path):
    h1 = load_hierarchy(*flame, cache_dir=tmp_path)
    files = list(tmp_path.glob("hierarchy-*.npz"))
    assert len(files) == 1
    h2 = load_hierarchy(*flame, cache_dir=tmp_path)
    for a, b in zip(h1.up_weights + h1.spirals, h2.up_weights + h2.spirals):
        np.testing.assert_array_equal(a, b)
    files[0].write_bytes(b"garbage")  # a corrupt cache is rebuilt, not trusted
    h3 = load_hierarchy(*flame, cache_dir=tmp_path)
    assert h3.sizes == h1.sizes


def test_build_rejects_bad_faces(flame):
    v, f = flame
    with pytest.raises(ValueError, match="faces"):
        build_hierarchy(v, f + 10000)
