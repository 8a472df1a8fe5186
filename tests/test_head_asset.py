"""The head asset: built from the shared files, its quality targets, its parts, and bad inputs."""
import pickle

import numpy as np
import pytest

from models.geometry import barycentric_points
from models.head import ARKIT_NAMES, AssetError, HeadModel
from models.head.build.build import load_head_asset
from models.head.asset import REGION_NAMES
from models.head.build.quality import check
from models.head.build.sources import default_flame_path, default_landmarks_path, load_flame


def test_built_from_shared_files_has_arkit_shapes(head_asset):
    assert head_asset.template.shape == (5023, 3)
    assert head_asset.identity_basis.shape == (5023, 3, 60)
    assert head_asset.omitted == ("tongueOut",)
    assert list(head_asset.shape_names) == [n for n in ARKIT_NAMES if n != "tongueOut"]
    assert head_asset.blendshapes.shape == (51, 5023, 3)
    assert np.isfinite(head_asset.blendshapes).all()
    # eyeballs and the back of the head are untouched by expressions
    eyes = np.r_[head_asset.eyeball_left, head_asset.eyeball_right]
    assert np.abs(head_asset.blendshapes[:, eyes]).max() == 0
    lm = barycentric_points(head_asset.template, head_asset.faces, head_asset.lmk68_faces, head_asset.lmk68_bary)
    back = head_asset.template[:, 2] < 0.5 * (lm[0, 2] + lm[16, 2]) - 0.02  # 2 cm behind the ears
    assert back.sum() > 500
    assert np.abs(head_asset.blendshapes[:, back]).max() == 0
    assert "FLAME 2023 Open" in head_asset.attribution and "ICT-FaceKit" in head_asset.attribution


def test_quality_targets(head_asset):
    report = check(head_asset)
    assert report["eyelid_gap_mm"] < 0.5
    assert report["eyelid_gap_mm_open"] > 5  # the gap metric sees an open eye
    assert report["mirror_asymmetry_pct"] < 5
    assert report["landmark_residual_mm"] < 2
    assert report["lid_vertices_inside_eyeball"] == 0
    assert report["flipped_triangles"] == 0, report["flipped_by_shape"]
    assert report["targets_met"]


def _grid(n=21):
    xs, ys = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    vertices = np.c_[xs.ravel(), ys.ravel(), np.zeros(n * n)]
    k = np.arange(n * n).reshape(n, n)
    a, b, c, d = k[:-1, :-1].ravel(), k[:-1, 1:].ravel(), k[1:, :-1].ravel(), k[1:, 1:].ravel()
    return vertices, np.r_[np.c_[a, b, d], np.c_[a, d, c]]


def test_unfold_removes_a_fold_and_moves_little_else():
    from models.head.build.shapes import folded_triangles, unfold

    rest, faces = _grid()
    shape = np.zeros_like(rest)
    centre = 10 * 21 + 10
    shape[centre] = [0.08, 0.0, 0.0]  # pushed past its right-hand neighbour: the triangles between turn over
    assert len(folded_triangles(rest, rest + shape, faces)) > 0
    stiff = np.zeros(len(rest), bool)
    stiff[centre + 21] = True
    fixed = unfold(rest, shape, faces, stiff=stiff)
    assert len(folded_triangles(rest, rest + fixed, faces)) == 0
    far = np.abs(rest - rest[centre]).max(1) > 0.4  # beyond the 7 rings the last round may reach
    assert np.abs(fixed[far] - shape[far]).max() == 0
    # a stiff vertex moves far less than when it is free
    loose = unfold(rest, shape, faces)
    assert np.linalg.norm(fixed[centre + 21]) < 0.2 * np.linalg.norm(loose[centre + 21])
    assert np.array_equal(unfold(rest, np.zeros_like(rest), faces), np.zeros_like(rest))


def test_left_stays_left(head_asset):
    """ICT's +X is the character's left, and so is FLAME's: eyeBlinkLeft closes the +X eye."""
    d = np.linalg.norm(head_asset.blendshapes[head_asset.shape_names.index("eyeBlinkLeft")], axis=1)
    x = head_asset.template[:, 0]
    assert d[x > 0.01].sum() > 20 * d[x < -0.01].sum()
    assert head_asset.template[head_asset.eyeball_left, 0].mean() > 0


def test_expressions_read_right(head_asset):
    t = head_asset.template
    lm = barycentric_points(t, head_asset.faces, head_asset.lmk68_faces, head_asset.lmk68_bary)
    shapes = {n: head_asset.blendshapes[i] for i, n in enumerate(head_asset.shape_names)}
    moved = {n: barycentric_points(t + d, head_asset.faces, head_asset.lmk68_faces, head_asset.lmk68_bary)
             for n, d in shapes.items()}
    # jawOpen drops the lower lip and chin, not the upper lip
    assert moved["jawOpen"][57, 1] - lm[57, 1] < -0.01
    assert abs(moved["jawOpen"][51, 1] - lm[51, 1]) < 0.004
    # a smile raises and widens the mouth corner on its own side (54 is the +X corner)
    assert moved["mouthSmileLeft"][54, 1] > lm[54, 1] + 0.002
    assert moved["mouthSmileLeft"][54, 0] > lm[54, 0]
    # brows go up with browInnerUp
    assert moved["browInnerUp"][21, 1] > lm[21, 1] + 0.002


def test_regions_partition_the_face(head_asset):
    regions = head_asset.regions
    assert set(regions) == set(REGION_NAMES)
    parts = np.array([regions[n] for n in REGION_NAMES if n != "face"])
    assert (parts.sum(0) == regions["face"]).all()  # each face vertex in exactly one part
    assert all(p.sum() > 30 for p in parts)
    assert not regions["face"][np.r_[head_asset.eyeball_left, head_asset.eyeball_right]].any()
    lm = barycentric_points(head_asset.template, head_asset.faces, head_asset.lmk68_faces, head_asset.lmk68_bary)
    nearest = lambda p: np.argmin(np.linalg.norm(head_asset.template - p, axis=1))  # noqa: E731
    assert regions["nose"][nearest(lm[30])] and regions["mouth"][nearest(lm[62])]
    assert regions["chin_jaw"][nearest(lm[8])]


def test_mediapipe_correspondence_lands_on_matching_features(head_asset):
    t, f = head_asset.template, head_asset.faces
    mp = barycentric_points(t, f, head_asset.mp478_faces, head_asset.mp478_bary)
    lm = barycentric_points(t, f, head_asset.lmk68_faces, head_asset.lmk68_bary)
    # MediaPipe index -> 68-point index of the same feature: eye corners, mouth corners, inner lips
    pairs = {33: 36, 133: 39, 362: 42, 263: 45, 61: 48, 291: 54, 14: 66}
    for m, k in pairs.items():
        assert np.linalg.norm(mp[m] - lm[k]) < 0.005, (m, k)
    # the iris centres (468, 473) sit on the eyeballs, at the front
    eyes = {468: None, 473: None}
    for i in eyes:
        tri = f[head_asset.mp478_faces[i]]
        assert np.isin(tri, np.r_[head_asset.eyeball_left, head_asset.eyeball_right]).all()


def test_props_follow_the_jaw(head_asset):
    model = HeadModel(head_asset)
    w = np.zeros(len(head_asset.shape_names))
    rest = model.place_props(None, w)
    w[head_asset.shape_names.index("jawOpen")] = 1
    opened = model.place_props(None, w)
    assert set(rest) == {"teeth_upper", "teeth_lower", "gums_upper", "gums_tongue", "eyeball_left", "eyeball_right"}
    assert np.abs(opened["teeth_upper"] - rest["teeth_upper"]).max() < 1e-9
    assert (opened["teeth_lower"][..., 1] - rest["teeth_lower"][..., 1]).mean() < -0.005
    # the eyeball props turn with the eye joint
    turned = model.place_props(None, w * 0, eye_left=[0, 0.4, 0])
    assert np.abs(turned["eyeball_left"] - rest["eyeball_left"]).max() > 0.002
    assert np.abs(turned["eyeball_right"] - rest["eyeball_right"]).max() < 1e-9


def _no_build(*args, **kwargs):
    raise AssertionError("the head asset was rebuilt")


def test_cache_is_reused_and_keyed_by_inputs(head_asset, session_cache, tmp_path, monkeypatch):
    from models.head.build import build

    cached = build.asset_path(cache=session_cache)
    assert cached.name.startswith("head-v") and cached.is_file()  # head_asset put it there
    stamp = cached.stat().st_mtime_ns
    monkeypatch.setattr(build, "build_head_asset", _no_build)
    again = load_head_asset(cache=session_cache, log=_no_build)
    assert cached.stat().st_mtime_ns == stamp
    assert np.array_equal(again.blendshapes, head_asset.blendshapes) and again.shape_names == head_asset.shape_names

    first = build.asset_path(cache=tmp_path)
    copy = tmp_path / "lm.npz"
    data = dict(np.load(default_landmarks_path()))
    data["lmk_b_coords"] = data["lmk_b_coords"][::-1].copy()
    np.savez(copy, **data)
    assert build.asset_path(landmarks=copy, cache=tmp_path) != first


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(AssetError, match="not found at .*nowhere.npz"):
        load_head_asset(flame=tmp_path / "nowhere.npz", cache=tmp_path)


def test_corrupt_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "flame.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(AssetError, match="corrupt or unreadable"):
        load_flame(bad)
    bad_ict = tmp_path / "ict.npz"
    bad_ict.write_bytes(b"\x00" * 100)
    with pytest.raises(AssetError, match="ICT-FaceKit file .* corrupt"):
        load_head_asset(ict=bad_ict, cache=tmp_path)


def test_wrong_topology_is_a_clear_error(tmp_path):
    wrong = tmp_path / "other.npz"
    np.savez(wrong, v_template=np.zeros((100, 3)), faces=np.zeros((50, 3), int), shapedirs=np.zeros((100, 3, 5)))
    with pytest.raises(AssetError, match="100 vertices / 50 faces; FLAME topology has 5023 / 9976"):
        load_flame(wrong)


def test_full_flame_pickle_is_accepted(tmp_path):
    """The full flame2023_Open.pkl stacks 300 identity and 100 expression components."""
    sub = np.load(default_flame_path())
    shapedirs = np.zeros((5023, 3, 400), np.float32)
    shapedirs[:, :, :60] = sub["shapedirs"]
    path = tmp_path / "flame2023_Open.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"v_template": sub["v_template"], "f": sub["faces"].astype(np.uint32), "shapedirs": shapedirs,
                     "posedirs": np.zeros((5023, 3, 36))}, handle)
    flame = load_flame(path)
    assert flame.kind == "full-pkl"
    assert flame.identity_basis.shape == (5023, 3, 300)
    assert np.allclose(flame.identity_basis[:, :, :60], sub["shapedirs"])


def test_unreadable_cached_asset_is_rebuilt(tmp_path, head_asset, monkeypatch):
    from models.head.build import build

    path = build.asset_path(cache=tmp_path)
    path.write_bytes(b"garbage")
    builds = []
    # the session's asset stands in for a build (test_built_from_shared_files_has_arkit_shapes tests the builder)
    monkeypatch.setattr(build, "build_head_asset", lambda *a, **k: builds.append(a) or head_asset)
    messages = []
    asset = load_head_asset(cache=tmp_path, log=messages.append)
    assert any("rebuilding" in m for m in messages) and len(builds) == 1 and asset is head_asset
    assert np.array_equal(build.load_asset_file(path).blendshapes, head_asset.blendshapes)  # garbage replaced
