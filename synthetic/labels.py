"""Dataset layout, label format (versioned), atomic writes and the manifest. No bpy.

    DIR/manifest.json                  (or manifest-shard-K-of-N.json for a sharded run)
    DIR/images/000042.png              the render, written first
    DIR/labels/000042.npz              the labels, written last: a sample exists iff its label exists

Every file appears by an atomic rename of a fully written temporary file in the same folder, so a killed
run leaves only complete samples plus `*.tmp*` debris that the next run deletes.
The README's "Dataset format" section gives the meaning of every label array.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import numpy as np

from models.atomic_io import atomic_write as _atomic_write
from models.vocab.arkit import N_ARKIT

from . import DATASET_FORMAT, DATASET_VERSION

IMAGE_DIR = "images"
MASK_DIR = "masks"
LABEL_DIR = "labels"
TMP_MARK = ".tmp"

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


def atomic_write(path: Path, write) -> None:
    """models.atomic_io.atomic_write, with temporary names that carry TMP_MARK and the writer's pid."""
    path = Path(path)
    _atomic_write(path, write, prefix=f"{path.stem}{TMP_MARK}-{os.getpid()}-", suffix=path.suffix)


def temp_path(path: Path) -> Path:
    """A temporary name beside `path` that `clean_debris` removes (for writers that need a file name)."""
    return path.with_name(f"{path.stem}{TMP_MARK}-{os.getpid()}{path.suffix}")


def _writer_alive(name: str) -> bool:
    """Temporary names carry the writer's pid; another shard may be writing into the same folder."""
    try:
        pid = int(name.split(TMP_MARK + "-", 1)[1].split("-")[0].split(".")[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(out: Path) -> int:
    """Delete temporary files left by killed runs (not those of a live process)."""
    n = 0
    for sub in (IMAGE_DIR, MASK_DIR, LABEL_DIR, "."):
        folder = Path(out) / sub
        if folder.is_dir():
            for p in folder.iterdir():
                if TMP_MARK in p.name and p.is_file() and not _writer_alive(p.name):
                    p.unlink(missing_ok=True)
                    n += 1
    return n


def write_label(out: Path, index: int, arrays: dict[str, np.ndarray], meta: dict) -> None:
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    atomic_write(label_path(out, index), lambda f: np.savez_compressed(f, **payload))


def read_label(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "meta_json"}
        meta = json.loads(bytes(data["meta_json"]).decode())
    return arrays, meta


def is_complete(out: Path, index: int) -> bool:
    return label_path(out, index).is_file() and image_path(out, index).is_file()


def write_manifest(out: Path, shard: tuple[int, int], manifest: dict) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    atomic_write(Path(out) / manifest_name(shard), lambda f: f.write(text))


def read_manifests(out: Path) -> list[dict]:
    found = sorted(Path(out).glob("manifest*.json"))
    return [json.loads(p.read_text()) for p in found if TMP_MARK not in p.name]


def new_manifest(settings: dict, shard: tuple[int, int], indices: list[int], hdris: list[str], asset_info: dict,
                 n_vertices: int, n_identity: int, arkit_names: list[str]) -> dict:
    return {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "shard": list(shard),
        "indices": {"start": shard[0], "step": shard[1], "stop": settings["count"]},
        "n_expected": len(indices),
        "complete": False,
        "samples": [],
        "hdris": hdris,
        "asset": asset_info,
        "n_vertices": n_vertices,
        "n_identity": n_identity,
        "arkit_names": arkit_names,
        "frames": {
            "world": "FLAME head frame at zero pose: metres, +Y up, +Z out of the face, +X the character's left",
            "camera": "OpenCV: x_cam = R @ x_world + t; +z forward, +x right, +y down",
            "pixels": "origin at the top-left corner of the image; pixel (i, j) spans [j, j+1) x [i, i+1)",
        },
    }
