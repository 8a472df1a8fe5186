"""Procedural synthetic face dataset generator: Cycles renders of the FLAME-topology head rig with exact labels.

bpy is imported only by the modules that render (scene, lighting, materials, and render's workers); sampling, labels,
verify and sheet are plain numpy so datasets can be read without Blender.
"""

from models.dataset import DATASET_FORMAT, DATASET_VERSION  # noqa: F401  (the format lives in models.dataset)
