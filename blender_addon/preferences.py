"""Add-on preferences."""
import bpy


class FaceCapPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    asset_path: bpy.props.StringProperty(
        name="Head Asset", subtype="FILE_PATH", default="",
        description="A head asset built by `python -m models.head build` (e.g. from the full FLAME 2023 Open "
                    "model); empty uses the one packed with the add-on")

    def draw(self, context):
        self.layout.prop(self, "asset_path")


CLASSES = (FaceCapPreferences,)
