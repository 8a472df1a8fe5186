"""Quality of the identity-specific shapes over random identities: what `check` adds to the asset's own metrics."""
from __future__ import annotations

import numpy as np

from ...geometry import fit_sphere
from .. import eyelids
from . import shapes
from ..asset import HeadAsset

IDENTITY_CHECK_COUNT = 100
IDENTITY_CHECK_SEED = 20261201
IDENTITY_CLIP = 2.5  # standard deviations
IDENTITY_TARGETS = {"identity_eyelid_gap_mm": ("<=", 0.5), "identity_flipped_triangles": ("==", 0),
                    "identity_lid_vertices_inside_eyeball": ("==", 0)}


def random_identities(n: int, k: int, seed: int = IDENTITY_CHECK_SEED) -> np.ndarray:
    """(n, k) identity coefficients N(0, 1) clipped to +-IDENTITY_CLIP, as the generator and training draw them."""
    return np.clip(np.random.default_rng(seed).normal(size=(n, k)), -IDENTITY_CLIP, IDENTITY_CLIP)


def identity_report(asset: HeadAsset, model, n: int = IDENTITY_CHECK_COUNT) -> dict:
    """Worst blink gap, flipped triangles and lid vertices inside the eyeball of `model.shapes` on n identities."""
    faces = asset.skin_faces
    pairs = shapes.triangle_neighbours(faces)
    margins = asset.eyelid_margins
    names = list(asset.shape_names)
    worst_gap, flipped, inside = 0.0, 0, 0
    flipped_by_shape: dict[str, int] = {}
    for beta in random_identities(n, asset.n_identity):
        neutral = model.neutral(beta)[0]
        s = model.shapes(beta)
        for side, eyeball in (("left", asset.eyeball_left), ("right", asset.eyeball_right)):
            closed = neutral + s[names.index("eyeBlink" + side.capitalize())]
            worst_gap = max(worst_gap, eyelids.lid_gap_mm(closed, margins[side]))
            centre, radius = fit_sphere(neutral[eyeball])
            inside += eyelids.inside_eyeball_count(neutral, closed, faces, centre, radius)
        for k, name in enumerate(names):
            count = len(shapes.folded_triangles(neutral, neutral + s[k], faces, pairs))
            if count:
                flipped += count
                flipped_by_shape[name] = flipped_by_shape.get(name, 0) + count
    return {"identities": n, "identity_clip_sd": IDENTITY_CLIP,
            "identity_eyelid_gap_mm": round(worst_gap, 4),
            "identity_flipped_triangles": flipped,
            "identity_flipped_by_shape": flipped_by_shape,
            "identity_lid_vertices_inside_eyeball": inside}
