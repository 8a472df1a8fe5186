"""The evaluation's measures on known inputs."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from models.capture import evaluate as E
from models.vocab import capture64


def test_rotation_and_gaze_errors_in_degrees():
    a = Rotation.random(3, random_state=0).as_matrix()
    b = Rotation.from_euler("z", [10, 30, 90], degrees=True).as_matrix() @ a
    np.testing.assert_allclose(E.rotation_error_deg(a, b), [10, 30, 90], atol=1e-6)
    np.testing.assert_allclose(E.gaze_vectors(np.zeros((1, 2))), [[0, 0, 1]])
    up = E.gaze_vectors(np.array([[0.0, np.deg2rad(20)]]))[0]
    assert up[1] > 0 and np.degrees(np.arcsin(up[1])) == pytest.approx(20)
    truth = np.zeros((1, 2, 2))
    pred = truth.copy()
    pred[0, 0, 0] = np.deg2rad(12)  # the left eye 12 deg off, the right exact: mean over eyes 6
    assert E.gaze_error_deg(pred, truth)[0] == pytest.approx(6.0)


def test_nme_is_normalised_by_the_outer_eye_corners():
    truth = np.zeros((1, 64, 2))
    truth[0, capture64.index("left_eye_outer")] = [100, 0]
    pred = truth + [5.0, 0]
    assert E.nme(pred, truth)[0] == pytest.approx(0.05)


def test_confusion_counts():
    t = np.array([True, True, False, False, False])
    p = np.array([True, False, True, False, False])
    assert E.confusion(t, p) == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}


def test_states_read_blinks_and_open_mouths_off_the_mesh(head_asset):
    from models.head import HeadModel
    from models.vocab.arkit import INDEX, N_ARKIT

    model = HeadModel(head_asset)
    weights = np.zeros((4, N_ARKIT))
    weights[1, INDEX["jawOpen"]] = 0.6
    weights[2, INDEX["eyeBlinkLeft"]] = weights[2, INDEX["eyeBlinkRight"]] = 1.0
    weights[3, INDEX["jawOpen"]] = 0.05  # lips parted less than the 4 mm threshold
    meshes = model.vertices(None, weights)
    neutral = np.repeat(model.neutral(None), 4, 0)
    s = E.states(head_asset, meshes, neutral)
    assert s["mouth_open"].tolist() == [False, True, False, False]
    assert s["blink_left"].tolist() == s["blink_right"].tolist() == [False, False, True, False]
