"""Posed geometry of one sample from the numpy HeadModel: the single source of truth for render and labels.

All positions are in the label frame (FLAME frame: metres, Y up, face towards +Z at zero pose).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from models.geometry import barycentric_points, boundary_edges, edges_of
from models.head import HeadAsset, HeadModel
from models.vocab import landmarks68 as L68

from .camera import head_rotation, rotation_x, rotation_y
from .sampling import SampleParams

MOUTH_PROPS = ("teeth_upper", "teeth_lower", "gums_upper", "gums_tongue")
# The asset places the upper incisal edge 2-3 mm above the inner edge of the upper lip, so open mouths showed no
# upper teeth; in a relaxed open mouth they show a few millimetres below the lip. The upper teeth and gums are moved
# down (head frame) until their lowest point is UPPER_TEETH_SHOW below the identity's neutral inner upper lip.
UPPER_TEETH_SHOW = 0.0035
UPPER_TEETH_MAX_DROP = 0.0055
UPPER_PROPS = ("teeth_upper", "gums_upper")
UPPER_INNER_LIP_68 = 62


def upper_teeth_drop(neutral_lmk68: np.ndarray, teeth_upper: np.ndarray) -> float:
    """Metres to move the upper teeth and gums down (head frame) so the incisors show below the upper lip."""
    target = neutral_lmk68[UPPER_INNER_LIP_68, 1] - UPPER_TEETH_SHOW
    return float(np.clip(teeth_upper[:, 1].min() - target, 0.0, UPPER_TEETH_MAX_DROP))


@dataclasses.dataclass
class HeadStatics:
    """Per-asset data the generator derives once."""

    face_points: np.ndarray  # vertex ids whose projected box is the face box
    edges: np.ndarray  # (E, 2) skin edges, for the wrinkle map
    eye_ids: tuple[np.ndarray, np.ndarray]  # left, right eyeball vertex ids
    neck_ring: np.ndarray  # vertex ids of the open boundary at the bottom of the neck


@dataclasses.dataclass
class Posed:
    vertices: np.ndarray  # (V, 3) float32 FLAME-topology vertices, posed
    props: dict[str, np.ndarray]  # mouth prop name -> (N, 3) float32
    lmk68: np.ndarray  # (68, 3)
    mp478: np.ndarray  # (478, 3)
    head_rotation: np.ndarray  # (3, 3) rotation applied to the whole head about `pivot`
    pivot: np.ndarray  # (3,) neck joint
    eye_centres: np.ndarray  # (2, 3) left, right
    gaze_vectors: np.ndarray  # (2, 3) unit gaze directions, left, right
    compression: np.ndarray  # (V,) 0..1, how much the skin is squeezed at each vertex (wrinkles)
    neck_ring_centre: np.ndarray  # (3,) centre of the neck opening, posed


def head_statics(asset: HeadAsset) -> HeadStatics:
    v = asset.template
    lmk = landmarks(asset, v[None])[0]
    ear_right, ear_left = L68.JAW_END["right"], L68.JAW_END["left"]
    brow_top = lmk[list(L68.BROWS), 1].max() + 0.045
    chin = lmk[L68.CHIN, 1]
    ear_z = min(lmk[ear_right, 2], lmk[ear_left, 2])
    x_lo, x_hi = lmk[ear_right, 0], lmk[ear_left, 0]
    skin = np.zeros(len(v), bool)
    skin[asset.head_vertices] = True
    front = skin & (v[:, 1] >= chin - 0.005) & (v[:, 1] <= brow_top) & (v[:, 2] >= ear_z) \
        & (v[:, 0] >= x_lo - 0.005) & (v[:, 0] <= x_hi + 0.005)
    skin_faces = asset.skin_faces
    e = edges_of(skin_faces)
    boundary = np.unique(boundary_edges(skin_faces))
    neck_ring = boundary[v[boundary, 1] < chin]  # open edges below the chin
    return HeadStatics(face_points=np.where(front)[0], edges=e,
                       eye_ids=(np.asarray(asset.eyeball_left), np.asarray(asset.eyeball_right)),
                       neck_ring=neck_ring)


def landmarks(asset: HeadAsset, vertices: np.ndarray, which: str = "lmk68") -> np.ndarray:
    """(B, L, 3) landmark positions from barycentric embeddings."""
    return barycentric_points(vertices, asset.faces, getattr(asset, f"{which}_faces"), getattr(asset, f"{which}_bary"))


def eye_rotvec(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    return Rotation.from_matrix(rotation_y(yaw_deg) @ rotation_x(-pitch_deg)).as_rotvec()


def compression(rest: np.ndarray, shaped: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-vertex skin compression (0 = none, 1 = edges at half length or less), where wrinkles form."""
    l0 = np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)
    l1 = np.linalg.norm(shaped[edges[:, 0]] - shaped[edges[:, 1]], axis=1)
    squeeze = np.clip((1 - l1 / np.maximum(l0, 1e-9)) * 2, 0, 1)
    total = np.bincount(edges.ravel(), np.repeat(squeeze, 2), minlength=len(rest))
    count = np.bincount(edges.ravel(), minlength=len(rest))
    return (total / np.maximum(count, 1)).astype(np.float32)


def pose_sample(model: HeadModel, statics: HeadStatics, p: SampleParams) -> Posed:
    asset = model.asset
    eye_l = eye_rotvec(*p.gaze_deg[0])
    eye_r = eye_rotvec(*p.gaze_deg[1])
    args = dict(identity=p.identity[None], weights=p.expression[None], eye_left=eye_l[None], eye_right=eye_r[None])
    verts, joints = model.vertices(**args, return_joints=True)
    props = model.place_props(**args)
    neutral = model.neutral(p.identity[None])[0]
    shaped = model.shaped(p.identity[None], p.expression[None])[0]

    drop = upper_teeth_drop(landmarks(asset, neutral[None])[0], props["teeth_upper"][0]) \
        if "teeth_upper" in props else 0.0
    rot = head_rotation(*p.head_pose_deg)
    pivot = joints[0, asset.joint_names.index("neck")]

    def place(x):
        return ((x - pivot) @ rot.T + pivot).astype(np.float32)

    verts = place(verts[0])
    eye_centres = np.stack([place(joints[0, asset.joint_names.index(n)][None])[0] for n in ("eye_left", "eye_right")])
    gaze = []
    for rv in (eye_l, eye_r):
        gaze.append(rot @ Rotation.from_rotvec(rv).as_matrix() @ np.array([0.0, 0.0, 1.0]))
    return Posed(
        vertices=verts,
        props={name: place(props[name][0] - np.array([0.0, drop if name in UPPER_PROPS else 0.0, 0.0]))
               for name in MOUTH_PROPS if name in props},
        lmk68=landmarks(asset, verts[None])[0].astype(np.float32),
        mp478=landmarks(asset, verts[None], "mp478")[0].astype(np.float32),
        head_rotation=rot.astype(np.float32),
        pivot=pivot.astype(np.float32),
        eye_centres=eye_centres.astype(np.float32),
        gaze_vectors=np.array(gaze, np.float32),
        compression=compression(neutral, shaped, statics.edges),
        neck_ring_centre=verts[statics.neck_ring].mean(0) if len(statics.neck_ring) else pivot.astype(np.float32),
    )
