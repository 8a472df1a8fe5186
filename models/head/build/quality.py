"""Measurements of the head asset: what `python -m models.head check` reports."""
from __future__ import annotations

import numpy as np

from ...geometry import fit_sphere
from .. import eyelids
from . import shapes
from ..asset import HeadAsset

TARGETS = {"eyelid_gap_mm": ("<", 0.5), "mirror_asymmetry_pct": ("<", 5.0), "flipped_triangles": ("==", 0),
           "landmark_residual_mm": ("<", 2.0)}


def check(asset: HeadAsset, identities: int = 0) -> dict:
    """The asset's metrics; with `identities` > 0 also those of HeadModel.shapes on that many random identities."""
    template = asset.template.astype(np.float64)
    blend = asset.blendshapes.astype(np.float64)
    names = list(asset.shape_names)
    faces = asset.skin_faces
    gaps, inside = {}, 0
    for side in ("left", "right"):
        closed = template + blend[names.index("eyeBlink" + side.capitalize())]
        gaps[side] = eyelids.eyelid_gap_mm(asset, closed, (side,))
        eyeball = asset.eyeball_left if side == "left" else asset.eyeball_right
        centre, radius = fit_sphere(template[eyeball])
        inside += eyelids.inside_eyeball_count(template, closed, faces, centre, radius)
    pairs = shapes.triangle_neighbours(faces)
    flipped = {n: int(len(shapes.folded_triangles(template, template + blend[k], faces, pairs)))
               for k, n in enumerate(names)}
    asym = shapes.asymmetry_pct(names, blend, asset.mirror)
    report = {
        "shapes": names,
        "omitted": list(asset.omitted),
        "eyelid_gap_mm": round(max(gaps.values()), 4),
        "eyelid_gap_mm_open": round(eyelids.eyelid_gap_mm(asset, template), 3),
        "lid_vertices_inside_eyeball": inside,
        "mirror_asymmetry_pct": round(max(asym.values()), 4),
        "mirror_asymmetry_pct_as_transferred": round(max(asset.asymmetry_pct_as_transferred.values()), 2),
        "flipped_triangles": int(sum(flipped.values())),
        "flipped_by_shape": {k: v for k, v in flipped.items() if v},
        "landmark_residual_mm": round(asset.landmark_residual_mm, 4),
        "mediapipe_landmarks": int(len(asset.mp478_faces)),
    }
    report["targets_met"] = all(_meets(report[key], op, value) for key, (op, value) in TARGETS.items())
    if identities:
        from .identity_quality import IDENTITY_TARGETS, identity_report
        from ..model import HeadModel

        report.update(identity_report(asset, HeadModel(asset), identities))
        report["identity_targets_met"] = all(_meets(report[key], op, value)
                                             for key, (op, value) in IDENTITY_TARGETS.items())
    return report


def _meets(value, op, target) -> bool:
    return {"<": value < target, "<=": value <= target, "==": value == target}[op]
