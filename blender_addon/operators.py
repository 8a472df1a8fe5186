"""Operators: thin wrappers around rig.py, each guarded by poll."""
from __future__ import annotations

import time

import bpy
import numpy as np

from . import rig
from .asset_source import head_asset
from .deps import arkit, head

SHAPE_KEYS = len(arkit.ARKIT_NAMES) - len(arkit.OMITTED)


def _preferences(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def _asset(operator, context):
    """The head asset, or None after reporting why it cannot be loaded."""
    prefs = _preferences(context)
    try:
        return head_asset(prefs.asset_path if prefs else "")
    except Exception as exc:  # AssetError and unreadable override files
        operator.report({"ERROR"}, str(exc))
        return None


def _rig_of(obj):
    if obj is None:
        return None, None
    if "facecap_identity" in obj:
        return obj, obj.parent
    if obj.type == "ARMATURE" and "facecap_head" in obj:
        return bpy.data.objects.get(obj["facecap_head"]), obj
    return None, None


class FACECAP_OT_create_head(bpy.types.Operator):
    bl_idname = "facecap.create_head"
    bl_description = (f"Create a FLAME-topology head with {SHAPE_KEYS} ARKit shape keys "
                      f"({', '.join(arkit.OMITTED)} omitted) and an armature")
    bl_label = "Create Head Rig"
    bl_options = {"REGISTER", "UNDO"}

    identity_seed: bpy.props.IntProperty(name="Identity Seed", default=0, min=0,
                                         description="0 gives the mean face; other values a random identity")
    identity_scale: bpy.props.FloatProperty(name="Identity Spread", default=1.0, min=0.0, max=3.0)

    @classmethod
    def poll(cls, context):
        return context.mode == "OBJECT" and context.scene is not None

    def execute(self, context):
        asset = _asset(self, context)
        if asset is None:
            return {"CANCELLED"}
        beta = np.zeros(asset.n_identity)
        if self.identity_seed:
            beta = np.random.default_rng(self.identity_seed).normal(size=asset.n_identity) * self.identity_scale
        t0 = time.perf_counter()
        obj, arm = rig.build_head_rig(asset, beta, collection=context.collection)
        context.view_layer.objects.active = obj
        obj.select_set(True)
        self.report({"INFO"}, f"created {obj.name} in {time.perf_counter() - t0:.2f} s")
        return {"FINISHED"}


class FACECAP_OT_set_identity(bpy.types.Operator):
    """Set the leading identity coefficients of the selected head (the rest stay as they are)"""

    bl_idname = "facecap.set_identity"
    bl_label = "Apply Identity"
    bl_options = {"REGISTER", "UNDO"}

    coefficients: bpy.props.FloatVectorProperty(name="Identity", size=10, min=-4.0, max=4.0)
    randomize: bpy.props.BoolProperty(name="Randomize", default=False)
    seed: bpy.props.IntProperty(name="Seed", default=1, min=0)

    @classmethod
    def poll(cls, context):
        obj, arm = _rig_of(context.active_object)
        return context.mode == "OBJECT" and obj is not None and arm is not None

    def invoke(self, context, event):
        obj, _ = _rig_of(context.active_object)
        current = list(obj["facecap_identity"])
        self.coefficients = (current + [0.0] * 10)[:10]
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        obj, arm = _rig_of(context.active_object)
        asset = _asset(self, context)
        if asset is None:
            return {"CANCELLED"}
        beta = np.array(obj["facecap_identity"], np.float64)
        if self.randomize:
            beta = np.random.default_rng(self.seed).normal(size=asset.n_identity)
        else:
            k = min(10, len(beta))
            beta[:k] = np.array(self.coefficients)[:k]
        rig.set_identity(obj, arm, asset, beta)
        return {"FINISHED"}


CLASSES = (FACECAP_OT_create_head, FACECAP_OT_set_identity)
