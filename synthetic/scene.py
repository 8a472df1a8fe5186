"""The Blender scene (bpy): built once per process, then only changed per sample.

Every object hangs under one empty that maps the label frame (FLAME: Y up, face +Z) to Blender's Z-up
world, so positions computed by numpy are written unchanged.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from models.head import HeadAsset

from . import lashes, materials, occluders
from .camera import CameraPose, project, to_blender_camera_matrix
from .config import ConfigError
from .lighting import World
from .masks import eye_local, skin_masks
from .posing import MOUTH_PROPS, Posed
from .sampling import SampleParams

# object-index mask values (--masks)
HEAD_PASS_INDEX = 1
MOUTH_PASS_INDEX = 2
TORSO_PASS_INDEX = 3
OCCLUDER_PASS_INDEX = 4
LENS_PASS_INDEX = 5  # see-through: landmarks behind lenses stay visible
VISIBILITY_TOLERANCE = 0.002  # metres: a ray may stop this much before a landmark and still see it


def _mesh_object(name, verts, faces, parent, smooth=True):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(verts, float).tolist(), [], np.asarray(faces).tolist())
    mesh.polygons.foreach_set("use_smooth", [smooth] * len(mesh.polygons))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.parent = parent
    return obj


def _set_coords(obj, verts):
    obj.data.vertices.foreach_set("co", np.ascontiguousarray(verts, np.float32).ravel())
    obj.data.update()


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


class SyntheticScene:
    def __init__(self, asset: HeadAsset, hdris: dict[str, Path], resolution: int, samples: int,
                 denoise: bool = True, transparent: bool = False, device: str = "cpu", threads: int = 0,
                 masks: bool = False):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self.asset = asset
        self.frame = bpy.data.objects.new("label_frame", None)
        self.scene.collection.objects.link(self.frame)
        self.frame.rotation_euler = (math.pi / 2, 0.0, 0.0)  # (x, y, z) label -> (x, -z, y) Blender
        self._build_head(asset)
        self._build_lashes(asset)
        self._build_mouth(asset)
        self._build_occluders()
        self._build_torso()
        self._build_camera()
        self.world = World(self.scene, hdris, self.frame)
        self._render_settings(resolution, samples, denoise, transparent, threads)
        self.device = select_device(self.scene, device)
        self.mask_output = self._mask_compositor() if masks else None

    def _build_head(self, asset):
        """Head and eyeballs: one mesh, material 0 skin, 1 eyes; static masks as vertex attributes."""
        self.head = _mesh_object("head", asset.template, asset.faces, self.frame)
        self.head.pass_index = HEAD_PASS_INDEX
        mesh = self.head.data
        self.skin_mat, self.skin = materials.build_skin()
        self.eye_mat, self.eye = materials.build_eye()
        mesh.materials.append(self.skin_mat)
        mesh.materials.append(self.eye_mat)
        eye_vertex = np.zeros(asset.n_vertices, bool)
        eye_vertex[asset.eyeball_left] = True
        eye_vertex[asset.eyeball_right] = True
        mesh.polygons.foreach_set("material_index", eye_vertex[asset.faces].all(1).astype(np.int32))
        for name, values in skin_masks(asset).items():
            mesh.attributes.new(name, "FLOAT", "POINT").data.foreach_set("value", values)
        mesh.attributes.new("wrinkle", "FLOAT", "POINT")
        mesh.attributes.new("eye_local", "FLOAT_VECTOR", "POINT").data.foreach_set(
            "vector", eye_local(asset).ravel())

    def _build_lashes(self, asset):
        self.lash_layout = lashes.layout(asset)
        self.lashes = None
        if self.lash_layout is None:  # an asset without lid margins: no lashes
            return
        rest = lashes.strands(self.lash_layout, asset.template, np.zeros((2, 3)), np.eye(3), 1.0)
        self.lashes = _mesh_object("lashes", rest, self.lash_layout.faces, self.frame, smooth=False)
        self.lash_mat, self.lash_graph = materials.build_plain("lashes", (0.02, 0.015, 0.01), 0.45)
        self.lashes.data.materials.append(self.lash_mat)
        self.lashes.pass_index = HEAD_PASS_INDEX
        self.lashes.hide_viewport = True  # render-only: kept out of the ray casts for visibility

    def _build_mouth(self, asset):
        self.props = {}
        teeth, self.teeth_graph = materials.build_plain("teeth", (0.85, 0.8, 0.7), 0.25, subsurface=0.1)
        gums, self.gums_graph = materials.build_plain("gums", (0.6, 0.18, 0.2), 0.4, subsurface=0.3)
        for name in MOUTH_PROPS:
            if name not in asset.props:
                continue
            prop = asset.props[name]
            obj = _mesh_object(name, prop.vertices, prop.faces, self.frame)
            obj.data.materials.append(teeth if name.startswith("teeth") else gums)
            obj.pass_index = MOUTH_PASS_INDEX
            self.props[name] = obj

    def _build_occluders(self):
        self.occluders = {}
        frame_mat, self.frame_graph = materials.build_plain("glasses_frame", (0.05, 0.05, 0.05), 0.3)
        lens_mat, self.lens_graph = materials.build_plain("glasses_lens", (1, 1, 1), 0.0, transmission=1.0)
        # a thin lens: almost no refraction, so it reads as clear glass with reflections, not a dark blob
        next(n for n in lens_mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled").inputs["IOR"] \
            .default_value = 1.1
        self.hand_mat, self.hand_graph = materials.build_plain("hand", (0.7, 0.5, 0.4), 0.5, subsurface=0.2)
        self.shape_mat, self.shape_graph = materials.build_plain("shape", (0.5, 0.5, 0.5), 0.5)
        special = {"glasses_frame": frame_mat, "glasses_lenses": lens_mat, "hand": self.hand_mat}
        for name, (v, f) in occluders.occluder_objects().items():
            obj = _mesh_object("occ_" + name, v, f, self.frame, smooth=name != "shape_cube")
            obj.data.materials.append(special.get(name, self.shape_mat))
            obj.hide_render = True
            obj.hide_viewport = True
            obj.pass_index = LENS_PASS_INDEX if name == "glasses_lenses" else OCCLUDER_PASS_INDEX
            self.occluders[name] = obj

    def _build_torso(self):
        self.shirt_mat, self.shirt_graph = materials.build_plain("shirt", (0.3, 0.3, 0.5), 0.8)
        self.torso = _mesh_object("torso", *occluders.torso(), self.frame)
        self.torso.data.materials.append(self.shirt_mat)
        self.torso.pass_index = TORSO_PASS_INDEX

    def _build_camera(self):
        data = bpy.data.cameras.new("camera")
        data.sensor_fit = "HORIZONTAL"
        data.clip_start = 0.01
        data.clip_end = 100.0
        self.camera = bpy.data.objects.new("camera", data)
        self.scene.collection.objects.link(self.camera)
        self.camera.parent = self.frame
        self.scene.camera = self.camera

    def _render_settings(self, resolution, samples, denoise, transparent, threads):
        render = self.scene.render
        render.engine = "CYCLES"
        render.resolution_x = render.resolution_y = resolution
        render.resolution_percentage = 100
        render.use_persistent_data = True  # keep BVH, images and the world map between samples
        render.film_transparent = transparent
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGBA" if transparent else "RGB"
        render.image_settings.color_depth = "8"
        if threads:
            render.threads_mode = "FIXED"
            render.threads = threads
        cycles = self.scene.cycles
        cycles.samples = samples
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = denoise
        if denoise:
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

    def apply(self, p: SampleParams, posed: Posed, cam: CameraPose, occluder_matrices: dict) -> None:
        _set_coords(self.head, posed.vertices)
        self.head.data.attributes["wrinkle"].data.foreach_set("value", posed.compression)
        for name, obj in self.props.items():
            _set_coords(obj, posed.props[name])
        if self.lashes is not None:
            _set_coords(self.lashes, lashes.strands(self.lash_layout, posed.vertices, posed.eye_centres,
                                                    posed.head_rotation, p.skin.lash_length))
            dark = tuple(0.15 * c for c in p.skin.hair_color) if p.skin.makeup == 0 else (0.01, 0.01, 0.01)
            self.lash_graph.set("color", dark)
        materials.apply_skin(self.skin, p)
        materials.apply_eye(self.eye, p)
        self.teeth_graph.set("color", p.mouth.teeth_color)
        self.gums_graph.set("color", p.mouth.gum_color)

        occ = p.occluder
        for name, obj in self.occluders.items():
            visible = name in occluder_matrices
            obj.hide_render = not visible
            # the lenses are see-through: kept out of the ray-cast scene that decides visibility
            obj.hide_viewport = not visible or name == "glasses_lenses"
            if visible:
                obj.matrix_parent_inverse = Matrix.Identity(4)
                obj.matrix_basis = Matrix(occluder_matrices[name].tolist())
        self.frame_graph.set("color", occ.frame_color)
        self.frame_graph.set("metallic", 1.0 if occ.frame_color[0] > 0.35 else 0.0)
        self.lens_graph.set("color", (0.25, 0.22, 0.2) if occ.tinted else (1.0, 1.0, 1.0))
        self.hand_graph.set("color", p.skin.base_color)
        self.shape_graph.set("color", occ.color)
        self.shape_graph.set("roughness", 0.2 + 0.6 * occ.color[2])
        self.torso.matrix_parent_inverse = Matrix.Identity(4)
        self.torso.matrix_basis = Matrix(occluders.torso_matrix(posed.head_rotation, posed.neck_ring_centre,
                                                                p.body.width).tolist())
        self.shirt_graph.set("color", p.body.shirt_color)
        self.shirt_graph.set("roughness", p.body.shirt_roughness)

        self.camera.matrix_parent_inverse = Matrix.Identity(4)
        self.camera.matrix_basis = Matrix(to_blender_camera_matrix(cam).tolist())
        self.camera.data.lens = cam.focal_mm
        self.camera.data.sensor_width = cam.sensor_mm
        self.world.apply(p.lighting, posed.eye_centres.mean(0))
        self.scene.cycles.seed = p.render_seed
        bpy.context.view_layer.update()

    def visibility(self, points: np.ndarray, cam: CameraPose) -> np.ndarray:
        """(N,) bool: a ray from the camera reaches each point (label frame) unblocked and inside the image."""
        depsgraph = bpy.context.evaluated_depsgraph_get()
        to_world = np.array(self.frame.matrix_world)
        pts = points @ to_world[:3, :3].T + to_world[:3, 3]
        origin = Vector(tuple(cam.centre @ to_world[:3, :3].T + to_world[:3, 3]))
        out = np.zeros(len(points), bool)
        for i, p in enumerate(pts):
            d = Vector(tuple(p)) - origin
            dist = d.length
            hit, location, *_ = self.scene.ray_cast(depsgraph, origin, d.normalized(), distance=dist + 1.0)
            out[i] = (not hit) or (location - origin).length >= dist - VISIBILITY_TOLERANCE
        uv, z = project(points, cam)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height) & (z > 0)
        return out & inside

    def _mask_compositor(self):
        """Compositor writing the object-index pass as an 8-bit PNG (value = pass index)."""
        bpy.context.view_layer.use_pass_object_index = True
        tree = bpy.data.node_groups.new("synthetic_masks", "CompositorNodeTree")
        self.scene.compositing_node_group = tree
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

    def render(self, path: Path, mask_path: Path | None = None) -> Path | None:
        """Render the image to `path`; with masks on, also the mask, returned as the file Blender wrote."""
        self.scene.render.filepath = str(path)
        if self.mask_output is not None:
            self.mask_output.directory = str(Path(mask_path).parent) + "/"
            self.mask_output.file_name = Path(mask_path).stem
        bpy.ops.render.render(write_still=True)
        if self.mask_output is None:
            return None
        written = sorted(Path(mask_path).parent.glob(Path(mask_path).stem + "*.png"))
        if not written:
            raise RuntimeError(f"Blender wrote no mask for {mask_path}")
        return written[-1]
