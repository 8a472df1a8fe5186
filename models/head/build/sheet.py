"""Contact sheet: every ARKit shape at weight 1 on three identities, rendered with the numpy rasteriser."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...atomic_io import atomic_path
from ...raster import look_at_camera, shade
from ..asset import HeadAsset
from ..model import HeadModel

SHEET_IDENTITIES = {"mean": 0.0, "+2 sd": 2.0, "-2 sd": -2.0}


def identity_coefficients(asset: HeadAsset, label: str) -> np.ndarray:
    """Fixed identities: the mean, and +/-2 along the first components (alternating sign for variety)."""
    scale = SHEET_IDENTITIES[label]
    beta = np.zeros(asset.n_identity)
    k = min(4, asset.n_identity)
    beta[:k] = scale * np.array([1.0, -0.6, 0.8, -0.5])[:k]
    return beta


def vertex_colours(asset: HeadAsset) -> np.ndarray:
    colours = np.tile([0.8, 0.63, 0.53], (asset.n_vertices, 1))
    colours[asset.eyeball_left] = colours[asset.eyeball_right] = [0.92, 0.92, 0.9]
    for eyeball in (asset.eyeball_left, asset.eyeball_right):
        p = asset.template[eyeball]
        d = p - p.mean(0)
        cos = d[:, 2] / np.linalg.norm(d, axis=1)
        colours[eyeball[cos > 0.82]] = [0.3, 0.22, 0.15]
        colours[eyeball[cos > 0.95]] = [0.02, 0.02, 0.02]
    return colours


def write_contact_sheet(asset: HeadAsset, path: Path, tile: int = 200, columns: int = 13) -> Path:
    import cv2

    model = HeadModel(asset)
    colours = vertex_colours(asset)
    names = ["neutral"] + list(asset.shape_names)
    rows_per_identity = int(np.ceil(len(names) / columns))
    blocks = []
    for label in SHEET_IDENTITIES:
        beta = identity_coefficients(asset, label)
        weights = np.vstack([np.zeros(len(asset.shape_names)), np.eye(len(asset.shape_names))])
        verts = model.vertices(np.repeat(beta[None], len(names), 0), weights)
        centre = verts[0, asset.head_vertices].mean(0) * [0, 1, 0] + [0, -0.01, 0.0]
        cam = look_at_camera(centre, 0.42, yaw_deg=18, pitch_deg=-4, fov_deg=30, size=(tile, tile))
        tiles = []
        for name, v in zip(names, verts):
            img = shade(v, asset.faces, cam, colours)
            cv2.putText(img, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(img)
        tiles += [np.zeros_like(tiles[0])] * (rows_per_identity * columns - len(tiles))
        block = np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows_per_identity)])
        header = np.full((28, block.shape[1], 3), 30, np.uint8)
        cv2.putText(header, f"identity: {label}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                    cv2.LINE_AA)
        blocks += [header, block]
    sheet = np.vstack(blocks)
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), sheet[..., ::-1]):
            raise OSError(f"could not write the contact sheet to {path}")
    return path
