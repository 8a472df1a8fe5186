"""The vocabulary: ARKit tables, and the left/right convention of the landmark groups on the real head asset."""
import numpy as np
import pytest

from models.geometry import barycentric_points
from models.vocab import arkit, landmarks68 as L68, mediapipe478 as MP


def test_arkit_order_and_tables():
    assert arkit.N_ARKIT == 52 and arkit.ARKIT_NAMES[-1] == "tongueOut" and arkit.OMITTED == ("tongueOut",)
    assert all(arkit.INDEX[n] == i for i, n in enumerate(arkit.ARKIT_NAMES))
    for a, b in arkit.EXCLUSIVE_PAIRS + arkit.MIRROR_PAIRS:
        assert a in arkit.INDEX and b in arkit.INDEX
    assert list(arkit.columns(("jawOpen", "tongueOut"))) == [arkit.INDEX["jawOpen"], 51]
    with pytest.raises(ValueError, match="not ARKit names"):
        arkit.columns(("smile",))


def test_mediapipe_groups_match_mediapipe_connections():
    c = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections")
    ids = lambda edges: {i for e in edges for i in e}  # noqa: E731
    assert ids(c.FACEMESH_LIPS) == set(MP.LIPS_OUTER) | set(MP.LIPS_INNER)
    for side, name in (("left", "LEFT"), ("right", "RIGHT")):
        assert ids(getattr(c, f"FACEMESH_{name}_EYE")) == set(MP.EYE[side])
        assert ids(getattr(c, f"FACEMESH_{name}_IRIS")) == set(MP.IRIS[side][1:])
        assert ids(getattr(c, f"FACEMESH_{name}_EYEBROW")) == set(sum(MP.BROW[side], ()))
    assert ids(c.FACEMESH_FACE_OVAL) == set(MP.FACE_OVAL) and ids(c.FACEMESH_NOSE) == set(MP.NOSE)


def test_left_is_plus_x_in_both_landmark_sets(head_asset):
    a = head_asset
    lm = barycentric_points(a.template, a.faces, a.lmk68_faces, a.lmk68_bary)
    mp = barycentric_points(a.template, a.faces, a.mp478_faces, a.mp478_bary)
    eye_x = {"left": a.template[a.eyeball_left, 0].mean(), "right": a.template[a.eyeball_right, 0].mean()}
    assert eye_x["left"] > 0 > eye_x["right"]
    for side, sign in (("left", 1), ("right", -1)):
        for points in (lm[list(L68.EYE[side].ids)], lm[list(L68.BROW[side])], lm[[L68.MOUTH_CORNER[side],
                       L68.JAW_END[side]]], mp[list(MP.EYE[side])], mp[list(MP.IRIS[side])],
                       mp[list(sum(MP.BROW[side], ()))], mp[[MP.MOUTH_CORNER[side]]]):
            assert (np.sign(points[:, 0]) == sign).all()
        # each eye group sits on its own eyeball
        assert abs(mp[MP.IRIS_CENTRE[side], 0] - eye_x[side]) < 0.01
        assert abs(lm[list(L68.EYE[side].ids), 0].mean() - eye_x[side]) < 0.01
