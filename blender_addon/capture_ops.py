"""Capture operators and panel: Live Link Face CSV import/export and Clear of a baked clip (thin wrappers
around bake.py). Analysing a video runs headless for now (`python -m blender_addon.capture`)."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import bake
from .deps import models_module
from .operators import _rig_of


def _baked_action(obj, arm):
    ad = obj.data.shape_keys.animation_data if obj and obj.data.shape_keys else None
    action = ad.action if ad else None
    return action if action is not None and action.name.startswith(bake.ACTION_PREFIX) else None


def _rig_ready(context) -> bool:
    obj, arm = _rig_of(context.active_object)
    return context.mode == "OBJECT" and obj is not None and arm is not None and obj.data.shape_keys is not None


class FACECAP_OT_import_livelink(bpy.types.Operator, ImportHelper):
    """Bake a Live Link Face CSV recording onto the selected head rig (an action named after the file)"""

    bl_idname = "facecap.import_livelink"
    bl_label = "Import Live Link Face CSV"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1)

    @classmethod
    def poll(cls, context):
        return _rig_ready(context)

    def execute(self, context):
        livelink = models_module("retarget.livelink")
        errors = models_module("video.errors")
        obj, arm = _rig_of(context.active_object)
        try:
            clip = livelink.read_csv(Path(self.filepath))
        except errors.CaptureError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        action = bake.bake_curves(obj, arm, Path(self.filepath).stem, clip.time_s, clip.weights,
                                  livelink.ypr_to_matrix(clip.head_ypr), livelink.ypr_to_matrix(clip.eye_ypr),
                                  context.scene, self.start_frame, {"source": self.filepath})
        self.report({"INFO"}, f"baked {len(clip.time_s)} rows into {action.name}")
        return {"FINISHED"}


class FACECAP_OT_export_livelink(bpy.types.Operator, ExportHelper):
    """Write the rig's baked capture as a Live Link Face CSV at the scene's frame rate"""

    bl_idname = "facecap.export_livelink"
    bl_label = "Export Live Link Face CSV"
    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _rig_ready(context) and _baked_action(*_rig_of(context.active_object)) is not None

    def execute(self, context):
        livelink = models_module("retarget.livelink")
        obj, arm = _rig_of(context.active_object)
        frames, weights, head, eyes = bake.read_baked(obj, arm, _baked_action(obj, arm), context.scene)
        path = livelink.write_csv(Path(self.filepath), weights, head, eyes, bake.scene_fps(context.scene))
        self.report({"INFO"}, f"wrote {len(frames)} frames to {path}")
        return {"FINISHED"}


class FACECAP_OT_clear_capture(bpy.types.Operator):
    """Remove the rig's baked capture action (other clips' actions stay)"""

    bl_idname = "facecap.clear_capture"
    bl_label = "Clear Capture"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _rig_ready(context) and _baked_action(*_rig_of(context.active_object)) is not None

    def execute(self, context):
        obj, arm = _rig_of(context.active_object)
        action = _baked_action(obj, arm)
        name = action.name
        bake.clear_clip(obj, arm, action.get("facecap_clip", name[len(bake.ACTION_PREFIX):]))
        self.report({"INFO"}, f"removed {name}")
        return {"FINISHED"}


class FACECAP_PT_capture(bpy.types.Panel):
    bl_label = "Capture"
    bl_idname = "FACECAP_PT_capture"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Face Capture"

    def draw(self, context):
        layout = self.layout
        obj, arm = _rig_of(context.active_object)
        if obj is None:
            layout.label(text="Select a FaceCap head rig")
            return
        action = _baked_action(obj, arm)
        layout.label(text=f"Clip: {action.name}" if action else "No capture baked")
        layout.operator("facecap.import_livelink", icon="IMPORT")
        layout.operator("facecap.export_livelink", icon="EXPORT")
        layout.operator("facecap.clear_capture", icon="X")


CLASSES = (FACECAP_OT_import_livelink, FACECAP_OT_export_livelink, FACECAP_OT_clear_capture, FACECAP_PT_capture)
