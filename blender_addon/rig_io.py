"""Find or build the head rig a capture bakes onto, and save the .blend atomically."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from . import rig
from .deps import head, models_module


def rig_in_scene():
    """(mesh object, armature) of the first FaceCap rig in the open file, or (None, None)."""
    for obj in bpy.data.objects:
        if obj.type == "MESH" and "facecap_identity" in obj and obj.parent is not None:
            return obj, obj.parent
    return None, None


def open_rig(blend: Path | None, asset):
    """The rig of `blend`: its FaceCap head rig, or a new rig with the identity of its FLAME-topology mesh; without
    `blend` a new mean-face rig in an empty file."""
    CaptureError = models_module("video.errors").CaptureError

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
    if obj is not None:
        if len(obj.data.vertices) != asset.n_vertices or obj.data.shape_keys is None:
            raise CaptureError(f"{blend}: the rig {obj.name} has {len(obj.data.vertices)} vertices, not the FLAME "
                               f"topology's {asset.n_vertices}; pass a FaceCap rig of FLAME topology")
        return obj, arm
    return rig_from_mesh(blend, asset)


def rig_from_mesh(blend: Path, asset):
    """A new rig with the identity of the file's neutral FLAME-topology mesh (its neutral gives the identity)."""
    CaptureError = models_module("video.errors").CaptureError

    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    if not meshes:
        raise CaptureError(f"{blend}: no mesh in it; pass a .blend with a FaceCap rig or a FLAME-topology head")
    target = next((o for o in meshes if len(o.data.vertices) == asset.n_vertices), None)
    if target is None:
        counts = ", ".join(f"{o.name}: {len(o.data.vertices)}" for o in meshes[:3])
        raise CaptureError(f"{blend}: no mesh of FLAME topology ({asset.n_vertices} vertices; found {counts}); "
                           "pass a FaceCap rig or a FLAME-topology head")
    try:
        return rig_from_object(target, asset)
    except CaptureError as exc:
        raise CaptureError(f"{blend}: {exc}") from exc


def check_flame_mesh(obj, asset) -> None:
    """A one-line CaptureError unless `obj` is a mesh of the asset's (FLAME) topology."""
    CaptureError = models_module("video.errors").CaptureError

    if obj.type != "MESH" or len(obj.data.vertices) != asset.n_vertices:
        count = len(obj.data.vertices) if obj.type == "MESH" else "no"
        raise CaptureError(f"{obj.name} has {count} vertices, not the FLAME topology's {asset.n_vertices}; "
                           "pick a FaceCap rig or a mesh of FLAME topology")


def identity_of_mesh(target, asset) -> np.ndarray:
    """The identity coefficients of `target`, a neutral mesh of FLAME topology (world space)."""
    CaptureError = models_module("video.errors").CaptureError

    check_flame_mesh(target, asset)
    co = np.empty(asset.n_vertices * 3, np.float32)
    target.data.vertices.foreach_get("co", co)
    world = np.array(target.matrix_world)
    verts = co.reshape(-1, 3).astype(np.float64) @ world[:3, :3].T + world[:3, 3]
    beta, residual = models_module("retarget.solve").identity_of_neutral(head.HeadModel(asset), verts)
    if residual > 5.0:
        raise CaptureError(f"{target.name} has FLAME's vertex count but is {residual:.1f} mm from any FLAME "
                           "identity (posed, scaled or another vertex order); pick a neutral FLAME head")
    return beta


def rig_from_object(target, asset, collection=None):
    """A new rig beside `target`, a mesh of FLAME topology, with the identity its neutral shape gives; the
    mesh is hidden (kept) and the rig records it as `facecap_source`."""
    beta = identity_of_mesh(target, asset)
    obj, arm = rig.build_head_rig(asset, beta, name=target.name + "_FaceCap", collection=collection)
    obj["facecap_source"] = target.name
    target.hide_set(True)
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
