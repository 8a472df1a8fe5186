"""Finding environment maps without importing bpy (so a missing one is reported before Blender starts)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .config import HDRI_SUFFIXES, ConfigError

EXR_MAGIC = b"\x76\x2f\x31\x01"
HDR_MAGICS = (b"#?RADIANCE", b"#?RGBE")
BUNDLED_PREFIX = "studio:"
USER_PREFIX = "dir:"


def bundled_dir() -> Path:
    """Blender's studio-light HDRIs (CC0) inside the installed bpy module."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bpy module is not installed in this Python; install requirements.txt "
                          "(bpy==5.0.1) into the venv")
    root = Path(list(spec.submodule_search_locations)[0])
    hits = sorted(root.glob("*/datafiles/studiolights/world"))
    if not hits:
        raise ConfigError(f"Blender's studio-light HDRIs are missing under {root}/<version>/datafiles/"
                          "studiolights/world; reinstall bpy")
    return hits[-1]


def check_map(path: Path) -> None:
    """A cheap header check, so a broken file fails now and not hours into a batch."""
    if not path.is_file() or path.stat().st_size == 0:
        raise ConfigError(f"environment map {path} is empty or not a file; remove or replace it")
    with open(path, "rb") as handle:
        head = handle.read(16)
    ok = head.startswith(EXR_MAGIC) if path.suffix.lower() == ".exr" else head.startswith(HDR_MAGICS)
    if not ok:
        raise ConfigError(f"environment map {path} is not a valid {path.suffix.lower()} file (bad header); "
                          "remove or replace it")


def find_hdris(hdri_dir: Path | None = None) -> dict[str, Path]:
    """Sorted name -> path of every environment map: the 8 bundled ones plus those in `hdri_dir`."""
    table = {}
    for path in sorted(bundled_dir().iterdir()):
        if path.suffix.lower() in HDRI_SUFFIXES:
            table[BUNDLED_PREFIX + path.name] = path
    if not table:
        raise ConfigError(f"no studio-light HDRIs in {bundled_dir()}; reinstall bpy")
    if hdri_dir is not None:
        found = [p for p in sorted(Path(hdri_dir).iterdir()) if p.suffix.lower() in HDRI_SUFFIXES]
        if not found:
            raise ConfigError(f"--hdri-dir {hdri_dir}: holds no .exr or .hdr environment maps")
        for path in found:
            check_map(path)
            table[USER_PREFIX + path.name] = path
    return table
