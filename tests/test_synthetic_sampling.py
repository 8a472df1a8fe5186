"""Per-sample parameters, camera framing and label geometry without Blender."""
import numpy as np
import pytest

from models.vocab.arkit import EXCLUSIVE_PAIRS, INDEX
from synthetic.camera import frame_face, head_rotation, project
from synthetic.config import shard_indices
from synthetic.sampling import LIGHTING_KINDS, OCCLUDER_KINDS, sample_params

HDRIS = ["studio:a.exr", "studio:b.exr", "dir:c.hdr"]


@pytest.fixture(scope="module")
def draws():
    return [sample_params(7, i, 60, HDRIS) for i in range(600)]


def test_same_seed_and_index_same_params():
    a, b = sample_params(3, 11, 60, HDRIS), sample_params(3, 11, 60, HDRIS)
    assert np.array_equal(a.identity, b.identity) and np.array_equal(a.expression, b.expression)
    assert a.camera == b.camera and a.lighting == b.lighting and a.skin == b.skin and a.occluder == b.occluder
    c = sample_params(3, 12, 60, HDRIS)
    assert not np.array_equal(a.expression, c.expression)


def test_ranges(draws):
    pose = np.array([d.head_pose_deg for d in draws])
    assert np.all(np.abs(pose) <= [75, 35, 25])
    assert np.abs(pose[:, 0]).max() > 60 and np.abs(pose[:, 1]).max() > 28 and np.abs(pose[:, 2]).max() > 20
    frac = np.array([d.camera.face_fraction for d in draws])
    assert frac.min() >= 0.1 and frac.max() <= 0.9
    assert 0.2 < (frac < 0.3).mean() < 0.4 and (frac < 0.15).mean() > 0.03  # webcam-sized faces are common
    ident = np.array([d.identity for d in draws])
    assert ident.shape == (600, 60) and np.abs(ident).max() <= 2.5 * 1.2 + 1e-6
    for d in draws:
        for a, b in EXCLUSIVE_PAIRS:
            assert d.expression[INDEX[a]] + d.expression[INDEX[b]] <= 1 + 1e-6
        assert d.expression[INDEX["tongueOut"]] == 0


def test_coverage(draws):
    assert {d.skin.fitzpatrick for d in draws} == {1, 2, 3, 4, 5, 6}
    assert {d.lighting.kind for d in draws} == set(LIGHTING_KINDS)
    assert {d.lighting.hdri for d in draws if d.lighting.kind == "hdri"} == set(HDRIS)
    kinds = [d.occluder.kind for d in draws]
    assert {k for k in kinds if k} == set(OCCLUDER_KINDS)
    assert 0.2 < np.mean([bool(k) for k in kinds]) < 0.4
    assert 0.1 < np.mean([d.skin.stubble > 0 for d in draws]) < 0.4
    assert 0.1 < np.mean([d.skin.makeup > 0 for d in draws]) < 0.3
    assert any(len(d.lighting.extra_lights) == 2 for d in draws)
    # gradient worlds tint the face but do not paint it one saturated colour
    colours = np.array([c for d in draws for c in (d.lighting.gradient_top, d.lighting.gradient_bottom)])
    top = colours.max(1)
    saturation = (top - colours.min(1)) / np.maximum(top, 1e-9)
    assert saturation.max() <= 0.35 + 1e-6 and saturation.mean() > 0.1 and np.ptp(colours[:, 0]) > 0.5
    assert len({d.eyes.iris_color for d in draws}) > 100


def test_darker_skin_gets_weaker_broader_highlights(draws):
    """Regression: specular and roughness did not depend on the skin tone, and glossy highlights on dark skin read
    as plastic."""
    light = [d.skin for d in draws if d.skin.fitzpatrick <= 2]
    dark = [d.skin for d in draws if d.skin.fitzpatrick >= 5]
    assert np.mean([s.specular for s in dark]) < 0.85 * np.mean([s.specular for s in light])
    assert np.mean([s.roughness for s in dark]) > np.mean([s.roughness for s in light]) + 0.03
    assert max(s.specular for s in light + dark) <= 0.5 and min(s.roughness for s in light + dark) >= 0.42


def test_body_width_and_build_vary_together(draws):
    width = np.array([d.body.width for d in draws])
    build = np.array([d.body.build for d in draws])
    assert width.min() >= 0.88 and width.max() <= 1.12 and np.ptp(width) > 0.2
    assert build.min() >= 0.85 and build.max() <= 1.2 and np.corrcoef(width, build)[0, 1] > 0.3


def test_no_occluders_option():
    assert all(not sample_params(7, i, 60, HDRIS, occluders=False).occluder.kind for i in range(100))


@pytest.mark.parametrize("fraction,offset", [(0.3, (0.0, 0.0)), (0.9, (0.8, -0.8)), (0.6, (-0.8, 0.5)),
                                             (0.1, (0.8, 0.8))])
def test_framing_fills_requested_fraction(fraction, offset):
    rng = np.random.default_rng(0)
    face = rng.normal(0, 1, (500, 3)) * [0.07, 0.1, 0.04]
    face = face @ head_rotation(40, 10, -15).T
    for focal in (30.0, 110.0):
        cam = frame_face(face, focal, 36.0, 256, fraction, offset, 5.0, -5.0, 3.0)
        uv, z = project(face, cam)
        size = (uv.max(0) - uv.min(0)).max()
        assert abs(size / 256 - fraction) < 0.02
        assert uv.min() >= -1 and uv.max() <= 257 and (z > 0).all()
        assert np.linalg.norm(cam.centre - face.mean(0)) >= 0.29
        assert np.allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(cam.R), 1)


def test_shards_partition():
    for count, n in ((10, 3), (7, 7), (5, 8)):
        parts = [shard_indices(count, (k, n)) for k in range(n)]
        flat = sorted(i for p in parts for i in p)
        assert flat == list(range(count))


def test_pose_in_camera():
    from synthetic.camera import FRONTAL, pose_in_camera, rotation_y

    for pose in ((30, -10, 5), (-70, 30, -20)):
        rot = head_rotation(*pose)
        assert np.allclose(pose_in_camera(rot, FRONTAL), pose, atol=1e-6)
        # a camera orbiting 20 degrees towards +X sees the face turned 20 degrees less
        orbit = FRONTAL @ rotation_y(20).T
        assert np.isclose(pose_in_camera(head_rotation(pose[0], 0, 0), orbit)[0], pose[0] - 20, atol=1e-6)


def test_head_pose_convention():
    fwd = np.array([0.0, 0.0, 1.0])
    assert (head_rotation(30, 0, 0) @ fwd)[0] > 0.4  # yaw > 0 turns the face to +X
    assert (head_rotation(0, 20, 0) @ fwd)[1] > 0.3  # pitch > 0 lifts the face
