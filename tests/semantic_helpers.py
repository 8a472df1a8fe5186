"""A small stand-in head asset on real FLAME topology for the semantic-autoencoder tests.

Blendshapes are smooth random bumps on the face (the real ARKit rig is not needed to test the
machinery); the eyeBlink shapes move the upper lid margin onto the lower one so the lids close.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.head.asset import HeadAsset
from models.paths import shared_dir
from models.vocab.arkit import ARKIT_NAMES, OMITTED

SHARED = shared_dir() / "assets" / "flame2023_open"


def make_test_asset(n_identity: int = 10, seed: int = 0) -> HeadAsset:
    flame = np.load(SHARED / "flame2023_open_subset.npz")
    lmk = np.load(SHARED / "landmarks68_embedding.npz")
    v = flame["v_template"].astype(np.float32)
    faces = flame["faces"].astype(np.int32)
    n = len(v)
    head = np.arange(3931)
    face = np.zeros(n, bool)
    face[head] = v[head, 2] > np.percentile(v[head, 2], 55)
    rng = np.random.default_rng(seed)
    names = tuple(x for x in ARKIT_NAMES if x not in OMITTED)
    shapes = np.zeros((len(names), n, 3), np.float32)
    front = np.flatnonzero(face)
    for s in range(len(names)):
        centre = v[rng.choice(front)]
        w = np.exp(-((v - centre) ** 2).sum(1) / (2 * 0.015 ** 2))
        w[3931:] = 0
        shapes[s] = w[:, None] * rng.normal(0, 0.004, 3)
    fields = dict(
        template=v, faces=faces, identity_basis=flame["shapedirs"][:, :, :n_identity].astype(np.float32),
        shape_names=names, blendshapes=shapes, omitted=OMITTED, head_vertices=head,
        eyeball_left=np.arange(3931, 4477), eyeball_right=np.arange(4477, 5023),
        regions={"face": face}, lmk68_faces=lmk["lmk_face_idx"].astype(np.int64),
        lmk68_bary=lmk["lmk_b_coords"].astype(np.float32), mp478_faces=np.zeros(0, np.int64),
        mp478_bary=np.zeros((0, 3), np.float32), joint_names=(), joint_parents=(),
        joint_regressor=np.zeros((0, n), np.float32), skin_weights=np.zeros((n, 0), np.float32),
        props={}, eyelid_margins={}, attribution={}, builder_version=0, landmark_residual_mm=0.0,
        asymmetry_pct_as_transferred={}, info={"stand_in": True})
    for f in dataclasses.fields(HeadAsset):  # fields the semantic code never reads
        fields.setdefault(f.name, np.zeros(0, np.float32))
    asset = HeadAsset(**fields)
    from models.geometry import barycentric_points
    from models.head.eyelids import lid_margins

    skin = faces[(faces < 3931).all(1)]
    lm = barycentric_points(v, faces, asset.lmk68_faces, asset.lmk68_bary)
    asset.eyelid_margins = lid_margins(v, skin, lm)
    from models.semantic.train.losses import lid_pairs

    pairs = lid_pairs(asset)
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        k = names.index(name)
        shapes[k] = 0
        x_side = v[pairs[:, 0], 0]
        side = pairs[x_side > 0] if name == "eyeBlinkLeft" else pairs[x_side < 0]
        shapes[k, side[:, 0]] = v[side[:, 1]] - v[side[:, 0]]
    return asset
