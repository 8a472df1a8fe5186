"""The Capture panel's plain functions: the video as a Movie Clip shown behind the head, the target rig,
the bake from the cached analysis. Operators in capture_ops.py only call these."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import bake, rig_io
from .deps import models_module
from .operators import _rig_of

CAMERA_NAME = "FaceCap_Camera"
CAMERA_DISTANCE = 0.6  # metres in front of the face: a 50 mm lens then frames the head


def capture_error(message: str):
    return models_module("video.errors").CaptureError(message)


def load_clip(path: Path):
    """The Movie Clip of a video file (the existing one when it is already loaded)."""
    path = Path(path)
    if not path.is_file():
        raise capture_error(f"{path}: no such file; pick a video file")
    try:
        return bpy.data.movieclips.load(str(path), check_existing=True)
    except RuntimeError as exc:
        raise capture_error(f"{path}: Blender cannot read it as a movie ({str(exc).strip()}); pick a video file "
                            "(mp4, mov, mkv, ...)") from exc


def clip_path(clip) -> Path:
    return Path(bpy.path.abspath(clip.filepath, library=clip.library))


def analysis_source(clip) -> tuple[Path, float | None]:
    """What the analysis reads for a clip: its video file, or for an image sequence the folder of its numbered
    frames and the clip's frame rate (None when Blender gives none: the analysis then assumes 24)."""
    if clip.source == "SEQUENCE":
        return clip_path(clip).parent, float(clip.fps) or None
    return clip_path(clip), None


def _head_frame(obj):
    """World matrix of a camera looking at the face of `obj` (FLAME's frame: +Y up, +Z out of the face)."""
    if obj is None:
        return Matrix.Translation((0.0, 0.0, CAMERA_DISTANCE))
    corners = np.array(obj.bound_box)
    centre = obj.matrix_world @ Vector(((corners.min(0) + corners.max(0)) / 2).tolist())
    basis = obj.matrix_world.to_3x3().normalized()
    return Matrix.Translation(centre + basis @ Vector((0.0, 0.0, CAMERA_DISTANCE))) @ basis.to_4x4()


def show_clip(scene, clip, head_obj=None, first: int = 1, start_frame: int = 1):
    """Show the clip as the background of the scene's camera (a FaceCap camera in front of the head when the
    scene has none), lined up so that clip frame `first` shows at scene frame `start_frame`. Returns the camera."""
    cam = scene.camera
    if cam is None:
        cam = bpy.data.objects.get(CAMERA_NAME)
        if cam is None or cam.type != "CAMERA":
            cam = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
            cam.data.clip_start = 0.01
            cam.matrix_world = _head_frame(head_obj)
        if cam.name not in scene.collection.all_objects:
            scene.collection.objects.link(cam)
        scene.camera = cam
    backgrounds = cam.data.background_images
    entry = next((bg for bg in backgrounds if bg.source == "MOVIE_CLIP" and bg.clip == clip), None)
    if entry is None:
        entry = backgrounds.new()
        entry.source = "MOVIE_CLIP"
        entry.clip = clip
    entry.use_camera_clip = False
    entry.alpha = 1.0
    entry.show_background_image = True
    cam.data.show_background_images = True
    clip.frame_start = start_frame - (first - 1)
    return cam


def rig_for_target(target, active, asset, build: bool = True):
    """(mesh, armature) to bake on: the target's FaceCap rig, else the rig made once from the target mesh's
    neutral (FLAME topology; made now unless `build` is off: then (None, None) after the checks), else the
    selected rig. A one-line CaptureError when there is none or the topology is wrong."""
    obj, arm = _rig_of(target if target is not None else active)
    if obj is not None and arm is not None:
        rig_io.check_flame_mesh(obj, asset)
        if obj.data.shape_keys is None:
            raise capture_error(f"{obj.name} has no shape keys; create the rig again (Create Head Rig)")
        return obj, arm
    if target is None:
        raise capture_error("no target: select a FaceCap head rig or set Target to a mesh of FLAME topology")
    for made in bpy.data.objects:
        if made.get("facecap_source") == target.name and made.parent is not None:
            return made, made.parent
    if not build:
        rig_io.check_flame_mesh(target, asset)
        return None, None
    return rig_io.rig_from_object(target, asset)


def load_performance(path: Path):
    perf_module = models_module("retarget.performance")
    try:
        return perf_module.Performance.load(Path(path))
    except (OSError, ValueError, KeyError) as exc:
        raise capture_error(f"{path}: the cached analysis is missing or unreadable ({exc}); press Analyse") from exc


def bake_cached(obj, arm, cache_path: Path, clip_name: str, scene, start_frame: int, smoothing: str,
                strength: float, translation: bool = False):
    """Bake the cached raw Performance with the given smoothing (no analysis); returns (action, frames)."""
    perf = load_performance(cache_path)
    action = bake.bake_performance(obj, arm, perf, clip_name, scene, start_frame, smoothing, strength, translation)
    return action, len(perf)
