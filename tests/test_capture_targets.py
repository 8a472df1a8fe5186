"""Code targets: E_exp of each label's unposed mesh, computed once per dataset and semantic encoder."""
import types

import numpy as np

from models.atomic_io import save_npz
from models.capture.train.targets import load_targets
from models.head.build.shapes import mirror_displacement as mirrored_mesh
from models.semantic.runtime import SemanticRuntime, WEIGHTS_DIR


class FakeHead:
    """Stands in for HeadModel: a neutral per identity, an expression offset per weight vector."""

    def __init__(self):
        self.calls = 0
        self.base = np.random.default_rng(0).normal(0, 0.05, (5023, 3))
        self.asset = types.SimpleNamespace(mirror=np.arange(5023)[::-1].copy())

    def neutral(self, identity):
        return self.base[None] + np.asarray(identity)[:, :1, None] * 1e-3

    def vertices(self, identity, weights):
        self.calls += 1
        return self.neutral(identity) + np.asarray(weights)[:, :1, None] * 1e-2


def write_dataset(root, n=3):
    (root / "labels").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        np.savez(root / "labels" / f"{i:06d}.npz", identity=rng.normal(size=60).astype(np.float32),
                 arkit_weights=rng.uniform(size=52).astype(np.float32))
    (root / "manifest.json").write_text('{"settings": {"count": %d}}' % n)


def test_targets_are_the_semantic_codes_and_cached(tmp_path):
    data = tmp_path / "data"
    write_dataset(data)
    head = FakeHead()
    t = load_targets(data, tmp_path / "cache", WEIGHTS_DIR, head, log=lambda *a: None)
    assert head.calls == 1 and t["z_exp"].shape == (3, 64) and list(t["index"]) == [0, 1, 2]
    expected = SemanticRuntime().encode_expression(head.vertices(t["identity"], t["arkit_weights"]),
                                                   head.neutral(t["identity"]))
    np.testing.assert_allclose(t["z_exp"], expected, atol=1e-5)
    mirror = head.asset.mirror
    mirrored = SemanticRuntime().encode_expression(
        mirrored_mesh(head.vertices(t["identity"], t["arkit_weights"]).astype(np.float32), mirror),
        mirrored_mesh(head.neutral(t["identity"]).astype(np.float32), mirror))
    np.testing.assert_allclose(t["z_exp_mirror"], mirrored, atol=1e-5)
    assert np.abs(t["z_exp_mirror"] - t["z_exp"]).max() > 1e-3
    head.calls = 0
    again = load_targets(data, tmp_path / "cache", WEIGHTS_DIR, head, log=lambda *a: None)
    assert head.calls == 0  # from the cache
    np.testing.assert_array_equal(again["z_exp"], t["z_exp"])
    (path,) = (tmp_path / "cache" / "targets").glob("*.npz")
    save_npz(path, {k: v for k, v in t.items() if k != "z_exp_mirror"})  # a cache from before the mirrored codes
    seen = []
    assert "z_exp_mirror" in load_targets(data, tmp_path / "cache", WEIGHTS_DIR, head, log=seen.append)
    assert head.calls == 1 and "predates" in seen[0]
    (data / "manifest.json").write_text('{"settings": {"count": 4}}')  # another dataset: computed again
    load_targets(data, tmp_path / "cache", WEIGHTS_DIR, head, log=lambda *a: None)
    assert head.calls == 2


def test_unposed_mesh_is_the_label_vertices_without_the_head_rotation(head_asset):
    """The derivation the targets rest on: the generator's posed skin, rotated back about the neck pivot."""
    from models.capture.train.targets import unposed
    from models.head import HeadModel
    from synthetic.posing import head_statics, pose_sample
    from synthetic.sampling import sample_params

    model = HeadModel(head_asset)
    statics = head_statics(head_asset)
    for index in range(3):
        p = sample_params(5, index, head_asset.n_identity, ["studio.exr"])
        posed = pose_sample(model, statics, p)
        mesh, _ = unposed(model, p.identity[None], p.expression[None])
        back = (posed.vertices - posed.pivot) @ posed.head_rotation + posed.pivot
        skin = head_asset.head_vertices
        np.testing.assert_allclose(back[skin], mesh[0, skin], atol=1e-6)


def write_labelled_dataset(root, n, seed):
    """A dataset whose labels carry what training reads (images are not read here)."""
    write_dataset(root, n)
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = root / "labels" / f"{i:06d}.npz"
        with np.load(path) as z:
            arrays = dict(z)
        meta = '{"image": "images/%06d.png"}' % i
        np.savez(path, **arrays, mp478_2d=rng.uniform(0, 64, (478, 2)).astype(np.float32), R=np.eye(3, dtype=np.float32),
                 head_rotation=np.eye(3, dtype=np.float32), gaze_deg=rng.normal(0, 5, (2, 2)).astype(np.float32),
                 head_pose_camera_deg=rng.normal(0, 20, 3).astype(np.float32), meta_json=np.frombuffer(meta.encode(), np.uint8))
    (root / "manifest.json").write_text('{"settings": {"count": %d, "seed": %d}}' % (n, seed))


def test_several_datasets_train_as_one_set_with_their_own_targets(tmp_path):
    from models.capture.train.data import load_synthetic, load_synthetic_sets
    from models.capture.train.targets import dataset_key, datasets_key

    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache"
    write_labelled_dataset(a, 3, 1)
    write_labelled_dataset(b, 2, 2)
    quiet = dict(model=FakeHead(), log=lambda *x: None)
    both = load_synthetic_sets([a, b], cache, WEIGHTS_DIR, **quiet)
    alone = [load_synthetic_sets([d], cache, WEIGHTS_DIR, **quiet) for d in (a, b)]
    assert len(both) == 5 and both.image_paths == alone[0].image_paths + alone[1].image_paths
    assert both.image_paths[3] == b / "images" / "000000.png"
    for name in ("mp478", "z_exp", "z_exp_mirror", "gaze", "yaw_deg", "index", "arkit_weights"):
        np.testing.assert_array_equal(getattr(both, name),
                                      np.concatenate([getattr(alone[0], name), getattr(alone[1], name)]))
    direct = load_synthetic(b, load_targets(b, cache, WEIGHTS_DIR, FakeHead(), log=lambda *x: None))
    np.testing.assert_array_equal(direct.z_exp, both.z_exp[3:])
    assert datasets_key([a]) == dataset_key(a)  # one folder keeps its run key (old runs resume)
    assert len({datasets_key([a, b]), datasets_key([b, a]), dataset_key(a), dataset_key(b)}) == 4
