"""Sidebar panel in the 3D viewport (N panel, "FaceCap" tab)."""
import bpy


class FACECAP_PT_head(bpy.types.Panel):
    bl_label = "Head Rig"
    bl_idname = "FACECAP_PT_head"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Face Capture"

    def draw(self, context):
        layout = self.layout
        layout.operator("facecap.create_head", icon="MONKEY")
        obj = context.active_object
        if obj is not None and ("facecap_identity" in obj or "facecap_head" in obj):
            layout.operator("facecap.set_identity", icon="USER")
        layout.label(text="FLAME 2023 Open (CC BY 4.0), ICT-FaceKit (MIT)")


CLASSES = (FACECAP_PT_head,)
