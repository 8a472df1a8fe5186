"""Find or build the head rig a capture bakes onto, and save the .blend atomically."""
from __future__ import annotations

from pathlib import Path

import bpy

from . import rig


def rig_in_scene():
    """(mesh object, armature) of the first FaceCap rig in the open file, or (None, None)."""
    for obj in bpy.data.objects:
        if obj.type == "MESH" and "facecap_identity" in obj and obj.parent is not None:
            return obj, obj.parent
    return None, None


def open_rig(blend: Path | None, asset):
    """The rig of `blend` (a FaceCap head rig of the asset's topology), or a new mean-face rig in an empty file."""
    from models.video.errors import CaptureError

    if blend is None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        return rig.build_head_rig(asset)
    blend = Path(blend)
    if not blend.is_file():
        raise CaptureError(f"{blend}: no such file; pass --rig with a .blend that holds a FaceCap head rig")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()))
    except RuntimeError as exc:
        raise CaptureError(f"{blend}: not a readable .blend ({str(exc).strip()}); pass a valid --rig file") from exc
    obj, arm = rig_in_scene()
    if obj is None:
        raise CaptureError(f"{blend}: no FaceCap head rig in it; create one (Face Capture > Create Head Rig) "
                           "or leave out --rig")
    if len(obj.data.vertices) != asset.n_vertices or obj.data.shape_keys is None:
        raise CaptureError(f"{blend}: the rig {obj.name} has {len(obj.data.vertices)} vertices, not the FLAME "
                           f"topology's {asset.n_vertices}; pass a FaceCap rig of FLAME topology")
    return obj, arm


def save_blend(path: Path) -> Path:
    path = Path(path).resolve()
    tmp = path.with_name(path.stem + ".tmp.blend")
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), compress=True, copy=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
