"""The label arrays of one sample from its parameters, posed geometry and camera (no bpy)."""
from __future__ import annotations

import numpy as np

from .camera import CameraPose, pose_in_camera, project
from .posing import HeadStatics, Posed
from .sampling import SampleParams, params_to_json


def label_arrays(p: SampleParams, posed: Posed, cam: CameraPose, statics: HeadStatics,
                 lmk68_visible: np.ndarray, mp478_visible: np.ndarray) -> dict[str, np.ndarray]:
    uv68, _ = project(posed.lmk68, cam)
    uv478, _ = project(posed.mp478, cam)
    uv_face, _ = project(posed.vertices[statics.face_points], cam)
    return {
        "identity": p.identity.astype(np.float32),
        "arkit_weights": p.expression.astype(np.float32),
        "head_pose_deg": np.asarray(p.head_pose_deg, np.float32),
        "head_rotation": posed.head_rotation.astype(np.float32),
        "head_pose_camera_deg": pose_in_camera(posed.head_rotation.astype(np.float64), cam.R).astype(np.float32),
        "head_pivot": posed.pivot.astype(np.float32),
        "gaze_deg": np.asarray(p.gaze_deg, np.float32),
        "gaze_vectors": posed.gaze_vectors.astype(np.float32),
        "eye_centres": posed.eye_centres.astype(np.float32),
        "K": cam.K.astype(np.float64),
        "R": cam.R.astype(np.float64),
        "t": cam.t.astype(np.float64),
        "lmk68_2d": uv68.astype(np.float32),
        "lmk68_3d": posed.lmk68.astype(np.float32),
        "lmk68_visible": np.asarray(lmk68_visible, bool),
        "mp478_2d": uv478.astype(np.float32),
        "mp478_3d": posed.mp478.astype(np.float32),
        "mp478_visible": np.asarray(mp478_visible, bool),
        "face_box": np.r_[uv_face.min(0), uv_face.max(0)].astype(np.float32),
        "vertices": posed.vertices.astype(np.float32),
    }


def label_meta(p: SampleParams, cam: CameraPose, hdri_file: str) -> dict:
    meta = params_to_json(p)
    meta["camera_pose"] = {"focal_mm": cam.focal_mm, "sensor_mm": cam.sensor_mm, "width": cam.width,
                           "height": cam.height, "centre": cam.centre.tolist()}
    meta["environment_map"] = p.lighting.hdri
    meta["environment_rotation_deg"] = p.lighting.rotation_deg
    meta["environment_file"] = hdri_file
    meta["image"] = f"images/{p.index:06d}.png"
    return meta
