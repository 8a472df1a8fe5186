"""Mirror augmentation: a crop flipped left to right with every target mirrored consistently."""
import numpy as np
import pytest

from models.capture import mirror as M
from models.capture.train import data as D
from models.head.build.shapes import mirror_displacement as mirrored_mesh
from models.vocab import capture64
from models.vocab.arkit import INDEX, MIRROR_PAIRS
from tests.test_capture_crop import fake_landmarks

ARKIT_MIRROR = np.arange(52)
for _left, _right in MIRROR_PAIRS:
    ARKIT_MIRROR[INDEX[_left]], ARKIT_MIRROR[INDEX[_right]] = INDEX[_right], INDEX[_left]


def test_the_landmark_mirror_swaps_sides_and_keeps_the_midline():
    m = capture64.MIRROR
    assert sorted(m) == list(range(64)) and np.array_equal(m[m], np.arange(64))
    for i, name in enumerate(capture64.NAMES):
        partner = capture64.NAMES[m[i]]
        if "left" in name.split("_"):
            assert partner == name.replace("left", "right")
        elif "right" in name.split("_"):
            assert partner == name.replace("right", "left")
        else:
            assert partner == name


@pytest.fixture(scope="module")
def model(head_asset):
    from models.head import HeadModel

    return HeadModel(head_asset)


def test_a_mirrored_mesh_wears_the_mirrored_expression(model):
    """The reflected expression displacement is the expression with Left and Right swapped (the asset's shapes are
    exact mirror pairs under its vertex mirror map), on any identity."""
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (3, 52)) * (rng.random((3, 52)) < 0.3)
    for identity in (np.zeros((3, model.asset.n_identity)), rng.normal(0, 1, (3, model.asset.n_identity))):
        neutral = model.neutral(identity)
        seen = mirrored_mesh(model.vertices(identity, w), model.asset.mirror) - mirrored_mesh(neutral,
                                                                                         model.asset.mirror)
        swapped = model.vertices(identity, w[:, ARKIT_MIRROR]) - neutral
        err = np.linalg.norm(seen - swapped, axis=2)
        assert err.mean() < 0.1 * np.linalg.norm(swapped, axis=2).mean()
        assert np.percentile(err, 99) < 5e-4
    assert np.abs(mirrored_mesh(mirrored_mesh(neutral, model.asset.mirror), model.asset.mirror) - neutral).max() < 1e-9


def _landmarks64(model, mesh):
    faces = model.asset.faces[model.asset.mp478_faces]
    return capture64.from_mp478((mesh[faces] * model.asset.mp478_bary[..., None]).sum(1))


def test_flipped_landmarks_and_rotation_are_those_of_the_mirrored_head(model):
    """Project a posed head into a crop (camera x = image right), flip the crop, and compare with the mirrored
    head posed by the mirrored rotation; the face contour is left out: the asset's MediaPipe correspondence is not
    symmetric there (left and right cheek points lie 7-30 mm from each other's mirror image)."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(1)
    identity = rng.normal(0, 1, (1, model.asset.n_identity))
    mesh = model.vertices(identity, rng.uniform(0, 1, (1, 52)) * (rng.random((1, 52)) < 0.3))[0]
    rotations = Rotation.from_euler("yxz", rng.uniform(-40, 40, (4, 3)), degrees=True).as_matrix().astype(np.float32)

    def crop_points(points, rotation):  # orthographic: 0.15 m across the crop, y down in the image
        cam = points @ rotation.T
        return np.stack([cam[:, 0], cam[:, 1]], 1) / 0.075

    original = np.array([crop_points(_landmarks64(model, mesh), r) for r in rotations], np.float32)
    mirrored_head = _landmarks64(model, mirrored_mesh(mesh, model.asset.mirror))
    flipped_rot = M.mirror_rotation(rotations)
    seen = np.array([crop_points(mirrored_head, r) for r in flipped_rot])
    keep = np.setdiff1d(np.arange(64), capture64.GROUPS["contour"])
    err_mm = np.linalg.norm(M.mirror_landmarks(original) - seen, axis=2)[:, keep] * 75
    assert err_mm.max() < 3.0 and err_mm.mean() < 1.0
    np.testing.assert_allclose(M.mirror_rotation(flipped_rot), rotations, atol=1e-6)
    assert np.allclose(np.linalg.det(flipped_rot), 1.0, atol=1e-5)


def test_mirrored_gaze_points_where_the_mirrored_eye_looks():
    from scipy.spatial.transform import Rotation

    from synthetic.posing import eye_rotvec

    def direction(yaw_pitch_rad):
        return Rotation.from_rotvec(eye_rotvec(*np.rad2deg(yaw_pitch_rad))).as_matrix() @ np.array([0.0, 0.0, 1.0])

    gaze = np.deg2rad(np.array([[[12.0, -5.0], [-20.0, 8.0]]], np.float32))
    flipped = M.mirror_gaze(gaze)
    for eye in range(2):
        np.testing.assert_allclose(direction(flipped[0, eye]), M.FLIP_X @ direction(gaze[0, 1 - eye]), atol=1e-6)


def test_a_mirrored_batch_flips_every_crop_and_target(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    paths, mp = [], []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        mp.append(fake_landmarks(centre=(32 + i, 30), size=30))
    from scipy.spatial.transform import Rotation

    n = len(paths)
    data = D.SyntheticSet(paths, np.array(mp, np.float32), Rotation.random(n, random_state=0).as_matrix().astype(np.float32),
                          rng.uniform(-0.3, 0.3, (n, 2, 2)).astype(np.float32), np.zeros(n, np.float32),
                          rng.normal(size=(n, 64)).astype(np.float32), rng.normal(size=(n, 64)).astype(np.float32),
                          np.zeros((n, 60), np.float32), np.zeros((n, 52), np.float32), np.arange(n))
    real = D.RealFrames(rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8),
                        np.array([fake_landmarks((32, 32), 30)] * 2, np.float32), np.zeros(2, np.int64), np.arange(2),
                        ["x"])
    plain = D.make_batch(data, real, 4, 2, 32, np.random.default_rng(3))
    flipped = D.make_batch(data, real, 4, 2, 32, np.random.default_rng(3), mirror=1.0)
    rows = np.random.default_rng(3).integers(0, n, 4)
    np.testing.assert_array_equal(flipped.images, plain.images[:, :, ::-1])
    np.testing.assert_allclose(flipped.landmarks, M.mirror_landmarks(plain.landmarks))
    np.testing.assert_allclose(flipped.rotation, M.mirror_rotation(plain.rotation), atol=1e-6)
    np.testing.assert_allclose(flipped.gaze, M.mirror_gaze(plain.gaze))
    np.testing.assert_array_equal(plain.z_exp, data.z_exp[rows])
    np.testing.assert_array_equal(flipped.z_exp, data.z_exp_mirror[rows])
    some = D.make_batch(data, real, 4, 2, 32, np.random.default_rng(3), mirror=0.5)
    seen_flipped = [np.array_equal(a, b[:, ::-1]) and not np.array_equal(a, b) for a, b in zip(some.images, plain.images)]
    assert 0 < sum(seen_flipped) < 6


def test_the_code_mirror_fit_and_the_mean_rotation():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 64)).astype(np.float32)
    true = rng.normal(size=(65, 64)).astype(np.float32)
    code_mirror, residual = M.CodeMirror.fit(z, np.c_[z, np.ones(200)] @ true)
    assert residual < 1e-4
    np.testing.assert_allclose(code_mirror(z), np.c_[z, np.ones(200)] @ true, atol=1e-4)
    r = Rotation.from_rotvec(rng.normal(size=(5, 3))).as_matrix()
    np.testing.assert_allclose(M.mean_rotation(r, r), r, atol=1e-9)
    axis = np.array([0.0, 0.6, 0.8])
    a, b = Rotation.from_rotvec(np.outer([0.2, 0.6], axis)).as_matrix()
    np.testing.assert_allclose(M.mean_rotation(a[None], b[None])[0], Rotation.from_rotvec(0.4 * axis).as_matrix(),
                               atol=1e-9)


@pytest.fixture(scope="module")
def mirror_models(tmp_path_factory):
    """The tiny model with an involutive code mirror map (dimension pairs swapped, one sign flipped) and without."""
    from tests.capture_model_helpers import export_tiny_capture_model

    swap = np.arange(64).reshape(32, 2)[:, ::-1].ravel()
    matrix = np.zeros((65, 64), np.float32)
    matrix[np.arange(64), swap] = 1.0
    matrix[[0, 1], [1, 0]] = -1.0
    return (export_tiny_capture_model(tmp_path_factory.mktemp("with-map"), code_mirror=matrix),
            export_tiny_capture_model(tmp_path_factory.mktemp("without-map")), matrix)


def test_the_runtime_averages_a_crop_with_its_mirror_image(mirror_models):
    from models.capture.runtime import CaptureOptions, CaptureRuntime

    with_map, without_map, matrix = mirror_models
    averaged = CaptureRuntime(CaptureOptions(weights_dir=with_map, name="tiny"))
    plain = CaptureRuntime(CaptureOptions(weights_dir=with_map, name="tiny", mirror_average=False))
    assert averaged.mirror_average and not plain.mirror_average
    assert not CaptureRuntime(CaptureOptions(weights_dir=without_map, name="tiny")).mirror_average
    r = averaged.resolution
    crops = np.random.default_rng(0).integers(0, 256, (3, r, r, 3), dtype=np.uint8)
    got, a, b = averaged.run_crops(crops), plain.run_crops(crops), plain.run_crops(M.mirror_images(crops))
    np.testing.assert_allclose(got.z_exp, (a.z_exp + M.CodeMirror(matrix)(b.z_exp)) / 2, atol=1e-5)
    np.testing.assert_allclose(got.landmarks64, (a.landmarks64 + M.mirror_landmarks(b.landmarks64, r)) / 2, atol=1e-4)
    np.testing.assert_allclose(got.gaze, (a.gaze + M.mirror_gaze(b.gaze)) / 2, atol=1e-6)
    np.testing.assert_allclose(got.head_rotation, M.mean_rotation(a.head_rotation, M.mirror_rotation(b.head_rotation)),
                               atol=1e-5)
    # so the averaged model sees a flipped crop exactly as the mirror image of what it sees in the crop
    flipped = averaged.run_crops(M.mirror_images(crops))
    np.testing.assert_allclose(flipped.z_exp, M.CodeMirror(matrix)(got.z_exp), atol=1e-5)
    np.testing.assert_allclose(flipped.landmarks64, M.mirror_landmarks(got.landmarks64, r), atol=1e-4)
    np.testing.assert_allclose(flipped.gaze, M.mirror_gaze(got.gaze), atol=1e-6)
    np.testing.assert_allclose(flipped.head_rotation, M.mirror_rotation(got.head_rotation), atol=1e-5)


def test_export_writes_a_given_code_mirror_map(mirror_models, tmp_path):
    import json

    from models.capture.train.export import export
    from models.semantic.runtime import WEIGHTS_DIR

    with_map, without_map, matrix = mirror_models
    meta = json.loads((with_map / "tiny.json").read_text())
    np.testing.assert_array_equal(np.array(meta["code_mirror"], np.float32), matrix)
    assert "code_mirror" not in json.loads((without_map / "tiny.json").read_text())
    export(without_map.parent / "ck.pt", tmp_path, "again", WEIGHTS_DIR, log=lambda *a: None,
           code_mirror=(2 * matrix, 0.25))
    meta = json.loads((tmp_path / "again.json").read_text())
    assert meta["code_mirror_residual"] == 0.25 and np.array_equal(np.array(meta["code_mirror"]), 2 * matrix)


def test_a_damaged_code_mirror_map_is_refused(mirror_models, tmp_path):
    import json
    import shutil

    from models.capture.runtime import CaptureOptions, CaptureRuntime
    from models.model_files import ModelFileError

    folder = tmp_path / "model"
    shutil.copytree(mirror_models[0], folder)
    meta = json.loads((folder / "tiny.json").read_text())
    meta["code_mirror"] = meta["code_mirror"][:10]
    (folder / "tiny.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="code_mirror is not a finite 65 x 64 map"):
        CaptureRuntime(CaptureOptions(weights_dir=folder, name="tiny"))
