"""Where MediaPipe Face Mesh's 478 landmarks sit on FLAME topology.

Method: render the neutral template (skin, darker lips and brows, eyeballs with iris and pupil) from
several nearby views with the numpy rasteriser, run MediaPipe Face Mesh (with iris refinement) on
each render, lift every detected landmark onto the surface through the rasteriser's triangle and
barycentric buffers, average the lifted 3D points over the views, and snap the average back onto the
surface. The iris landmarks (468-477) are snapped to the eyeball they belong to, all others to the skin.
"""
from __future__ import annotations

import numpy as np

from ...geometry import project_to_surface
from ...raster import look_at_camera, shade, rasterize
from ..asset import AssetError

VIEWS = [(0, 0), (-12, 0), (12, 0), (0, -8), (0, 8), (-8, 6), (8, 6)]  # (yaw, pitch) degrees
N_MEDIAPIPE = 478


def template_colours(vertices, eyeball_left, eyeball_right, lip_mask, brow_mask):
    """Per-vertex albedo that gives MediaPipe the cues of a face: lips, brows, iris and pupil."""
    colours = np.tile([0.78, 0.6, 0.5], (len(vertices), 1))
    colours[lip_mask] = [0.62, 0.33, 0.32]
    colours[brow_mask] = [0.28, 0.2, 0.15]
    for eyeball in (eyeball_left, eyeball_right):
        p = vertices[eyeball]
        centre = p.mean(0)
        d = p - centre
        cos = d[:, 2] / np.linalg.norm(d, axis=1)
        colours[eyeball] = [0.9, 0.88, 0.85]
        colours[eyeball[cos > 0.82]] = [0.35, 0.25, 0.15]
        colours[eyeball[cos > 0.95]] = [0.03, 0.03, 0.03]
    return colours


def detect_landmarks(image: np.ndarray) -> np.ndarray | None:
    """MediaPipe Face Mesh with iris refinement on an RGB uint8 image: (478, 2) pixels, or None."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                         min_detection_confidence=0.3) as mesh:
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        return None
    lms = result.multi_face_landmarks[0].landmark
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in lms])


def fit_mediapipe_correspondence(vertices, faces, head_faces_mask, eyeball_left, eyeball_right,
                                 lip_mask, brow_mask, size: int = 512):
    """(triangle, barycentric) of the 478 MediaPipe landmarks on the mesh, and per-landmark spread (m)."""
    colours = template_colours(vertices, eyeball_left, eyeball_right, lip_mask, brow_mask)
    face_centre = np.array([0.0, vertices[eyeball_left, 1].mean() - 0.035, 0.0])
    lifted = []
    for yaw, pitch in VIEWS:
        cam = look_at_camera(face_centre, 0.6, yaw_deg=yaw, pitch_deg=pitch, fov_deg=22, size=(size, size))
        image = shade(vertices, faces, cam, colours, background=(0.55, 0.6, 0.65))
        pts = detect_landmarks(image)
        if pts is None:
            continue
        frags = rasterize(vertices, faces, cam)
        px = np.clip(np.round(pts - 0.5).astype(int), 0, size - 1)
        tri = frags.triangle[px[:, 1], px[:, 0]]
        bary = frags.bary[px[:, 1], px[:, 0]]
        xyz = np.where((tri >= 0)[:, None], np.einsum("pk,pkc->pc", bary, vertices[faces[np.maximum(tri, 0)]]), np.nan)
        lifted.append(xyz)
    if len(lifted) < 3:
        raise AssetError("MediaPipe found the rendered template in fewer than 3 of "
                         f"{len(VIEWS)} views; the MediaPipe correspondence cannot be fitted")
    lifted = np.array(lifted)  # (views, 478, 3)
    mean = np.nanmedian(lifted, axis=0)
    if np.isnan(mean).any():
        raise AssetError("some MediaPipe landmarks never landed on the template")
    spread = np.nanmean(np.linalg.norm(lifted - mean, axis=2), axis=0)
    eye_tris = np.isin(faces, np.r_[eyeball_left, eyeball_right]).all(1)
    tri = np.zeros(N_MEDIAPIPE, int)
    bary = np.zeros((N_MEDIAPIPE, 3))
    # 468-472 is one iris (the subject's right in MediaPipe's image-left convention), 473-477 the other
    groups = [(np.arange(468), np.where(head_faces_mask)[0])]
    for ids in (np.arange(468, 473), np.arange(473, 478)):
        eyeball = eyeball_left if mean[ids, 0].mean() > 0 else eyeball_right
        groups.append((ids, np.where(np.isin(faces, eyeball).all(1) & eye_tris)[0]))
    for ids, allowed in groups:
        t, b, _ = project_to_surface(mean[ids], vertices, faces[allowed])
        tri[ids], bary[ids] = allowed[t], b
    return tri, bary, spread
