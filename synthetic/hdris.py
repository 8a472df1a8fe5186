"""Finding environment maps without importing bpy (so a missing or damaged one is reported before Blender starts)."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from models.atomic_io import atomic_write

from .config import HDRI_SUFFIXES, ConfigError

EXR_MAGIC = b"\x76\x2f\x31\x01"
HDR_MAGICS = (b"#?RADIANCE", b"#?RGBE")
BUNDLED_PREFIX = "studio:"
USER_PREFIX = "dir:"
# real maps average about 0.1-10 (a bright sun adds little); a garbage body decodes to values up to 1e38
MAX_MEAN_RADIANCE = 1e4
MIN_RADIANCE = -1.0  # filtered maps hold tiny negative values; garbage holds large ones
DECODED_CACHE = "environment-maps-decoded.json"  # in the project cache: maps that decoded fine, by size and mtime


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


def decode_problem(path: Path) -> str | None:
    """Decode the whole map: what would make it render wrong (or not at all), or None."""
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # read when OpenCV first decodes an EXR
    import cv2

    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent: the reason is reported here, in one line
    try:
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        return f"cannot be decoded ({exc.err})"
    finally:
        cv2.setLogLevel(level)
    if pixels is None or pixels.size == 0:
        return "cannot be decoded (damaged or cut short)"
    rgb = pixels[..., :3] if pixels.ndim == 3 else pixels
    if not np.isfinite(rgb).all():
        return "holds NaN or infinite values"
    low, mean = float(rgb.min()), float(rgb.mean(dtype=np.float64))
    if low < MIN_RADIANCE or mean > MAX_MEAN_RADIANCE:
        return f"decodes to implausible values (min {low:.3g}, mean {mean:.3g}; a damaged body renders blown out)"
    return None


def _file_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def check_decoded(paths: list[Path], cache: Path | None = None) -> None:
    """Decode every map once (remembered by path, size and mtime) and refuse a damaged one by name."""
    if cache is None:
        from models.paths import cache_dir

        cache = cache_dir() / DECODED_CACHE
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    good = dict(known)
    try:
        for path in paths:
            key = str(Path(path).resolve())
            if known.get(key) == _file_key(path):
                continue
            problem = decode_problem(path)
            if problem:
                good.pop(key, None)
                raise ConfigError(f"environment map {path} {problem}; remove or replace it")
            good[key] = _file_key(path)
    finally:
        if good != known:
            try:
                atomic_write(cache, lambda f: f.write(json.dumps(good, indent=1, sort_keys=True).encode()))
            except OSError:
                pass  # an unwritable cache only means decoding again next time


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
    check_decoded(list(table.values()))
    return table
