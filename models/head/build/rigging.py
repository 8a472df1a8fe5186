"""Joint pivots (as vertex regressors, so they follow the identity) and skinning weights.

Joints: root (static, at the neck opening), neck (the head's pivot, centre of the neck's cross-section
at chin height), jaw (between the two temporomandibular points, taken at the upper ends of the 68-point
jaw contour, moved back to the ear line), and the two eyeball centres (least-squares sphere fits).
"""
from __future__ import annotations

import numpy as np

from ...geometry import affine_regressor, boundary_loops, fit_sphere
from ...vocab import landmarks68 as L68
from ..asset import JOINT_NAMES


def _regressor_row(vertices, ids, target):
    row = np.zeros(len(vertices))
    row[ids] = affine_regressor(vertices[ids].astype(np.float64), target)
    return row


def _smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def build_rig(vertices: np.ndarray, faces: np.ndarray, head: np.ndarray, eyeball_left: np.ndarray,
              eyeball_right: np.ndarray, landmarks: np.ndarray, jaw_open: np.ndarray):
    """Joint regressor (J, V) and skin weights (V, J) for JOINT_NAMES."""
    n = len(vertices)
    head_faces = faces[np.isin(faces, head).all(1)]
    neck_loop = max(boundary_loops(head_faces), key=lambda loop: -vertices[loop, 1].mean())
    root_pos = vertices[neck_loop].mean(0)

    chin_y = landmarks[L68.CHIN, 1]
    slab = head[np.abs(vertices[head, 1] - chin_y) < 0.006]
    slab = slab[vertices[slab, 2] < landmarks[L68.CHIN, 2] - 0.03]  # the neck, not the chin
    neck_pos = vertices[slab].mean(0)
    neck_pos[0] = 0.0

    tmj = 0.5 * (landmarks[L68.JAW_END["right"]] + landmarks[L68.JAW_END["left"]])
    jaw_pos = np.array([0.0, tmj[1], tmj[2] - 0.01])
    near_tmj = head[(np.linalg.norm(vertices[head] - landmarks[L68.JAW_END["right"]], axis=1) < 0.02)
                    | (np.linalg.norm(vertices[head] - landmarks[L68.JAW_END["left"]], axis=1) < 0.02)]

    centres = [fit_sphere(vertices[e].astype(np.float64))[0] for e in (eyeball_left, eyeball_right)]
    regressor = np.stack([
        _regressor_row(vertices, neck_loop, root_pos),
        _regressor_row(vertices, slab, neck_pos),
        _regressor_row(vertices, near_tmj, jaw_pos),
        _regressor_row(vertices, eyeball_left, centres[0]),
        _regressor_row(vertices, eyeball_right, centres[1]),
    ])

    weights = np.zeros((n, len(JOINT_NAMES)))
    y = vertices[head, 1]
    neck_w = _smoothstep((y - root_pos[1]) / max(neck_pos[1] - root_pos[1], 1e-6))
    # the jaw carries what jawOpen moves, relative to the chin's motion
    jaw_motion = np.linalg.norm(jaw_open[head], axis=1)
    jaw_w = _smoothstep(jaw_motion / max(np.percentile(jaw_motion, 99.5), 1e-9) * 1.25)
    jaw_w[y < chin_y - 0.02] *= 0  # the neck stays with the head
    weights[head, 0] = 1 - neck_w
    weights[head, 1] = neck_w * (1 - jaw_w)
    weights[head, 2] = neck_w * jaw_w
    weights[eyeball_left, 3] = 1.0
    weights[eyeball_right, 4] = 1.0
    return regressor.astype(np.float64), weights.astype(np.float32)
