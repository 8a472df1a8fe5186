"""FaceCap: facial performance capture onto a FLAME-topology head rig (Blender extension)."""
import bpy

from . import capture_ops, operators, panels, preferences

_CLASSES = preferences.CLASSES + operators.CLASSES + panels.CLASSES + capture_ops.CLASSES


def _synthetic_panel():
    """The dataset generator's panel, when this add-on runs from a checkout that has `synthetic/`.

    The generator renders in a background process of the project's own Python (with the bpy module), so the
    packed extension, which has no such environment, leaves it out.
    """
    try:
        from synthetic import panel
    except ImportError:
        return None
    return panel


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    panel = _synthetic_panel()
    if panel is not None:
        panel.register()


def unregister():
    panel = _synthetic_panel()
    if panel is not None:
        panel.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
