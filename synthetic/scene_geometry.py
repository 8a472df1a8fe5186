"""The scene's objects (bpy): head with eyeballs and lashes, mouth props, occluders, torso and camera, each with
its material; built once, then placed per sample. Positions are in the label frame (FLAME: Y up, face +Z)."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from models.head import HeadAsset

from . import body, lashes, materials, occluders
from .camera import CameraPose, to_blender_camera_matrix
from .masks import eye_local, skin_masks
from .posing import MOUTH_PROPS, Posed, head_statics
from .sampling import SampleParams

# object-index mask values (--masks)
HEAD_PASS_INDEX = 1
MOUTH_PASS_INDEX = 2
TORSO_PASS_INDEX = 3
OCCLUDER_PASS_INDEX = 4
LENS_PASS_INDEX = 5  # see-through: landmarks behind lenses stay visible

# The mouth fill: a small point light just in front of the lips, linked to the teeth, gums and tongue only (light and
# shadow linking), standing in for the light a real mouth gathers through the lips over more bounces than the
# renderer traces; without it open mouths render as black holes with near-black teeth. Watts at world strength 1.
MOUTH_FILL_W = 0.012
MOUTH_FILL_RADIUS = 0.006  # metres: soft, so no hard tooth shadows on the tongue
MOUTH_FILL_FORWARD = 0.008  # metres in front of the inner-lip centre (head's +Z): lights the teeth's front faces
INNER_LIP_68 = slice(60, 68)


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


class SceneGeometry:
    def __init__(self, scene, frame, asset: HeadAsset):
        self.scene, self.frame = scene, frame
        self.asset_template, self.neck_ring = asset.template, head_statics(asset).neck_ring
        self._build_head(asset)
        self._build_lashes(asset)
        self._build_mouth(asset)
        self._build_occluders()
        self._build_torso()
        self._build_camera()

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
        # little subsurface: its red-heavy radius under the mouth fill turned the tongue a saturated red
        gums, self.gums_graph = materials.build_plain("gums", (0.6, 0.18, 0.2), 0.4, subsurface=0.1)
        for name in MOUTH_PROPS:
            if name not in asset.props:
                continue
            prop = asset.props[name]
            obj = _mesh_object(name, prop.vertices, prop.faces, self.frame)
            obj.data.materials.append(teeth if name.startswith("teeth") else gums)
            obj.pass_index = MOUTH_PASS_INDEX
            self.props[name] = obj
        receivers = bpy.data.collections.new("mouth_fill_receivers")
        for obj in self.props.values():
            receivers.objects.link(obj)
        light = bpy.data.lights.new("mouth_fill", "POINT")
        light.shadow_soft_size = MOUTH_FILL_RADIUS
        self.mouth_fill = bpy.data.objects.new("mouth_fill", light)
        self.scene.collection.objects.link(self.mouth_fill)
        self.mouth_fill.parent = self.frame
        self.mouth_fill.light_linking.receiver_collection = receivers
        self.mouth_fill.light_linking.blocker_collection = receivers  # the lips do not shade it
        self.mouth_fill.hide_render = not self.props
        self.mouth_fill.visible_camera = False

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
        ring = self.asset_template[self.neck_ring]
        if len(ring) < 3:  # an asset without a neck opening: a body under a neck 20 x 14 cm (placed at the pivot)
            a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            ring = np.stack([0.1 * np.cos(a), np.zeros_like(a), 0.07 * np.sin(a)], 1)
        self.torso = _mesh_object("torso", *body.upper_body(ring), self.frame)
        self.torso.data.materials.append(self.shirt_mat)
        self.torso.pass_index = TORSO_PASS_INDEX
        self.collar = None
        if len(self.neck_ring) >= 3:
            self.collar = _mesh_object("collar", *body.collar(ring), self.frame)
            self.collar.data.materials.append(self.shirt_mat)
            self.collar.pass_index = TORSO_PASS_INDEX

    def _build_camera(self):
        data = bpy.data.cameras.new("camera")
        data.sensor_fit = "HORIZONTAL"
        data.clip_start = 0.01
        data.clip_end = 100.0
        self.camera = bpy.data.objects.new("camera", data)
        self.scene.collection.objects.link(self.camera)
        self.camera.parent = self.frame
        self.scene.camera = self.camera

    def place(self, p: SampleParams, posed: Posed, cam: CameraPose, occluder_matrices: dict,
              world_strength: float) -> None:
        """Shape and place every object for one sample (`world_strength`: the world shader's strength)."""
        _set_coords(self.head, posed.vertices)
        lips = posed.lmk68[INNER_LIP_68].mean(0)
        self.mouth_fill.location = tuple(lips + posed.head_rotation @ np.array([0.0, 0.0, MOUTH_FILL_FORWARD]))
        self.mouth_fill.data.energy = MOUTH_FILL_W * world_strength
        self.head.data.attributes["wrinkle"].data.foreach_set("value", posed.compression)
        for name, obj in self.props.items():
            _set_coords(obj, posed.props[name])
        if self.lashes is not None:
            _set_coords(self.lashes, lashes.strands(self.lash_layout, posed.vertices, posed.eye_centres,
                                                    posed.head_rotation, p.skin.lash_length))
        for name, obj in self.occluders.items():
            visible = name in occluder_matrices
            obj.hide_render = not visible
            # the lenses are see-through: kept out of the ray-cast scene that decides visibility
            obj.hide_viewport = not visible or name == "glasses_lenses"
            if visible:
                obj.matrix_parent_inverse = Matrix.Identity(4)
                obj.matrix_basis = Matrix(occluder_matrices[name].tolist())
        self.torso.matrix_parent_inverse = Matrix.Identity(4)
        self.torso.matrix_basis = Matrix(body.body_matrix(posed.head_rotation, posed.neck_ring_centre,
                                                          p.body.width, p.body.build).tolist())
        if self.collar is not None:
            self.collar.matrix_parent_inverse = Matrix.Identity(4)
            self.collar.matrix_basis = Matrix(body.collar_matrix(posed.head_rotation, posed.neck_ring_centre).tolist())
        self.camera.matrix_parent_inverse = Matrix.Identity(4)
        self.camera.matrix_basis = Matrix(to_blender_camera_matrix(cam).tolist())
        self.camera.data.lens = cam.focal_mm
        self.camera.data.sensor_width = cam.sensor_mm

    def shade(self, p: SampleParams) -> None:
        """Set every material's values for one sample."""
        if self.lashes is not None:
            dark = tuple(0.15 * c for c in p.skin.hair_color) if p.skin.makeup == 0 else (0.01, 0.01, 0.01)
            self.lash_graph.set("color", dark)
        materials.apply_skin(self.skin, p)
        materials.apply_eye(self.eye, p)
        self.teeth_graph.set("color", p.mouth.teeth_color)
        self.gums_graph.set("color", p.mouth.gum_color)
        occ = p.occluder
        self.frame_graph.set("color", occ.frame_color)
        self.frame_graph.set("metallic", 1.0 if occ.frame_color[0] > 0.35 else 0.0)
        self.lens_graph.set("color", (0.25, 0.22, 0.2) if occ.tinted else (1.0, 1.0, 1.0))
        self.hand_graph.set("color", p.skin.base_color)
        self.shape_graph.set("color", occ.color)
        self.shape_graph.set("roughness", 0.2 + 0.6 * occ.color[2])
        self.shirt_graph.set("color", p.body.shirt_color)
        self.shirt_graph.set("roughness", p.body.shirt_roughness)
