"""The one crop: landmarks both ways, the roll, the box fallback, jitter, the rotation target; the 64 landmarks."""
import subprocess
import sys

import numpy as np
import pytest

from models.capture import crop as C
from models.vocab import capture64


def fake_landmarks(centre=(100.0, 80.0), size=60.0, roll_deg=0.0):
    """478 points in a face-like box whose eye line is rolled by roll_deg."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (478, 2)) * size
    right, left = capture64.MP478[capture64.GROUPS["eyes"][:8]], capture64.MP478[capture64.GROUPS["eyes"][8:]]
    pts[right] = [-0.2 * size, -0.1 * size] + rng.normal(0, 1, (8, 2))
    pts[left] = [0.2 * size, -0.1 * size] + rng.normal(0, 1, (8, 2))
    a = np.deg2rad(roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + centre


def test_capture64_is_a_fixed_named_subset():
    assert len(capture64.NAMES) == len(set(capture64.NAMES)) == 64
    assert len(set(capture64.MP478.tolist())) == 64 and capture64.MP478.max() < 478
    assert sorted(np.concatenate(list(capture64.GROUPS.values())).tolist()) == list(range(64))
    assert set(capture64.GROUPS) == {"brows", "eyes", "iris", "nose", "lips", "contour"}
    assert capture64.MP478[capture64.index("right_iris_centre")] == 468


def test_landmarks_map_both_ways_and_the_image_follows():
    lm = fake_landmarks(roll_deg=20.0)
    image = np.zeros((200, 240, 3), np.uint8)
    x, y = 110, 90  # a bright pixel: in the crop it must sit where the affine sends its centre
    image[y, x] = 255
    crop = C.make_crop(image, 64, lm)
    assert crop.image.shape == (64, 64, 3)
    back = crop.to_frame(crop.to_crop(lm))
    np.testing.assert_allclose(back, lm, atol=1e-9)
    u = crop.to_crop(np.array([[x + 0.5, y + 0.5]]))[0]
    j, i = np.unravel_index(np.argmax(crop.image[..., 0]), crop.image.shape[:2])[::-1]
    assert abs(j + 0.5 - u[0]) <= 1.0 and abs(i + 0.5 - u[1]) <= 1.0


def test_crop_rolls_the_eye_line_horizontal_and_keeps_a_margin():
    lm = fake_landmarks(roll_deg=25.0)
    crop = C.make_crop(np.zeros((200, 240, 3), np.uint8), 128, lm)
    inside = crop.to_crop(lm)
    eyes = capture64.from_mp478(inside)[capture64.GROUPS["eyes"]]
    assert abs(eyes[8:, 1].mean() - eyes[:8, 1].mean()) < 1e-6
    span = inside.max(0) - inside.min(0)
    assert span.max() == pytest.approx(128 / (1 + 2 * C.MARGIN))
    eyes_frame = capture64.from_mp478(lm)[capture64.GROUPS["eyes"]]
    line = eyes_frame[8:].mean(0) - eyes_frame[:8].mean(0)
    assert C.crop_roll(crop.affine) == pytest.approx(-np.arctan2(line[1], line[0]))
    assert np.degrees(C.crop_roll(crop.affine)) == pytest.approx(-25.0, abs=3)


def test_box_fallback_and_bad_input():
    crop = C.make_crop(np.zeros((100, 100, 3), np.uint8), 32, box=np.array([20, 30, 60, 90]))
    np.testing.assert_allclose(crop.to_crop(np.array([[40.0, 60.0]])), [[16, 16]])
    with pytest.raises(ValueError, match="landmarks or a face box"):
        C.make_crop(np.zeros((10, 10, 3), np.uint8), 32)
    with pytest.raises(ValueError, match="478"):
        C.square_from_landmarks(np.zeros((68, 2)))


def test_jitter_has_the_configured_spread():
    square = C.square_from_landmarks(fake_landmarks())
    rng = np.random.default_rng(1)
    j = C.CropJitter()
    draws = [C.jittered(square, j, rng) for _ in range(4000)]
    log_scale = np.log([d.size / square.size for d in draws])
    assert log_scale.mean() == pytest.approx(j.log_scale_mean, abs=0.005)
    assert log_scale.std() == pytest.approx(j.log_scale * j.factor, rel=0.1)
    assert np.degrees([d.roll for d in draws]).std() == pytest.approx(j.roll_deg * j.factor, rel=0.1)


def test_rotation_target_round_trip():
    from scipy.spatial.transform import Rotation

    rot = Rotation.random(4, random_state=0).as_matrix()
    affines = np.stack([C.square_affine(C.Square(np.zeros(2), 50.0, a), 64) for a in (0.0, 0.3, -1.0, 2.0)])
    to_crop = C.rotation_to_crop(rot, affines)
    np.testing.assert_allclose(C.rotation_to_frame(to_crop, affines), rot, atol=1e-12)
    # a roll of the crop is a rotation about the optical axis: the head's z axis as seen keeps its depth
    np.testing.assert_allclose(to_crop[:, 2], rot[:, 2], atol=1e-12)


HEAVY = ("torch", "mediapipe", "bpy", "models.capture.train", "models.head.build")


def test_runtime_imports_no_torch():
    """The runtime, crop, eval, bench and metric modules load neither torch, MediaPipe, bpy, the trainer nor the
    head builder (checked in a fresh interpreter through sys.modules); nor does the CLI's parser."""
    import json
    from pathlib import Path

    code = ("import sys, json; import models.capture.runtime, models.capture.crop, models.capture.evaluate, "
            "models.capture.bench, models.metrics.multirex, models.vocab.capture64\n"
            "import models.capture.__main__ as m\n"
            "try:\n    m.main(['eval', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[1]))
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)] == []
