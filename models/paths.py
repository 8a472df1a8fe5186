"""Where things live: the project root, the shared third-party folder, the cache and the shipped weights.

Every module asks here rather than walking up from its own file. The project root is the folder that
holds `models/` (the checkout, or the add-on's folder once packed).
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """Third-party inputs (FLAME, ICT-FaceKit, media): $FACECAP_SHARED, else `../shared` beside the project root."""
    return Path(os.environ.get("FACECAP_SHARED", project_root().parent / "shared"))


def cache_dir() -> Path:
    """Rebuildable files (head asset, semantic pools and runs, wheels): $FACECAP_CACHE, else `.cache/`."""
    return Path(os.environ.get("FACECAP_CACHE", project_root() / ".cache"))


def capture_cache_dir() -> Path:
    """The capture model's rebuildable files (code targets, real-frame crops, ImageNet weights, runs, adaptations),
    shared by its CLI and the capture benchmark."""
    return cache_dir() / "capture"


def weights_dir() -> Path:
    """The shipped network weights (ONNX files and their model cards)."""
    return Path(__file__).resolve().parent / "weights"
