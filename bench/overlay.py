"""An image of a method's predicted meshes drawn over frames of every view (posed and projected with the
frame's ground-truth head pose and camera, so what differs from the face is the expression)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.atomic_io import atomic_path
from models.geometry import edges_of

SCALE = 3  # frames are small: drawn enlarged so the wireframe stays readable


def project(points: np.ndarray, arrays: dict) -> np.ndarray:
    """(N, 2) pixels of points in the label frame, with the label's OpenCV camera."""
    pc = points @ arrays["R"].T + arrays["t"]
    k = arrays["K"]
    return pc[:, :2] / pc[:, 2:3] * np.array([k[0, 0], k[1, 1]]) + k[:2, 2]


def posed(vertices: np.ndarray, arrays: dict) -> np.ndarray:
    """Unposed head-frame vertices moved by the label's head rotation about its pivot."""
    pivot = arrays["head_pivot"].astype(np.float64)
    return (vertices - pivot) @ arrays["head_rotation"].astype(np.float64).T + pivot


def write_overlay(path: Path, asset, subject, predictions: dict, method: str, per_view: int = 3) -> Path:
    """One row per view, `per_view` frames (first, middle, last) each, the wireframe of the MultiREX regions in green."""
    from models.dataset import image_path

    from models.metrics.multirex import regions_from_masks

    face = np.zeros(asset.n_vertices, bool)
    for ids in regions_from_masks(asset.regions).values():
        face[ids] = True
    faces = asset.faces[face[asset.faces].all(1)]
    edges = edges_of(faces)
    rows = []
    for clip in subject.clips:
        pred = predictions[(subject.identity, clip.yaw)]
        picks = np.unique(np.linspace(0, clip.frames - 1, per_view).round().astype(int))
        tiles = []
        for f in picks:
            arrays = subject.labels[clip.yaw][f]
            image = cv2.imread(str(image_path(clip.folder, int(f))), cv2.IMREAD_COLOR)
            image = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
            uv = project(posed(pred[f], arrays), arrays) * SCALE
            for a, b in edges:
                cv2.line(image, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)),
                         (60, 220, 60), 1, cv2.LINE_AA)
            cv2.putText(image, f"{method} yaw {clip.yaw:+d} frame {f}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(image)
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    with atomic_path(Path(path)) as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise OSError(f"could not write {path}")
    return Path(path)
