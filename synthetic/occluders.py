"""Occluder meshes (glasses, a hand, random shapes) and where to put them: plain numpy, label frame."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .sampling import Occluder


def capped_rings_faces(n_rings: int, n: int) -> np.ndarray:
    """(F, 3) triangles of a closed surface whose vertices are a top pole, `n_rings` rings of `n` vertices going
    down, and a bottom pole, in that order (outward facing when the rings run anticlockwise seen from above)."""
    i = np.arange(n)
    j = (i + 1) % n
    bottom = 1 + n_rings * n
    parts = [np.stack([np.zeros(n, np.int64), 1 + j, 1 + i], 1)]
    for k in range(n_rings - 1):
        a, b = 1 + k * n, 1 + (k + 1) * n
        parts += [np.stack([a + i, a + j, b + j], 1), np.stack([a + i, b + j, b + i], 1)]
    parts.append(np.stack([np.full(n, bottom), bottom - n + i, bottom - n + j], 1))
    return np.concatenate(parts).astype(np.int32)


def sphere(n_u=16, n_v=10):
    u = np.linspace(0, 2 * np.pi, n_u, endpoint=False)
    v = np.linspace(0, np.pi, n_v + 1)[1:-1]
    ring = np.stack([np.outer(np.sin(v), np.cos(u)), np.outer(np.cos(v), np.ones_like(u)),
                     np.outer(np.sin(v), np.sin(u))], -1).reshape(-1, 3)
    verts = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]])
    return verts.astype(np.float32), capped_rings_faces(n_v - 1, n_u)


def cylinder(n=16):
    """Unit radius, height 2 along Y, capped."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([np.cos(a), np.zeros(n), np.sin(a)], 1)
    verts = np.concatenate([ring + [0, 1, 0], ring - [0, 1, 0], [[0, 1, 0], [0, -1, 0]]])
    faces = []
    for j in range(n):
        k = (j + 1) % n
        faces += [(j, k, n + k), (j, n + k, n + j), (2 * n, k, j), (2 * n + 1, n + j, n + k)]
    return verts.astype(np.float32), np.array(faces, np.int32)


def box():
    verts = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float32)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [(a, b, c) for a, b, c, d in quads] + [(a, c, d) for a, b, c, d in quads]
    return verts, np.array(faces, np.int32)


def torus(major=1.0, minor=0.25, n_major=24, n_minor=8):
    """In the XY plane (axis Z)."""
    u = np.linspace(0, 2 * np.pi, n_major, endpoint=False)
    v = np.linspace(0, 2 * np.pi, n_minor, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    r = major + minor * np.cos(vv)
    verts = np.stack([r * np.cos(uu), r * np.sin(uu), minor * np.sin(vv)], -1).reshape(-1, 3)
    faces = []
    for i in range(n_major):
        for j in range(n_minor):
            a = i * n_minor + j
            b = ((i + 1) % n_major) * n_minor + j
            c = ((i + 1) % n_major) * n_minor + (j + 1) % n_minor
            d = i * n_minor + (j + 1) % n_minor
            faces += [(a, b, c), (a, c, d)]
    return verts.astype(np.float32), np.array(faces, np.int32)


def transformed(mesh, scale=(1, 1, 1), rotation_deg=(0, 0, 0), offset=(0, 0, 0)):
    v, f = mesh
    r = Rotation.from_euler("xyz", rotation_deg, degrees=True).as_matrix()
    return ((v * np.asarray(scale)) @ r.T + np.asarray(offset)).astype(np.float32), f


def merge(*meshes):
    verts, faces, base = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + base)
        base += len(v)
    return np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32)


# Glasses in their own frame: origin between the eyes, X across the face, Y up, Z forward; 62 mm apart.
EYE_HALF_SPACING = 0.031


def glasses_frame():
    rims = [transformed(torus(1.0, 0.08, 28, 6), (0.024, 0.019, 0.024), offset=(s * EYE_HALF_SPACING, 0, 0))
            for s in (-1, 1)]
    bridge = transformed(cylinder(8), (0.0015, 0.008, 0.0015), (0, 0, 90), (0, 0.006, 0))
    temples = [transformed(box(), (0.0012, 0.002, 0.055), offset=(s * (EYE_HALF_SPACING + 0.024), 0.004, -0.055))
               for s in (-1, 1)]
    return merge(*rims, bridge, *temples)


def glasses_lenses():
    return merge(*[transformed(cylinder(24), (0.023, 0.0008, 0.018), (90, 0, 0), (s * EYE_HALF_SPACING, 0, 0))
                   for s in (-1, 1)])


def hand():
    """A stylised hand, palm facing -Z, fingers along +Y; about 18 cm long."""
    palm = transformed(sphere(), (0.042, 0.05, 0.014))
    fingers = [transformed(sphere(10, 8), (0.009, 0.04 * length, 0.009), offset=(x, 0.05 + 0.035 * length, 0))
               for x, length in ((-0.027, 0.85), (-0.009, 1.0), (0.009, 0.95), (0.027, 0.75))]
    thumb = transformed(sphere(10, 8), (0.011, 0.035, 0.011), (0, 0, 50), (0.05, 0.0, 0.005))
    return merge(palm, *fingers, thumb)


SHAPES = {"sphere": sphere(), "cube": box(), "cylinder": cylinder(), "torus": torus()}


def occluder_objects() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {"glasses_frame": glasses_frame(), "glasses_lenses": glasses_lenses(), "hand": hand()}
    out.update({"shape_" + k: v for k, v in SHAPES.items()})
    return out


def _matrix(rotation, translation, scale=1.0):
    m = np.eye(4)
    m[:3, :3] = rotation * scale
    m[:3, 3] = translation
    return m


def place(occ: Occluder, head_rotation: np.ndarray, eye_centres: np.ndarray, face_points: np.ndarray,
          camera_centre: np.ndarray) -> dict[str, np.ndarray]:
    """Object name -> 4x4 matrix (label frame) of the visible occluder objects for this sample."""
    if not occ.kind:
        return {}
    if occ.kind == "glasses":
        mid = eye_centres.mean(0)
        spacing = np.linalg.norm(eye_centres[0] - eye_centres[1]) / (2 * EYE_HALF_SPACING)
        pos = mid + head_rotation @ np.array([0.0, 0.002, 0.021])
        m = _matrix(head_rotation, pos, spacing)
        return {"glasses_frame": m, "glasses_lenses": m}
    # hand or shape: on the ray from the camera through a point of the face box, `depth` in front of the skin
    lo, hi = face_points.min(0), face_points.max(0)
    centre = (lo + hi) / 2
    target = centre + head_rotation @ (np.array([occ.position[0], occ.position[1], 0]) * (hi - lo) / 2 * 0.8)
    ray = target - camera_centre
    ray /= np.linalg.norm(ray)
    rel = face_points - camera_centre
    along = rel @ ray
    off_ray = np.linalg.norm(rel - along[:, None] * ray, axis=1)
    near = off_ray < 0.015
    surface = along[near].min() if near.any() else along.min()
    pos = camera_centre + ray * max(surface - occ.depth, 0.05)
    rot = Rotation.from_euler("xyz", occ.rotation_deg, degrees=True).as_matrix()
    if occ.kind == "hand":
        # palm towards the face, fingers roughly up, with a random twist about the view ray
        twist = Rotation.from_euler("z", occ.rotation_deg[2] * 0.4, degrees=True).as_matrix()
        return {"hand": _matrix(head_rotation @ twist, pos, occ.size / 0.06)}
    return {"shape_" + occ.shape: _matrix(rot, pos, occ.size / 2)}
