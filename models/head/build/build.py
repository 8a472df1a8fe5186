"""Build the head asset from FLAME 2023 Open and ICT-FaceKit, cached by a hash of its inputs."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ...geometry import barycentric_points, components, fit_sphere, triangulate_quads
from .. import eyelids
from . import regions, registration, rigging, shapes
from ...vocab import landmarks68 as L68
from ...vocab.arkit import MIRROR_PAIRS, OMITTED
from ..asset import JOINT_NAMES, JOINT_PARENTS, AssetError, HeadAsset, load_asset_file, save_asset
from .mediapipe_fit import fit_mediapipe_correspondence
from .props import build_props
from ...model_files import sha256_file
from ...paths import cache_dir
from .sources import (default_flame_path, default_ict_path, default_landmarks_path, load_flame,
                      load_ict)

BUILDER_VERSION = 1
BACK_OF_HEAD = 0.02  # metres behind the ears over which expressions fade out
ICT_SKIN_REGIONS = ("face", "head_neck", "mouth_socket", "eye_socket_L", "eye_socket_R")
ATTRIBUTION = {
    "FLAME 2023 Open": "Max Planck Institute for Intelligent Systems, CC BY 4.0. T. Li, T. Bolkart, M. J. Black, "
                       "H. Li, J. Romero, 'Learning a model of facial shape and expression from 4D scans', ACM TOG "
                       "(SIGGRAPH Asia) 2017. Changes: subset of components; expression rig added. The FLAME "
                       "licence forbids pornographic use and fake, libelous, misleading or defamatory content.",
    "ICT-FaceKit": "MIT, Copyright (c) 2020 USC Institute for Creative Technologies. Expression shapes, teeth, "
                   "gums/tongue and eyeballs transferred to FLAME topology.",
}


def input_key(flame: Path, landmarks: Path, ict: Path) -> str:
    h = hashlib.sha256(f"builder-v{BUILDER_VERSION}".encode())
    # the builder's own code is an input too: a changed algorithm never serves a stale asset
    models = Path(__file__).resolve().parents[2]
    sources = [*sorted((models / "head" / "build").glob("*.py")), *sorted((models / "head").glob("*.py")),
               *sorted((models / "vocab").glob("*.py")), models / "geometry.py", models / "raster.py"]
    for source in sources:
        h.update(source.read_bytes())
    for path in (flame, landmarks, ict):
        if not Path(path).is_file():
            h.update(b"missing")
            continue
        h.update(sha256_file(path).encode())
    return h.hexdigest()[:16]


def load_head_asset(flame: Path | None = None, landmarks: Path | None = None, ict: Path | None = None,
                    cache: Path | None = None, rebuild: bool = False, log=print) -> HeadAsset:
    """The head asset for these inputs: from the cache, or built (and cached) when missing or stale."""
    path = asset_path(flame, landmarks, ict, cache)
    if path.is_file() and not rebuild:
        try:
            return load_asset_file(path)
        except AssetError as exc:
            log(f"cached head asset is unusable ({exc}); rebuilding")
    asset = build_head_asset(flame, landmarks, ict, log=log)
    save_asset(asset, path)
    log(f"head asset written to {path}")
    return asset


def asset_path(flame: Path | None = None, landmarks: Path | None = None, ict: Path | None = None,
               cache: Path | None = None) -> Path:
    flame = Path(flame or default_flame_path())
    landmarks = Path(landmarks or default_landmarks_path())
    ict = Path(ict or default_ict_path())
    return Path(cache or cache_dir()) / f"head-v{BUILDER_VERSION}-{input_key(flame, landmarks, ict)}.npz"


def build_head_asset(flame_path: Path | None = None, landmarks_path: Path | None = None,
                     ict_path: Path | None = None, log=print) -> HeadAsset:
    t0 = time.time()
    flame = load_flame(flame_path, landmarks_path)
    ict = load_ict(ict_path)
    template, faces = flame.template, flame.faces
    head, eyeball_left, eyeball_right = flame_parts(template, faces)
    skin_faces = faces[np.isin(faces, head).all(1)]
    landmarks68 = barycentric_points(template, faces, flame.lmk68_faces, flame.lmk68_bary)

    log("aligning ICT-FaceKit to FLAME and registering the surfaces")
    sim, corr, ict_skin_tris = register_ict(ict, flame, head, skin_faces, landmarks68)
    log(f"  landmark residual {corr.landmark_residual_mm:.2f} mm")

    log("transferring the ARKit shapes")
    deltas = shapes.arkit_deltas(ict.expr_names, ict.expr_deltas)
    names, blend = shapes.transfer_displacements(deltas, sim.apply_vector, ict_skin_tris, corr.triangles,
                                                 corr.bary, head, len(template))
    falloff = back_of_head_falloff(template, landmarks68)[None, :, None]
    blend *= falloff
    mirror = shapes.mirror_map(template, [(head, head), (eyeball_left, eyeball_right),
                                          (eyeball_right, eyeball_left)])
    asymmetry_transferred = shapes.asymmetry_pct(names, blend, mirror)
    margins = eyelids.lid_margins(template, skin_faces, landmarks68)
    spheres = {side: fit_sphere(template[ids]) for side, ids in (("left", eyeball_left), ("right", eyeball_right))}
    blend = finish_shapes(names, blend, template, skin_faces, mirror, margins, spheres, falloff)

    log("regions, rig, landmarks and props")
    region_masks = regions.compute_regions(template, skin_faces, blend, landmarks68)
    regressor, weights = rigging.build_rig(template, faces, head, eyeball_left, eyeball_right, landmarks68,
                                           blend[names.index("jawOpen")])
    head_mask = np.zeros(len(template), bool)
    head_mask[head] = True
    lips = region_masks["mouth"] & _near(template, landmarks68[list(L68.LIPS_OUTER)], 0.006)
    brows = head_mask & _near(template, landmarks68[list(L68.BROWS)], 0.006)
    mp_tri, mp_bary, mp_spread = fit_mediapipe_correspondence(template, faces, np.isin(faces, head).all(1),
                                                              eyeball_left, eyeball_right, lips, brows)
    jaw_pivot = regressor[JOINT_NAMES.index("jaw")] @ template
    props, jaw_motion = build_props(ict, sim.apply, sim.apply_vector, template, corr.registered, head, spheres,
                                    deltas, names, jaw_pivot)
    anchors = np.where(region_masks["mouth"] | region_masks["nose"] | region_masks["chin_jaw"])[0]

    info = {
        "inputs": {"flame": str(flame_path or default_flame_path()), "flame_kind": flame.kind,
                   "landmarks": str(landmarks_path or default_landmarks_path()),
                   "ict": str(ict_path or default_ict_path())},
        "similarity_scale": sim.scale,
        "registration_distance_mm_p50_p99": [float(np.percentile(corr.distance, q) * 1000) for q in (50, 99)],
        "mediapipe_spread_mm_median": float(np.median(mp_spread) * 1000),
        "processing": ["displacement transfer through zoned dense correspondence",
                       "blink corrective (lids meet 30% of the way from the lower lid, 0.5 mm off the eyeball)",
                       "Left/Right pairs averaged into exact mirror images",
                       "folds removed by a minimal local optimisation (lid margins held stiff)"],
        "build_seconds": round(time.time() - t0, 1),
    }
    log(f"head asset built in {time.time() - t0:.0f} s")
    return HeadAsset(
        template=template.astype(np.float32), faces=faces.astype(np.int32),
        identity_basis=flame.identity_basis.astype(np.float32), shape_names=names,
        blendshapes=blend.astype(np.float32), omitted=tuple(OMITTED), head_vertices=head,
        eyeball_left=eyeball_left, eyeball_right=eyeball_right, regions=region_masks,
        lmk68_faces=flame.lmk68_faces, lmk68_bary=flame.lmk68_bary.astype(np.float32),
        mp478_faces=mp_tri, mp478_bary=mp_bary.astype(np.float32),
        joint_names=JOINT_NAMES, joint_parents=JOINT_PARENTS, joint_regressor=regressor,
        skin_weights=weights, props=props, prop_anchor_ids=anchors, jaw_shape_motion=jaw_motion,
        mirror=mirror, eyelid_margins=margins, attribution=dict(ATTRIBUTION), builder_version=BUILDER_VERSION,
        landmark_residual_mm=float(corr.landmark_residual_mm),
        asymmetry_pct_as_transferred={k: float(v) for k, v in asymmetry_transferred.items()},
        info=json.loads(json.dumps(info)),
    )


def flame_parts(template: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertex ids of the head (the largest part) and of the left (+X) and right eyeballs."""
    labels = components(faces, len(template))
    sizes = np.bincount(labels)
    head_label = sizes.argmax()
    head = np.where(labels == head_label)[0]
    eyes = [np.where(labels == k)[0] for k in range(len(sizes)) if k != head_label]
    if len(eyes) != 2:
        raise AssetError(f"FLAME mesh has {len(sizes)} parts; expected the head and two eyeballs")
    eyeball_left, eyeball_right = sorted(eyes, key=lambda ids: -template[ids, 0].mean())  # +X is left
    return head, eyeball_left, eyeball_right


def register_ict(ict, flame, head, skin_faces, landmarks68):
    """ICT-FaceKit aligned onto FLAME (a similarity) and FLAME's head registered onto ICT's skin, zone by zone.

    Returns the similarity, the correspondence and ICT's skin triangles."""
    sim = registration.align_similarity(ict.neutral[ict.landmarks68], landmarks68)
    ict_aligned = sim.apply(ict.neutral)
    ict_tris = triangulate_quads(ict.quads)
    skin_mask = np.zeros(len(ict_aligned), bool)
    for name in ICT_SKIN_REGIONS:
        a, b = ict.regions[name]
        skin_mask[a:b + 1] = True
    ict_skin_tris = ict_tris[skin_mask[ict_tris].all(1)]
    ict_lm = ict_aligned[ict.landmarks68]
    target_zones = registration.split_lips_geodesic(
        registration.zone_labels(ict_aligned, ict_lm), ict_aligned, ict_skin_tris, ict_lm)
    source_zones = registration.split_lips_geodesic(
        registration.zone_labels(flame.template, landmarks68), flame.template, skin_faces, landmarks68)
    corr = registration.register(flame.template, flame.faces, head, flame.lmk68_faces, flame.lmk68_bary,
                                 ict_aligned, ict_skin_tris, ict_lm, source_zones=source_zones,
                                 target_zones=target_zones)
    return sim, corr, ict_skin_tris


def finish_shapes(names, blend, template, skin_faces, mirror, margins, spheres, falloff):
    """Symmetrise the pairs, close the lids and remove folds, keeping Left the mirror image of Right.

    Right and unpaired shapes are finished first; each Left shape is then the mirror of its Right
    partner, finished again on its own side because the mirror map is inexact by a vertex here and there.
    """
    margin_ids = np.zeros(len(template), bool)
    for m in margins.values():
        margin_ids[np.r_[m.upper, m.lower]] = True

    def finish(shape, name, mirrored):
        side = {"eyeBlinkLeft": "left", "eyeBlinkRight": "right"}.get(name)
        if side:
            shape = eyelids.close_lids(template, shape, skin_faces, margins[side], *spheres[side])
            shape = eyelids.keep_outside_eyeball(template, shape, skin_faces, *spheres[side])
        if not mirrored:  # smooth folds away where that is enough; a mirrored shape needs only the last touches
            shape = shapes.repair_folds(template, shape, skin_faces, pinned=margin_ids if side else None)
        # what smoothing cannot remove (folds at the lid corners) goes with the margins held
        shape = shapes.unfold(template, shape * falloff.reshape(-1, 1), skin_faces, stiff=margin_ids)
        if side:
            shape = eyelids.keep_outside_eyeball(template, shape, skin_faces, *spheres[side])
        return shape

    blend = shapes.symmetrize_pairs(names, blend, mirror)
    lefts = {left: right for left, right in MIRROR_PAIRS}
    for k, name in enumerate(names):
        if name not in lefts:
            blend[k] = finish(blend[k], name, mirrored=False)
    for k, name in enumerate(names):
        if name in lefts:
            blend[k] = finish(shapes.mirror_displacement(blend[names.index(lefts[name])], mirror), name, mirrored=True)
    return blend


def _near(points: np.ndarray, targets: np.ndarray, radius: float) -> np.ndarray:
    return np.linalg.norm(points[:, None] - targets[None], axis=2).min(1) < radius


def back_of_head_falloff(template: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """1 in front of the ears, 0 from 2 cm behind them: expressions never reach the back of the head."""
    ear_z = 0.5 * (landmarks68[L68.JAW_END["right"], 2] + landmarks68[L68.JAW_END["left"], 2])
    x = np.clip((template[:, 2] - (ear_z - BACK_OF_HEAD)) / BACK_OF_HEAD, 0, 1)
    return x * x * (3 - 2 * x)
