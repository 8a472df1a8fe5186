"""Bake a Performance (or a Live Link Face clip) into one named Action per clip, and read it back.

Blender 5.0 slotted actions: one Action `FaceCap_<clip>` with a slot for the rig's shape-key datablock
(one F-curve per ARKit key) and one for its armature (neck and eye rotations, and optionally the neck's
location: the head's translation). Keyframes are written in
bulk with foreach_set. The clip's time is resampled to the scene's frame rate (not frame for frame) and
placed at a start frame. Baking the same clip again replaces that action's curves and nothing else.
Plain functions; operators call them.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy_extras.anim_utils import action_ensure_channelbag_for_slot
from scipy.spatial.transform import Rotation

from .deps import head, models_module

ACTION_PREFIX = "FaceCap_"
BONES = ("neck", "eye_left", "eye_right")
LINEAR = 1  # the F-curve keyframe interpolation enum value of 'LINEAR'


def action_name(clip: str) -> str:
    return ACTION_PREFIX + clip


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def resample(times: np.ndarray, values: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample (T, ...) values given at `times` at `rate` Hz from the first time: (frame offsets, values)."""
    rel = np.asarray(times, np.float64) - times[0]
    n = int(np.floor(rel[-1] * rate + 1e-6)) + 1 if len(rel) else 0
    t = np.arange(n) / rate
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t, rel, flat[:, j]) for j in range(flat.shape[1])], 1)
    return np.arange(n, dtype=np.float64), out.reshape(n, *values.shape[1:])


def _quats(m: np.ndarray) -> np.ndarray:
    """(T, 3, 3) -> (T, 4) quaternions (w, x, y, z), signs made continuous so interpolation takes the short way."""
    q = Rotation.from_matrix(m).as_quat()[:, [3, 0, 1, 2]]
    flips = np.cumsum(np.r_[0, np.sum(q[1:] * q[:-1], 1) < 0]) % 2 == 1
    q[flips] *= -1
    return q


def _local(arm, bone: str, world: np.ndarray) -> np.ndarray:
    """Head-frame rotations (T, 3, 3) -> the pose bone's local rotations (B^T R B, B its rest orientation)."""
    rest = np.array(arm.data.bones[bone].matrix_local.to_3x3())
    return np.einsum("ji,tjk,kl->til", rest, world, rest)


def _local_offset(arm, bone: str, offset: np.ndarray) -> np.ndarray:
    """Head-frame offsets (T, 3) of a bone's head -> its pose location (B^T t: the bone's rest axes; its parent,
    the root, is not posed)."""
    rest = np.array(arm.data.bones[bone].matrix_local.to_3x3())
    return offset @ rest


def _slot(action, id_type: str, name: str):
    for slot in action.slots:
        if slot.target_id_type == id_type:
            return slot
    return action.slots.new(id_type=id_type, name=name)


def _curve(channelbag, data_path: str, index: int, frames: np.ndarray, values: np.ndarray, group: str):
    fc = channelbag.fcurves.new(data_path, index=index, group_name=group)
    n = len(frames)
    fc.keyframe_points.add(n)
    fc.keyframe_points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
    fc.keyframe_points.foreach_set("interpolation", np.full(n, LINEAR, np.int32))
    fc.update()
    return fc


def bake_curves(obj, arm, clip: str, times: np.ndarray, weights: np.ndarray, head_rotation: np.ndarray,
                eye_rotation: np.ndarray, scene=None, start_frame: int = 1, meta: dict | None = None,
                head_translation: np.ndarray | None = None):
    """Write the action of `clip` for the rig (obj, arm): weights (T, 52) ARKit order at `times` seconds,
    head (T, 3, 3) and eye (T, 2, 3, 3) rotations in the head frame, and when given the head's translation
    (T, 3) metres in the head frame as the neck's location (else the neck stays at its rest position).
    Returns the Action."""
    scene = scene or bpy.context.scene
    rate = scene_fps(scene)
    key = obj.data.shape_keys
    present = [n for n in head.ARKIT_NAMES if n in key.key_blocks]
    columns = [head.ARKIT_NAMES.index(n) for n in present]
    offsets, w = resample(times, np.asarray(weights, np.float64)[:, columns], rate)
    frames = offsets + start_frame
    quats = {"neck": _quats(_local(arm, "neck", head_rotation)),
             "eye_left": _quats(_local(arm, "eye_left", eye_rotation[:, 0])),
             "eye_right": _quats(_local(arm, "eye_right", eye_rotation[:, 1]))}
    quats = {b: resample(times, q, rate)[1] for b, q in quats.items()}
    quats = {b: q / np.linalg.norm(q, axis=1, keepdims=True) for b, q in quats.items()}
    location = (None if head_translation is None else
                resample(times, _local_offset(arm, "neck", np.asarray(head_translation, np.float64)), rate)[1])

    name = action_name(clip)
    action = bpy.data.actions.get(name) or bpy.data.actions.new(name)
    action.use_fake_user = True
    key_slot = _slot(action, "KEY", key.name)
    arm_slot = _slot(action, "OBJECT", arm.name)
    shapes = action_ensure_channelbag_for_slot(action, key_slot)
    bones = action_ensure_channelbag_for_slot(action, arm_slot)
    for bag in (shapes, bones):
        while bag.fcurves:
            bag.fcurves.remove(bag.fcurves[0])
    for j, shape in enumerate(present):
        _curve(shapes, f'key_blocks["{shape}"].value', 0, frames, w[:, j], "ARKit")
    for bone, q in quats.items():
        arm.pose.bones[bone].rotation_mode = "QUATERNION"
        for i in range(4):
            _curve(bones, f'pose.bones["{bone}"].rotation_quaternion', i, frames, q[:, i], bone)
    if location is not None:
        for i in range(3):
            _curve(bones, 'pose.bones["neck"].location', i, frames, location[:, i], "neck")
    else:  # a removed location curve leaves its last value on the bone
        arm.pose.bones["neck"].location = (0.0, 0.0, 0.0)
    for idb, slot in ((key, key_slot), (arm, arm_slot)):
        ad = idb.animation_data or idb.animation_data_create()
        ad.action = action
        ad.action_slot = slot
    action["facecap_clip"] = clip
    for k, v in (meta or {}).items():
        action[f"facecap_{k}"] = v
    end = int(frames[-1]) if len(frames) else start_frame
    if scene.frame_end < end:
        scene.frame_end = end
    return action


def bake_performance(obj, arm, perf, clip: str, scene=None, start_frame: int = 1, smoothing: str = "one_euro",
                     strength: float = 0.5, translation: bool = False):
    """Smooth the raw Performance (non-destructively) and bake it; `translation` also bakes the head's
    translation (off by default: the head then stays on the neck of whatever body the rig is attached to)."""
    smooth = models_module("retarget.smoothing").smooth_performance(perf, smoothing, strength)
    return bake_curves(obj, arm, clip, perf.time_s, smooth.weights, smooth.head_rotation, smooth.eye_rotation,
                       scene, start_frame, {"source": perf.source, "source_fps": perf.fps, "smoothing": smoothing,
                                            "strength": float(strength), "head_translation": bool(translation)},
                       smooth.head_translation if translation else None)


def clear_clip(obj, arm, clip: str) -> bool:
    """Remove the clip's action (and unassign it from the rig); True when there was one."""
    action = bpy.data.actions.get(action_name(clip))
    if action is None:
        return False
    for idb in (obj.data.shape_keys, arm):
        if idb.animation_data and idb.animation_data.action == action:
            idb.animation_data.action = None
    bpy.data.actions.remove(action)
    return True


def _action_frames(action) -> np.ndarray:
    first, last = (int(round(v)) for v in action.frame_range)
    return np.arange(first, last + 1, dtype=np.float64)


def read_baked_translation(arm, action) -> np.ndarray:
    """The baked head translation (T, 3) metres in the head frame at each frame of `read_baked` (zeros when the
    clip was baked without it)."""
    frames = _action_frames(action)
    local = np.zeros((len(frames), 3))
    for slot in action.slots:
        for fc in action_ensure_channelbag_for_slot(action, slot).fcurves:
            if fc.data_path == 'pose.bones["neck"].location':
                local[:, fc.array_index] = [fc.evaluate(f) for f in frames]
    return local @ np.array(arm.data.bones["neck"].matrix_local.to_3x3()).T


def read_baked(obj, arm, action, scene=None):
    """The baked curves sampled at every scene frame of the action: (frames, weights (T, 52), head (T, 3, 3),
    eyes (T, 2, 3, 3)), rotations back in the head frame."""
    key = obj.data.shape_keys
    frames = _action_frames(action)
    weights = np.zeros((len(frames), len(head.ARKIT_NAMES)))
    rot = {b: np.tile([1.0, 0, 0, 0], (len(frames), 1)) for b in BONES}
    for slot in action.slots:
        bag = action_ensure_channelbag_for_slot(action, slot)
        for fc in bag.fcurves:
            values = np.array([fc.evaluate(f) for f in frames])
            path = fc.data_path
            if path.startswith('key_blocks["'):
                name = path[len('key_blocks["'):path.index('"]')]
                if name in head.ARKIT_NAMES:
                    weights[:, head.ARKIT_NAMES.index(name)] = values
            elif path.startswith('pose.bones["') and path.endswith("rotation_quaternion"):
                bone = path[len('pose.bones["'):path.index('"]')]
                if bone in rot:
                    rot[bone][:, fc.array_index] = values
    world = {}
    for bone, q in rot.items():
        local = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
        rest = np.array(arm.data.bones[bone].matrix_local.to_3x3())
        world[bone] = np.einsum("ij,tjk,lk->til", rest, local, rest)
    return frames, weights, world["neck"], np.stack([world["eye_left"], world["eye_right"]], 1)
