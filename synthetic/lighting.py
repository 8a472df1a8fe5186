"""World lighting (bpy): an environment map, a procedural sky or a gradient, plus optional extra lights.

Three world datablocks, one per kind, built once; per sample the scene switches to one and sets its values,
so the world shader never evaluates a source it does not show.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from .materials import Graph
from .sampling import Lighting

HDRI_STRENGTH = 0.8
SKY_STRENGTH = 0.25  # the physical sky is far brighter than the studio maps
GRADIENT_STRENGTH = 1.0
N_EXTRA_LIGHTS = 2
SKY_TYPE = "MULTIPLE_SCATTERING"
MAP_RESOLUTION = 256  # importance map: rebuilt whenever the world changes, i.e. every sample
MAX_LOADED_MAPS = 12  # environment maps kept in memory (a folder of 8k maps would not fit)


def _new_world(name):
    world = bpy.data.worlds.new(name)
    graph = Graph.empty(world)
    # the automatic map follows the HDRI's size (2k+): ~2 CPU-s per sample to rebuild
    world.cycles.sampling_method = "MANUAL"
    world.cycles.sample_map_resolution = MAP_RESOLUTION
    return world, graph


def _finish(g: Graph, color_socket):
    g.value("strength", 1.0)
    background = g.node("ShaderNodeBackground")
    g.tree.links.new(color_socket, background.inputs["Color"])
    g.link(g.params["strength"], "Value", background, "Strength")
    out = g.node("ShaderNodeOutputWorld")
    g.tree.links.new(background.outputs[0], out.inputs["Surface"])


def world_strength(light: Lighting) -> float:
    """The world shader's strength for this sample's lighting."""
    base = {"hdri": HDRI_STRENGTH, "sky": SKY_STRENGTH, "gradient": GRADIENT_STRENGTH}[light.kind]
    return base * 2.0 ** light.exposure_ev


class World:
    def __init__(self, scene: bpy.types.Scene, hdris: dict[str, Path], parent: bpy.types.Object):
        self.scene = scene
        self.paths = dict(hdris)
        self.images: dict[str, bpy.types.Image] = {}  # loaded maps, least recently used first
        self.worlds, self.graphs, self.mappings = {}, {}, {}
        for kind in ("hdri", "sky", "gradient"):
            world, g = _new_world("synthetic_" + kind)
            coords = g.node("ShaderNodeTexCoord")
            mapping = g.node("ShaderNodeMapping")
            g.link(coords, "Generated", mapping, "Vector")
            if kind == "hdri":
                self.env = g.node("ShaderNodeTexEnvironment")
                g.link(mapping, "Vector", self.env, "Vector")
                color = self.env.outputs["Color"]
            elif kind == "sky":
                self.sky = g.node("ShaderNodeTexSky", sky_type=SKY_TYPE)
                g.link(mapping, "Vector", self.sky, "Vector")
                color = self.sky.outputs["Color"]
            else:
                z = g.node("ShaderNodeSeparateXYZ")
                g.link(mapping, "Vector", z, "Vector")
                t = g.math("MULTIPLY_ADD", (z, "Z"), 0.5)
                t.inputs[2].default_value = 0.5
                g.rgb("top")
                g.rgb("bottom")
                mix = g.mix_color((t, "Value"), (g.params["bottom"], "Color"), (g.params["top"], "Color"))
                color = Graph.socket(mix.outputs, "Result_Color")
            _finish(g, color)
            self.worlds[kind], self.graphs[kind], self.mappings[kind] = world, g, mapping
        scene.world = self.worlds["hdri"]

        self.lights = []
        for i in range(N_EXTRA_LIGHTS):
            data = bpy.data.lights.new(f"extra_{i}", "POINT")
            obj = bpy.data.objects.new(f"extra_{i}", data)
            scene.collection.objects.link(obj)
            obj.parent = parent
            self.lights.append(obj)

    def _image(self, name: str) -> bpy.types.Image:
        image = self.images.pop(name, None)
        if image is None:
            image = bpy.data.images.load(str(self.paths[name]), check_existing=True)
        self.images[name] = image
        while len(self.images) > MAX_LOADED_MAPS:
            oldest = next(iter(self.images))
            bpy.data.images.remove(self.images.pop(oldest))
        return image

    def apply(self, light: Lighting, head_centre: np.ndarray) -> None:
        kind = light.kind
        g = self.graphs[kind]
        self.scene.world = self.worlds[kind]
        if kind == "hdri":
            self.env.image = self._image(light.hdri)
        elif kind == "sky":
            self.sky.sun_elevation = math.radians(light.sun_elevation_deg)
            self.sky.sun_rotation = math.radians(light.sun_azimuth_deg)
        else:
            g.set("top", light.gradient_top)
            g.set("bottom", light.gradient_bottom)
        self.mappings[kind].inputs["Rotation"].default_value = (0.0, 0.0, math.radians(light.rotation_deg))
        g.set("strength", world_strength(light))
        for i, obj in enumerate(self.lights):
            on = i < len(light.extra_lights)
            obj.hide_render = not on
            if not on:
                continue
            spec = light.extra_lights[i]
            obj.data.type = spec.kind
            obj.data.energy = spec.power_w
            obj.data.color = spec.color
            if spec.kind == "AREA":
                obj.data.size = 0.3
            # positions are in the label frame (Y up); the parent maps it to Blender's Z up
            az, el = math.radians(spec.azimuth_deg), math.radians(spec.elevation_deg)
            direction = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
            pos = head_centre + direction * spec.distance
            obj.location = tuple(pos)
            # area lights shine down their local -Z: aim it at the head
            obj.rotation_euler = Vector(tuple(head_centre - pos)).to_track_quat("-Z", "Y").to_euler()
