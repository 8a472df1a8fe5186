"""Procedural synthetic face dataset generator: Cycles renders of the FLAME-topology head rig with exact labels.

bpy is imported only by the modules that render (scene, lighting, materials, and render's workers); sampling, labels,
verify and sheet are plain numpy so datasets can be read without Blender.
"""

DATASET_FORMAT = "facecap-synthetic"
DATASET_VERSION = 2  # 2: identity-specific ARKit shapes (HeadModel.shapes); v1 copied the template's
