"""Which points the camera sees (bpy): a ray cast against the scene's visible objects, and the image bounds."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from .camera import CameraPose, project

VISIBILITY_TOLERANCE = 0.002  # metres: a ray may stop this much before a landmark and still see it


def visibility(scene, frame, points: np.ndarray, cam: CameraPose) -> np.ndarray:
    """(N,) bool: a ray from the camera reaches each point (label frame) unblocked and inside the image."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    to_world = np.array(frame.matrix_world)
    pts = points @ to_world[:3, :3].T + to_world[:3, 3]
    origin = Vector(tuple(cam.centre @ to_world[:3, :3].T + to_world[:3, 3]))
    out = np.zeros(len(points), bool)
    for i, p in enumerate(pts):
        d = Vector(tuple(p)) - origin
        dist = d.length
        hit, location, *_ = scene.ray_cast(depsgraph, origin, d.normalized(), distance=dist + 1.0)
        out[i] = (not hit) or (location - origin).length >= dist - VISIBILITY_TOLERANCE
    uv, z = project(points, cam)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height) & (z > 0)
    return out & inside
