"""sha256 of weight files and their check at load.

MERGE NOTE: a minimal stand-in for `models/model_files.py` (written in parallel on another branch); the lead swaps
these calls for that module at merge. Only `sha256_file`, `check_files` and `semantic_digests` are used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from models.semantic.runtime import FILES as SEMANTIC_FILES


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_files(directory: Path, expected: dict[str, str], what: str) -> None:
    """Raises naming the first file that is missing or whose sha256 differs from its JSON entry."""
    for name, digest in expected.items():
        path = Path(directory) / name
        if not path.is_file():
            raise FileNotFoundError(f"{what}: {path} is missing; export it again or restore it")
        if sha256_file(path) != digest:
            raise RuntimeError(f"{what}: {path} is damaged or was replaced (sha256 differs from its JSON); "
                               "export it again or restore it")


def semantic_digests(weights_dir: Path) -> dict[str, str]:
    """sha256 of the semantic autoencoder's three ONNX files, by role (expression, identity, decoder)."""
    return {role: sha256_file(Path(weights_dir) / name) for role, name in SEMANTIC_FILES.items()}
