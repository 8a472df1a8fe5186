"""The 64 capture landmarks: a fixed, named subset of MediaPipe Face Mesh's 478 points.

Defined once here and used by the synthetic labels (``mp478_2d[MP478]``), training, evaluation and the video
runtime (MediaPipe's own output at these indices is the pseudo-label on real frames). "left"/"right" are the
subject's (MediaPipe's "left eye" 263/362 is the character's left, +X on the head).
"""
from __future__ import annotations

import numpy as np

_GROUPS: dict[str, tuple[tuple[str, int], ...]] = {
    "brows": (("right_brow_outer", 70), ("right_brow_outer_mid", 63), ("right_brow_mid", 105),
              ("right_brow_inner_mid", 66), ("right_brow_inner", 107),
              ("left_brow_outer", 300), ("left_brow_outer_mid", 293), ("left_brow_mid", 334),
              ("left_brow_inner_mid", 296), ("left_brow_inner", 336)),
    "eyes": (("right_eye_outer", 33), ("right_eye_upper_outer", 160), ("right_eye_upper", 159),
             ("right_eye_upper_inner", 158), ("right_eye_inner", 133), ("right_eye_lower_inner", 153),
             ("right_eye_lower", 145), ("right_eye_lower_outer", 144),
             ("left_eye_outer", 263), ("left_eye_upper_outer", 387), ("left_eye_upper", 386),
             ("left_eye_upper_inner", 385), ("left_eye_inner", 362), ("left_eye_lower_inner", 380),
             ("left_eye_lower", 374), ("left_eye_lower_outer", 373)),
    "iris": (("right_iris_centre", 468), ("left_iris_centre", 473)),
    "nose": (("nose_bridge", 168), ("nose_mid", 6), ("nose_tip", 4), ("subnasale", 2),
             ("right_nostril", 98), ("left_nostril", 327)),
    "lips": (("mouth_right", 61), ("upper_lip_right", 37), ("upper_lip", 0), ("upper_lip_left", 267),
             ("mouth_left", 291), ("lower_lip_left", 314), ("lower_lip", 17), ("lower_lip_right", 84),
             ("inner_mouth_right", 78), ("inner_upper_lip_right", 82), ("inner_upper_lip", 13),
             ("inner_upper_lip_left", 312), ("inner_mouth_left", 308), ("inner_lower_lip_left", 317),
             ("inner_lower_lip", 14), ("inner_lower_lip_right", 87)),
    "contour": (("forehead_top", 10), ("right_temple", 234), ("right_cheek_upper", 93), ("right_cheek", 132),
                ("right_jaw_upper", 58), ("right_jaw", 136), ("right_chin", 149), ("chin", 152),
                ("left_chin", 378), ("left_jaw", 365), ("left_jaw_upper", 288), ("left_cheek", 361),
                ("left_cheek_upper", 323), ("left_temple", 454)),
}

NAMES: tuple[str, ...] = tuple(name for group in _GROUPS.values() for name, _ in group)
MP478 = np.array([index for group in _GROUPS.values() for _, index in group], np.int64)
GROUPS: dict[str, np.ndarray] = {}
_start = 0
for _group, _members in _GROUPS.items():
    GROUPS[_group] = np.arange(_start, _start + len(_members))
    _start += len(_members)


def _mirror_name(name: str) -> str:
    swap = {"left": "right", "right": "left"}
    return "_".join(swap.get(part, part) for part in name.split("_"))


# MIRROR[i]: the landmark that lands on landmark i when the face is seen in a mirror (left and right swap)
MIRROR = np.array([NAMES.index(_mirror_name(name)) for name in NAMES], np.int64)


def index(name: str) -> int:
    """Position of a named landmark among the 64."""
    return NAMES.index(name)


def from_mp478(landmarks478: np.ndarray) -> np.ndarray:
    """(..., 478, D) MediaPipe landmarks -> (..., 64, D) capture landmarks."""
    return np.asarray(landmarks478)[..., MP478, :]
