"""Rendering (bpy): Cycles settings, the device, the object-index mask output and the render call."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy

from .config import ConfigError


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    resolution: int
    samples: int
    denoise: bool = True
    transparent: bool = False
    device: str = "cpu"
    threads: int = 0
    masks: bool = False


def select_device(scene, device: str) -> str:
    """Use the requested Cycles device; 'auto' takes OptiX, then CUDA, then the CPU."""
    scene.cycles.device = "CPU"
    if device == "cpu":
        return "cpu"
    prefs = bpy.context.preferences.addons["cycles"].preferences
    wanted = ["optix", "cuda"] if device == "auto" else [device]
    for kind in wanted:
        try:
            prefs.compute_device_type = kind.upper()
            prefs.get_devices()
        except TypeError:
            continue
        devices = [d for d in prefs.devices if d.type == kind.upper()]
        if devices:
            for d in prefs.devices:
                d.use = d.type == kind.upper()
            scene.cycles.device = "GPU"
            return kind
    if device != "auto":
        raise ConfigError(f"--device {device}: no {device.upper()} device found; use --device cpu or auto")
    return "cpu"


def configure(scene, settings: RenderSettings) -> None:
    """Cycles and output settings of the scene."""
    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x = render.resolution_y = settings.resolution
    render.resolution_percentage = 100
    # Off: with persistent data a sample's pixels depended on what the process had rendered before, at random
    # (rerenders of the same sample differed by up to ~100 levels on thousands of pixels); with it off they are
    # identical, at the same CPU time per sample (the scene sync per sample is small next to the render)
    render.use_persistent_data = False
    render.film_transparent = settings.transparent
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGBA" if settings.transparent else "RGB"
    render.image_settings.color_depth = "8"
    if settings.threads:
        render.threads_mode = "FIXED"
        render.threads = settings.threads
    cycles = scene.cycles
    cycles.samples = settings.samples
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = settings.denoise
    if settings.denoise:
        cycles.denoiser = "OPENIMAGEDENOISE"
        cycles.denoising_quality = "FAST"
        cycles.denoising_prefilter = "FAST"
    cycles.max_bounces = 6
    cycles.diffuse_bounces = 2
    cycles.glossy_bounces = 2
    cycles.transmission_bounces = 4
    cycles.transparent_max_bounces = 4
    cycles.caustics_reflective = False
    cycles.caustics_refractive = False
    cycles.blur_glossy = 1.0
    cycles.use_light_tree = False  # the world plus at most two lights: the tree only costs time


def mask_compositor(scene):
    """Compositor writing the object-index pass as an 8-bit PNG (value = pass index)."""
    bpy.context.view_layer.use_pass_object_index = True
    tree = bpy.data.node_groups.new("synthetic_masks", "CompositorNodeTree")
    scene.compositing_node_group = tree
    layers = tree.nodes.new("CompositorNodeRLayers")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    group_out = tree.nodes.new("NodeGroupOutput")
    tree.links.new(layers.outputs["Image"], group_out.inputs[0])
    scale = tree.nodes.new("ShaderNodeMath")
    scale.operation = "DIVIDE"
    scale.inputs[1].default_value = 255.0
    tree.links.new(layers.outputs["Object Index"], scale.inputs[0])
    out = tree.nodes.new("CompositorNodeOutputFile")
    out.save_as_render = False  # raw values, no view transform
    out.format.media_type = "IMAGE"
    out.format.file_format = "PNG"
    out.format.color_mode = "BW"
    out.format.color_depth = "8"
    out.file_output_items.new("FLOAT", "index")
    tree.links.new(scale.outputs[0], out.inputs[0])
    return out


def render(scene, mask_output, path: Path, mask_path: Path | None = None) -> Path | None:
    """Render the image to `path`; with masks on, also the mask, returned as the file Blender wrote."""
    scene.render.filepath = str(path)
    if mask_output is not None:
        mask_output.directory = str(Path(mask_path).parent) + "/"
        mask_output.file_name = Path(mask_path).stem
    bpy.ops.render.render(write_still=True)
    if mask_output is None:
        return None
    written = sorted(Path(mask_path).parent.glob(Path(mask_path).stem + "*.png"))
    if not written:
        raise RuntimeError(f"Blender wrote no mask for {mask_path}")
    return written[-1]
