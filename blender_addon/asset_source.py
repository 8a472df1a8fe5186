"""Where the add-on gets its head asset: the preferences' file, the copy packed in the extension, or a build."""
from __future__ import annotations

import importlib
from pathlib import Path

from .deps import head

BUNDLED_ASSET = Path(__file__).resolve().parent / "data" / "head_asset.npz"
# path -> HeadAsset: operators run often and the file is ~20 MB, so each process reads it once.
_loaded: dict[str, object] = {}


def head_asset(preferences_path: str = ""):
    import bpy

    if preferences_path:
        key = bpy.path.abspath(preferences_path)
        load = lambda: head.asset.load_asset_file(Path(key))  # noqa: E731
    elif BUNDLED_ASSET.is_file():
        key = str(BUNDLED_ASSET)
        load = lambda: head.asset.load_asset_file(BUNDLED_ASSET)  # noqa: E731
    else:  # development tree: build from ../shared (cached)
        key = "built"
        builder = importlib.import_module(head.__name__ + ".build.build")  # not shipped in the extension
        load = lambda: builder.load_head_asset(log=lambda *a: None)  # noqa: E731
    if key not in _loaded:
        _loaded[key] = load()
    return _loaded[key]


def asset_file(preferences_path: str = "") -> Path | None:
    """The asset file a background process should read: the preferences' file, the packed one, or None in a
    development tree (the process then builds or reads the cached asset itself)."""
    import bpy

    if preferences_path:
        return Path(bpy.path.abspath(preferences_path))
    return BUNDLED_ASSET if BUNDLED_ASSET.is_file() else None
