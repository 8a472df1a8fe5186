"""Shipped model files: a metadata JSON beside them records each file's sha256, checked at every load.

A corrupt, truncated or replaced file (or a broken metadata file) is a ModelFileError whose one-line
message names the file and how to restore it, never a model that loads and silently computes garbage.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from models.atomic_io import atomic_write

HASHES = "sha256"  # the metadata key: {file name: hex digest}


class ModelFileError(Exception):
    """A model file or its metadata is missing, unreadable or does not match its recorded hash."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file read in blocks (inputs and downloads; shipped files go through load_model_files)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_metadata(folder: Path, meta_name: str, meta: dict, files: Iterable[str]) -> dict:
    """Writes ``meta`` plus the sha256 of each of ``files`` (names in ``folder``) to ``folder/meta_name``."""
    folder = Path(folder)
    meta = {**meta, HASHES: {name: sha256((folder / name).read_bytes()) for name in files}}
    atomic_write(folder / meta_name, lambda handle: handle.write(json.dumps(meta, indent=1).encode()))
    (folder / meta_name).chmod(0o644)  # shipped beside the weights: readable by everyone, unlike mkstemp's 0600
    return meta


def load_model_files(folder: Path, meta_name: str, files: Iterable[str], restore: str,
                     required: dict[str, type] | None = None) -> tuple[dict, dict[str, bytes]]:
    """The metadata and the verified bytes of each of ``files`` (each read and hashed once).

    ``required`` maps metadata keys to the type their value must have; ``restore`` says how to get good
    files back and ends every error message.
    """
    folder = Path(folder)
    meta_path = folder / meta_name
    try:
        meta = json.loads(meta_path.read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"{meta_path} is missing; {restore}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise ModelFileError(f"{meta_path} is unreadable or not valid JSON ({reason}); {restore}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_path} holds a {type(meta).__name__}, not a JSON object; {restore}")
    for key, kind in {**(required or {}), HASHES: dict}.items():
        value = meta.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # JSON true is no int
            raise ModelFileError(f"{meta_path} lacks a valid {key!r} ({kind.__name__}); {restore}")
    files = list(files)
    unrecorded = [name for name in files if not isinstance(meta[HASHES].get(name), str)]
    if unrecorded:
        raise ModelFileError(f"{meta_path} records no sha256 for {', '.join(unrecorded)}; {restore}")
    contents = {}
    for name in files:
        path = folder / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelFileError(f"{path} is missing; {restore}") from None
        except OSError as exc:
            raise ModelFileError(f"{path} is unreadable ({exc.strerror}); {restore}") from None
        if sha256(data) != meta[HASHES][name]:
            raise ModelFileError(f"{path} is corrupt: its sha256 differs from the one in {meta_name}; {restore}")
        contents[name] = data
    return meta, contents
