"""ICT-FaceKit's teeth, gums/tongue and eyeballs as props in the FLAME frame, and their jaw motion."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ...geometry import fit_sphere, similarity_transform, triangulate_quads
from ..asset import Prop

JAW_MOVE_THRESHOLD = 0.001  # metres a vertex moves in jawOpen to count as riding on the jaw


def _submesh(vertices, quads, faces_uv, uv, ids):
    index_of = -np.ones(len(vertices), int)
    index_of[ids] = np.arange(len(ids))
    keep = (index_of[quads] >= 0).all(1)
    tris = triangulate_quads(index_of[quads[keep]])
    per_vertex_uv = np.zeros((len(ids), 2))
    corner_v = index_of[quads[keep]].ravel()
    corner_uv = uv[faces_uv[keep].ravel()]
    per_vertex_uv[corner_v] = corner_uv
    return vertices[ids], tris, per_vertex_uv


def _kabsch_motion(points, moved, pivot):
    """Rotation vector and translation with moved ~ R (points - pivot) + pivot + t."""
    s, r, t = similarity_transform(points, moved)
    del s  # a rigid jaw: the scale of a near-rigid fit is ~1 and is not carried
    rotvec = Rotation.from_matrix(r).as_rotvec()
    translation = (r @ pivot + t) - pivot
    return np.r_[rotvec, translation]


def build_props(ict, to_flame, to_flame_vector, template, registered, head, eyeball_spheres,
                shape_deltas: dict[str, np.ndarray], shape_names, jaw_pivot):
    """Props in the FLAME template frame and the (S, 6) jaw motion of each ARKit shape.

    ICT geometry is first placed by the landmark similarity, then moved by the local difference between
    FLAME's template and its registration onto ICT, so the teeth sit behind FLAME's lips, not ICT's.
    """
    tree = cKDTree(registered)
    offset_of_head = template[head] - registered

    def to_template_frame(points):
        dist, idx = tree.query(points, k=8)
        w = 1.0 / np.maximum(dist, 1e-5) ** 2
        w /= w.sum(1, keepdims=True)
        return points + np.einsum("pk,pkc->pc", w, offset_of_head[idx])

    def region(name):
        a, b = ict.regions[name]
        return np.arange(a, b + 1)

    jaw_open = np.linalg.norm(ict.expr_deltas[ict.expr_names.index("jawOpen")], axis=1)
    props = {}
    for name, ids in (("teeth", region("teeth")), ("gums", region("gums_tongue"))):
        on_jaw = jaw_open[ids] > JAW_MOVE_THRESHOLD
        for part, sel in (("upper", ~on_jaw), ("lower", on_jaw)):
            label = {"teeth": f"teeth_{part}", "gums": "gums_upper" if part == "upper" else "gums_tongue"}[name]
            v, f, uv = _submesh(ict.neutral, ict.quads, ict.faces_uv, ict.uv, ids[sel])
            props[label] = Prop(to_template_frame(to_flame(v)).astype(np.float32), f, uv.astype(np.float32),
                                "skull" if part == "upper" else "jaw")
    for side, ict_region in (("left", "eyeball_L"), ("right", "eyeball_R")):
        v, f, uv = _submesh(ict.neutral, ict.quads, ict.faces_uv, ict.uv, region(ict_region))
        v = to_flame(v)
        centre, radius = fit_sphere(v)
        target_centre, target_radius = eyeball_spheres[side]
        v = (v - centre) * (target_radius / radius) + target_centre
        props[f"eyeball_{side}"] = Prop(v.astype(np.float32), f, uv.astype(np.float32), f"eye_{side}")

    lower = props["teeth_lower"].vertices.astype(np.float64)
    teeth_ids = region("teeth")[jaw_open[region("teeth")] > JAW_MOVE_THRESHOLD]
    motion = np.zeros((len(shape_names), 6))
    for k, name in enumerate(shape_names):
        delta = to_flame_vector(shape_deltas[name][teeth_ids])
        if np.abs(delta).max() > 1e-5:
            motion[k] = _kabsch_motion(lower, lower + delta, jaw_pivot)
    return props, motion
