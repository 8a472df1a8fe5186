"""The upper body under the head (shoulders, chest, arms, collar) and the placement of the upper teeth: numpy only."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from models.head import ARKIT_NAMES, HeadModel
from synthetic import body
from synthetic.posing import head_statics, landmarks, pose_sample
from synthetic.sampling import sample_params

WIDTHS = (0.88, 1.12)  # the range sampling draws the body width from
BUILD_MAX = 1.2


@pytest.fixture(scope="module")
def neck(head_asset):
    statics = head_statics(head_asset)
    return head_asset.template[statics.neck_ring], head_asset


def test_shoulders_span_two_and_a_half_to_three_head_widths(neck):
    ring, asset = neck
    verts, faces = body.upper_body(ring)
    assert faces.max() < len(verts) and np.isfinite(verts).all()
    lmk = landmarks(asset, asset.template[None])[0]
    head_width = np.linalg.norm(lmk[16] - lmk[0])  # ear to ear (jaw contour ends)
    span = verts[:, 0].max() - verts[:, 0].min()
    for width in WIDTHS:
        assert 2.4 <= span * width / head_width <= 3.2, (span * width, head_width)


def test_shoulders_slope_down_from_the_neck(neck):
    """The body reads as shoulders, not a bottle: its top falls by several centimetres from the neck outwards."""
    ring, _ = neck
    verts, _ = body.upper_body(ring)
    top = verts[:, 1].max()  # inside the collar, at the neck
    half = verts[:, 0].max()
    outer = verts[np.abs(verts[:, 0]) > 0.8 * half, 1].max()
    assert top - outer > 0.04
    # and the body below the shoulders is narrower than across them (chest between the arms, a waist)
    torso = verts[(verts[:, 1] < -0.6) & (np.abs(verts[:, 2]) < 0.2)]
    assert np.abs(torso[:, 0]).max() < 0.85 * half


def test_collar_covers_the_bodys_neck_edge_for_every_build(neck):
    """The body's top edge lies inside the collar tube at any sampled width and build, so no shelf shows."""
    ring, _ = neck
    verts, _ = body.upper_body(ring)
    collar, _ = body.collar(ring)
    half_x, half_z = np.abs(collar[:, 0]).max(), np.abs(collar[:, 2]).max()
    edge = verts[1:49]  # the first ring after the cap vertex: the neck edge (upper_body's n_around = 48)
    scaled = edge * [max(WIDTHS), 1.0, BUILD_MAX]
    assert ((scaled[:, 0] / half_x) ** 2 + (scaled[:, 2] / half_z) ** 2).max() < 1.0
    assert edge[:, 1].max() < collar[:, 1].max()


def test_body_turns_half_the_head_rotation():
    head = Rotation.from_euler("yxz", [60, -20, 15], degrees=True).as_matrix()
    m = body.body_matrix(head, np.array([0.0, -0.16, -0.08]), 1.1, 0.95)
    turned = m[:3, :3] @ np.diag([1 / 1.1, 1.0, 1 / 0.95])
    angle = np.linalg.norm(Rotation.from_matrix(turned).as_rotvec())
    assert angle == pytest.approx(0.5 * np.linalg.norm(Rotation.from_matrix(head).as_rotvec()), abs=1e-6)
    assert m[:3, 3] == pytest.approx([0.0, -0.16, -0.08])


def test_upper_teeth_show_below_the_upper_lip_in_an_open_mouth(head_asset):
    """Regression: the asset put the upper incisal edge 2-3 mm above the inner upper lip, so open mouths showed
    only the lower teeth."""
    model, statics = HeadModel(head_asset), head_statics(head_asset)
    jaw = list(ARKIT_NAMES).index("jawOpen")
    for index in range(3):
        p = sample_params(5, index, head_asset.n_identity, [])
        p.expression[:] = 0
        p.expression[jaw] = 0.45
        p.head_pose_deg = np.zeros(3, np.float32)
        posed = pose_sample(model, statics, p)
        upper_lip = posed.lmk68[62, 1]
        teeth = posed.props["teeth_upper"]
        assert teeth[:, 1].min() < upper_lip - 0.001
        assert teeth[:, 1].min() > posed.lmk68[66, 1]  # still above the lower lip: the mouth is open
