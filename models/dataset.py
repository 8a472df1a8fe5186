"""The synthetic dataset format (`facecap-synthetic`), read by the generator, the trainers and the evaluations.

    DIR/manifest.json                  (or manifest-shard-K-of-N.json for a sharded run)
    DIR/images/000042.png              the render
    DIR/masks/000042.png               the object index per pixel (with --masks)
    DIR/labels/000042.npz              the labels: a sample exists iff its label exists

The README's "Dataset format" section gives the meaning of every label array; `synthetic.labels` writes them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.vocab.arkit import N_ARKIT

DATASET_FORMAT = "facecap-synthetic"
# 4: a person's upper body (shoulders, chest, arms) and lower upper teeth (visibility labels and the meta's body and
# skin fields changed); 3: open, talking mouths in the expression sampler and smaller faces in the framing (the labels drawn for a seed
# changed); 2: identity-specific ARKit shapes (HeadModel.shapes); 1: the template's shapes on every identity
DATASET_VERSION = 4
IMAGE_DIR = "images"
MASK_DIR = "masks"
LABEL_DIR = "labels"

# name -> (dtype, shape); V and K are filled from the manifest
LABEL_ARRAYS = {
    "identity": ("float32", ("K",)),
    "arkit_weights": ("float32", (N_ARKIT,)),
    "head_pose_deg": ("float32", (3,)),
    "head_rotation": ("float32", (3, 3)),
    "head_pose_camera_deg": ("float32", (3,)),
    "head_pivot": ("float32", (3,)),
    "gaze_deg": ("float32", (2, 2)),
    "gaze_vectors": ("float32", (2, 3)),
    "eye_centres": ("float32", (2, 3)),
    "K": ("float64", (3, 3)),
    "R": ("float64", (3, 3)),
    "t": ("float64", (3,)),
    "lmk68_2d": ("float32", (68, 2)),
    "lmk68_3d": ("float32", (68, 3)),
    "lmk68_visible": ("bool", (68,)),
    "mp478_2d": ("float32", (478, 2)),
    "mp478_3d": ("float32", (478, 3)),
    "mp478_visible": ("bool", (478,)),
    "face_box": ("float32", (4,)),
    "vertices": ("float32", ("V", 3)),
}


def image_path(out: Path, index: int) -> Path:
    return Path(out) / IMAGE_DIR / f"{index:06d}.png"


def mask_path(out: Path, index: int) -> Path:
    return Path(out) / MASK_DIR / f"{index:06d}.png"


def label_path(out: Path, index: int) -> Path:
    return Path(out) / LABEL_DIR / f"{index:06d}.npz"


def manifest_name(shard: tuple[int, int]) -> str:
    k, n = shard
    return "manifest.json" if n == 1 else f"manifest-shard-{k}-of-{n}.json"


def read_label(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "meta_json"}
        meta = json.loads(bytes(data["meta_json"]).decode())
    return arrays, meta
