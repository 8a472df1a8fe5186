"""Atomic file writes: a reader (or a resumed job) never sees a half-written file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write(path: Path, write, prefix: str | None = None, suffix: str = ".tmp") -> None:
    """Call write(binary file object) on a temporary file beside `path`, fsync, then rename it over `path`.

    `prefix`/`suffix` name the temporary file (default: `path`'s name, then random letters, then .tmp).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or path.name, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: Path, arrays: dict, compressed: bool = False) -> None:
    """np.savez(_compressed) written atomically."""
    atomic_write(path, lambda handle: (np.savez_compressed if compressed else np.savez)(handle, **arrays))


def save_record(path: Path, record, meta: dict) -> None:
    """A dataclass's numpy fields plus a JSON `meta` (its other fields, a format tag) as one npz, atomically."""
    import dataclasses
    import json

    arrays = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
              if isinstance(getattr(record, f.name), np.ndarray)}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    save_npz(Path(path), arrays)


def load_record(path: Path, cls, fmt: str, version=None) -> tuple[dict, dict]:
    """(the numpy fields of `cls` found in the file, its meta) of a `save_record` file; ValueError when the
    meta's format (and version, if given) differ."""
    import dataclasses
    import json

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta_json"]).decode())
        if meta.get("format") != fmt or (version is not None and meta.get("version") != version):
            raise ValueError(f"{path}: not a {fmt}{f' v{version}' if version is not None else ''} file")
        return {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data.files}, meta


def write_text(path: Path, text: str) -> None:
    """A text file (UTF-8) written atomically."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def commit(tmp: Path, path: Path) -> None:
    """Make the fully written file `tmp` appear as `path`: fsynced, then renamed in one step."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: Path):
    """For writers that take a file name (OpenCV, Blender, zipfile): yields a temporary path beside `path`, with
    the same suffix so the writer picks the same format; fsynced and renamed over `path` once the block succeeds,
    removed if it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp" + path.suffix)
    os.close(fd)
    os.unlink(tmp)  # a unique name, but no file: Blender would keep an existing one as a .blend1 backup
    try:
        yield Path(tmp)
        commit(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
