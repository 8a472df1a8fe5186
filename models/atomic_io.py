"""Atomic file writes: a reader (or a resumed job) never sees a half-written file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def save_npz(path: Path, arrays: dict, compressed: bool = False) -> None:
    """np.savez(_compressed) to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
