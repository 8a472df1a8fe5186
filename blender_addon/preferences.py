"""Add-on preferences: the head asset, and how the analysis process runs the capture model."""
import bpy


class FaceCapPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    asset_path: bpy.props.StringProperty(
        name="Head Asset", subtype="FILE_PATH", default="",
        description="A head asset built by `python -m models.head build` (e.g. from the full FLAME 2023 Open "
                    "model); empty uses the one packed with the add-on")
    model_dir: bpy.props.StringProperty(
        name="Model Files", subtype="DIR_PATH", default="",
        description="The folder of the capture model's files (neural backend); empty: the shipped weights")
    provider: bpy.props.EnumProperty(
        name="Execution Provider", default="auto",
        items=[("auto", "Auto", "CUDA when ONNX Runtime has it, else the CPU"), ("cuda", "CUDA", "NVIDIA GPU"),
               ("cpu", "CPU", "")], description="Where the neural backend runs its networks")
    threads: bpy.props.IntProperty(
        name="Threads", default=0, min=0, max=256,
        description="Threads of the analysis process's networks (0: the runtime's default)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "asset_path")
        box = layout.box()
        box.label(text="Video analysis (background process)")
        box.prop(self, "model_dir")
        box.prop(self, "provider")
        box.prop(self, "threads")


CLASSES = (FaceCapPreferences,)
