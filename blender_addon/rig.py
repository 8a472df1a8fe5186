"""The head rig in Blender: mesh with ARKit shape keys, an armature, materials and attribution.

Plain functions (operators in operators.py only call these). All bulk data goes through foreach_set.
"""
from __future__ import annotations

import json

import bpy
import numpy as np
from mathutils import Quaternion

from .deps import head

ATTRIBUTION_TEXT = "FaceCap_ATTRIBUTION"
BONE_TAIL = {"root": (0, -0.03, 0), "neck": (0, 0.05, 0), "jaw": (0, -0.03, 0.06),
             "eye_left": (0, 0, 0.02), "eye_right": (0, 0, 0.02)}


def _mesh_from_arrays(name: str, vertices: np.ndarray, faces: np.ndarray) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update()
    mesh.validate()
    return mesh


def _material(name: str, colour, roughness=0.5, subsurface=0.0) -> bpy.types.Material:
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender 4.x; from 5.0 every material has nodes and use_nodes is deprecated
        mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
        if "Subsurface Weight" in bsdf.inputs:
            bsdf.inputs["Subsurface Weight"].default_value = subsurface
    mat.diffuse_color = (*colour, 1.0)
    return mat


def _write_attribution(asset) -> None:
    text = bpy.data.texts.get(ATTRIBUTION_TEXT) or bpy.data.texts.new(ATTRIBUTION_TEXT)
    text.clear()
    lines = ["This head rig is derived from:"] + [f"- {k}: {v}" for k, v in asset.attribution.items()]
    text.write("\n".join(lines) + "\n")


def build_head_rig(asset, identity=None, name: str = "FaceCapHead", collection=None):
    """Create the head mesh (with shape keys) and its armature; returns (mesh_object, armature_object)."""
    model = head.HeadModel(asset)
    beta = np.zeros(asset.n_identity) if identity is None else np.asarray(identity, np.float64)
    neutral = model.neutral(beta)[0]
    collection = collection or bpy.context.scene.collection

    mesh = _mesh_from_arrays(name, neutral, asset.faces)
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    mesh.materials.append(_material("FaceCap_Skin", (0.8, 0.6, 0.5), 0.45, 0.1))
    mesh.materials.append(_material("FaceCap_Eye", (0.9, 0.9, 0.88), 0.1))
    eye_faces = np.isin(asset.faces, np.r_[asset.eyeball_left, asset.eyeball_right]).all(1)
    mesh.polygons.foreach_set("material_index", eye_faces.astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(asset.faces), bool))

    obj.shape_key_add(name="Basis", from_mix=False)
    for shape_name in asset.shape_names:
        key = obj.shape_key_add(name=shape_name, from_mix=False)
        key.slider_min, key.slider_max = 0.0, 1.0
        key.value = 0.0
    _write_shape_keys(obj, asset, neutral, model.shapes(beta))

    arm_data = bpy.data.armatures.new(name + "_Armature")
    arm = bpy.data.objects.new(name + "_Rig", arm_data)
    collection.objects.link(arm)
    _build_bones(arm, asset, model.joints(beta)[0])

    for j, joint in enumerate(asset.joint_names):
        group = obj.vertex_groups.new(name=joint)
        w = asset.skin_weights[:, j]
        for value in np.unique(w[w > 0]):
            group.add(np.where(w == value)[0].tolist(), float(value), "REPLACE")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    obj.parent = arm

    obj["facecap_identity"] = beta.tolist()
    obj["facecap_asset"] = json.dumps({"builder_version": asset.builder_version,
                                       "omitted": list(asset.omitted)})
    obj["facecap_attribution"] = json.dumps(asset.attribution)
    arm["facecap_head"] = obj.name
    _write_attribution(asset)
    return obj, arm


def _write_shape_keys(obj, asset, neutral: np.ndarray, shapes: np.ndarray) -> None:
    """Basis = the identity's neutral, each key = neutral + that identity's shape (HeadModel.shapes)."""
    keys = obj.data.shape_keys.key_blocks
    keys["Basis"].data.foreach_set("co", neutral.astype(np.float32).ravel())
    obj.data.vertices.foreach_set("co", neutral.astype(np.float32).ravel())
    for k, shape_name in enumerate(asset.shape_names):
        keys[shape_name].data.foreach_set("co", (neutral + shapes[k]).astype(np.float32).ravel())
    obj.data.update()


def _edit_mode(arm):
    view_layer = bpy.context.view_layer
    view_layer.update()
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")


def _build_bones(arm, asset, joints: np.ndarray) -> None:
    _edit_mode(arm)
    bones = arm.data.edit_bones
    for j, joint in enumerate(asset.joint_names):
        bone = bones.get(joint) or bones.new(joint)
        bone.head = joints[j]
        bone.tail = joints[j] + np.array(BONE_TAIL.get(joint, (0, 0.02, 0)))
        bone.roll = 0.0
        bone.use_deform = True
    for joint, parent in zip(asset.joint_names, asset.joint_parents):
        if parent >= 0:
            bones[joint].parent = bones[asset.joint_names[parent]]
            bones[joint].use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.view_layer.update()


def set_identity(obj, arm, asset, identity) -> None:
    """Change the identity of an existing rig: basis, every shape key and the bone positions."""
    model = head.HeadModel(asset)
    beta = np.asarray(identity, np.float64)
    if beta.shape != (asset.n_identity,):
        raise ValueError(f"identity needs {asset.n_identity} coefficients, got {beta.shape}")
    _write_shape_keys(obj, asset, model.neutral(beta)[0], model.shapes(beta))
    pose = {b.name: b.rotation_quaternion.copy() for b in arm.pose.bones}
    _build_bones(arm, asset, model.joints(beta)[0])
    for b in arm.pose.bones:
        b.rotation_quaternion = pose.get(b.name, b.rotation_quaternion)
    obj["facecap_identity"] = beta.tolist()


def set_pose(arm, rotations: dict[str, np.ndarray]) -> None:
    """Rotate bones by axis-angle vectors given in the head's frame (the numpy model's convention)."""
    for joint, rotvec in rotations.items():
        bone = arm.pose.bones[joint]
        rotvec = np.asarray(rotvec, np.float64)
        angle = float(np.linalg.norm(rotvec))
        world = Quaternion(rotvec / angle, angle) if angle > 0 else Quaternion()
        rest = arm.data.bones[joint].matrix_local.to_3x3()
        local = rest.transposed() @ world.to_matrix() @ rest
        bone.rotation_mode = "QUATERNION"
        bone.rotation_quaternion = local.to_quaternion()


def set_weights(obj, weights: dict[str, float]) -> None:
    keys = obj.data.shape_keys.key_blocks
    for name, value in weights.items():
        keys[name].value = float(value)


def evaluated_vertices(obj) -> np.ndarray:
    """World-space vertices after shape keys and the armature."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    matrix = np.array(obj.matrix_world)
    co = co.reshape(-1, 3).astype(np.float64)
    return co @ matrix[:3, :3].T + matrix[:3, 3]


