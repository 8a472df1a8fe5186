"""FaceCap: facial performance capture onto a FLAME-topology head rig (Blender extension)."""
import bpy

from . import capture_ops, dataset_panel, interpreter, operators, panels, preferences

_CLASSES = preferences.CLASSES + operators.CLASSES + panels.CLASSES


def register():
    interpreter.use_packed_cache()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    capture_ops.register()
    dataset_panel.register()


def unregister():
    dataset_panel.unregister()
    capture_ops.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
