"""The Blender scene (bpy): built once per process, then only changed per sample.

Every object hangs under one empty that maps the label frame (FLAME: Y up, face +Z) to Blender's Z-up
world, so positions computed by numpy are written unchanged. The parts, by concern: `scene_geometry`
(objects and their materials), `lighting` (world and lights), `visibility` (ray casts), `scene_render`
(Cycles settings, device, masks, the render call).
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np

from models.head import HeadAsset

from . import scene_render
from .camera import CameraPose
from .lighting import World, world_strength
from .posing import Posed
from .sampling import SampleParams
from .scene_geometry import SceneGeometry
from .scene_render import RenderSettings
from .visibility import visibility


class SyntheticScene:
    def __init__(self, asset: HeadAsset, hdris: dict[str, Path], settings: RenderSettings):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self.frame = bpy.data.objects.new("label_frame", None)
        self.scene.collection.objects.link(self.frame)
        self.frame.rotation_euler = (math.pi / 2, 0.0, 0.0)  # (x, y, z) label -> (x, -z, y) Blender
        self.geometry = SceneGeometry(self.scene, self.frame, asset)
        self.world = World(self.scene, hdris, self.frame)
        scene_render.configure(self.scene, settings)
        self.device = scene_render.select_device(self.scene, settings.device)
        self.mask_output = scene_render.mask_compositor(self.scene) if settings.masks else None

    def apply(self, p: SampleParams, posed: Posed, cam: CameraPose, occluder_matrices: dict) -> None:
        self.geometry.place(p, posed, cam, occluder_matrices, world_strength(p.lighting))
        self.geometry.shade(p)
        self.world.apply(p.lighting, posed.eye_centres.mean(0))
        self.scene.cycles.seed = p.render_seed
        bpy.context.view_layer.update()

    def visibility(self, points: np.ndarray, cam: CameraPose) -> np.ndarray:
        """(N,) bool: a ray from the camera reaches each point (label frame) unblocked and inside the image."""
        return visibility(self.scene, self.frame, points, cam)

    def render(self, path: Path, mask_path: Path | None = None) -> Path | None:
        """Render the image to `path`; with masks on, also the mask, returned as the file Blender wrote."""
        return scene_render.render(self.scene, self.mask_output, path, mask_path)
