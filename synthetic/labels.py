"""The generator's side of the dataset format (`models.dataset`): atomic writes, temporary names, cheap sample
checks and the manifest. No bpy.

    DIR/manifest.json                  (or manifest-shard-K-of-N.json for a sharded run)
    DIR/images/000042.png              the render, written first
    DIR/labels/000042.npz              the labels, written last: a sample exists iff its label exists

Every file appears by an atomic rename of a fully written temporary file in the same folder, so a killed
run leaves only complete samples plus temporary files (`NNNNNN.tmp-PID*.png|npz`, `manifest*.tmp-PID-*.json`)
that the next run deletes; no other file is ever deleted.
The README's "Dataset format" section gives the meaning of every label array.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from models.atomic_io import atomic_write as _atomic_write
from models.dataset import (DATASET_FORMAT, DATASET_VERSION, IMAGE_DIR, LABEL_ARRAYS, LABEL_DIR,  # noqa: F401
                            MASK_DIR, image_path, label_path, manifest_name, mask_path, read_label)

from .config import ConfigError

TMP_MARK = ".tmp"
# the exact temporary names this generator writes (PID = the writer's process id): temp_path gives
# NNNNNN.tmp-PID.png, Blender's mask output appends "index" to it, atomic_write adds -random letters
_SAMPLE_TMP = re.compile(r"\d{6}\.tmp-(\d+)(?:-[a-z0-9_]+|index)?\.(?:png|npz)")
_ROOT_TMP = re.compile(r"(?:manifest(?:-shard-\d+-of-\d+)?|contact_sheet)\.tmp-(\d+)-[a-z0-9_]+\.(?:json|png)")
PNG_START = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk every complete PNG ends with


def atomic_write(path: Path, write) -> None:
    """models.atomic_io.atomic_write, with temporary names that carry TMP_MARK and the writer's pid."""
    path = Path(path)
    _atomic_write(path, write, prefix=f"{path.stem}{TMP_MARK}-{os.getpid()}-", suffix=path.suffix)


def temp_path(path: Path) -> Path:
    """A temporary name beside `path` that `clean_debris` removes (for writers that need a file name)."""
    return path.with_name(f"{path.stem}{TMP_MARK}-{os.getpid()}{path.suffix}")


def temp_writer(sub: str, name: str) -> int | None:
    """The writer's pid when `name` in subfolder `sub` ("." for the dataset folder) is one of this generator's
    temporary files, else None (a file the user owns, never touched)."""
    pattern = _ROOT_TMP if sub == "." else _SAMPLE_TMP if sub in (IMAGE_DIR, MASK_DIR, LABEL_DIR) else None
    match = pattern.fullmatch(name) if pattern else None
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    """Temporary names carry the writer's pid; another shard may be writing into the same folder."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(out: Path, abandoned=None, subfolders=(IMAGE_DIR, MASK_DIR, LABEL_DIR, ".")) -> int:
    """Delete this generator's temporary files whose writer `abandoned(pid)` says is gone (default: a process that
    no longer runs on this machine; never those of a live process); returns how many."""
    abandoned = abandoned or (lambda pid: not _alive(pid))
    n = 0
    for sub in subfolders:
        folder = Path(out) / sub
        if folder.is_dir():
            for p in folder.iterdir():
                pid = temp_writer(sub, p.name)
                if pid is not None and p.is_file() and abandoned(pid):
                    p.unlink(missing_ok=True)
                    n += 1
    return n


def write_label(out: Path, index: int, arrays: dict[str, np.ndarray], meta: dict) -> None:
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    atomic_write(label_path(out, index), lambda f: np.savez_compressed(f, **payload))


def png_problem(path: Path, size: int) -> str | None:
    """What is wrong with a PNG that should be size x size, from its header and last bytes only, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
            handle.seek(-len(PNG_END), os.SEEK_END)
            tail = handle.read()
    except OSError:
        return "is missing or unreadable"
    if not head.startswith(PNG_START):
        return "is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    if (width, height) != (size, size):
        return f"is {width}x{height}, expected {size}x{size}"
    return None if tail == PNG_END else "is truncated"


def sample_problem(out: Path, index: int, resolution: int, masks: bool) -> str | None:
    """Why sample `index` is missing or unusable, or None when it is complete: cheap checks (the label opens
    and its metadata parses, the image and mask headers have the right size and the files are not cut short),
    not the full check `verify` makes."""
    label = label_path(out, index)
    if not label.is_file():
        return "no label"
    try:
        with np.load(label, allow_pickle=False) as data:
            json.loads(bytes(data["meta_json"]).decode())
    except Exception as exc:  # any failure to open or parse means a damaged file
        return f"label is unreadable: {type(exc).__name__}"
    files = [("image", image_path(out, index))] + ([("mask", mask_path(out, index))] if masks else [])
    for what, path in files:
        problem = png_problem(path, resolution)
        if problem:
            return f"{what} {problem}"
    return None


def write_manifest(out: Path, shard: tuple[int, int], manifest: dict) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    atomic_write(Path(out) / manifest_name(shard), lambda f: f.write(text))


def read_manifests(out: Path) -> list[dict]:
    """The dataset's manifests; a damaged one is a ConfigError naming it (nothing is overwritten)."""
    manifests = []
    for path in sorted(Path(out).glob("manifest*.json")):
        if temp_writer(".", path.name) is not None:
            continue
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
            raise ConfigError(f"{path} is not a readable dataset manifest ({reason}); restore it, or move it away "
                              "to render the folder's samples again (finished samples are kept)") from None
        if not isinstance(manifest, dict):
            raise ConfigError(f"{path} is not a dataset manifest (a JSON {type(manifest).__name__}); restore it, "
                              "or move it away to render the folder's samples again (finished samples are kept)")
        manifests.append(manifest)
    return manifests


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
