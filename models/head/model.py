"""The numpy forward model of the head rig: identity + ARKit weights + joint rotations -> vertices.

    shaped  = template + identity_basis . identity + shapes(identity) . weights
    joints  = joint_regressor @ (template + identity_basis . identity)   (the rig's bones: no expression)
    G_j     = G_parent(j) . T(joint_j) . R_j . T(-joint_j)                (rotations in the head's frame)
    posed_v = sum_j skin_weights[v, j] G_j shaped_v

shapes(identity) are the asset's ARKit shapes moved onto that identity (identity_shapes.py: deformation
transfer with the lids re-closed, linearised in the identity coefficients). Blender's armature modifier
computes the same thing (blender_addon/rig.py sets each pose bone to B^T R_j B, with B the bone's rest
orientation, and writes shapes(identity) as the shape keys), so the two agree to float32 precision.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..geometry import similarity_transform
from ..vocab.arkit import ARKIT_NAMES, columns
from .asset import HeadAsset
from .identity_shapes import IdentityShapes, load_identity_shapes

ROTATION_JOINTS = ("neck", "jaw", "eye_left", "eye_right")


def _batch(x, batch, width, name):
    if x is None:
        return np.zeros((batch, width))
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.shape[-1] != width:
        raise ValueError(f"{name} has {x.shape[-1]} values per sample, expected {width}")
    return np.repeat(x, batch, 0) if x.shape[0] == 1 else x


def _rigid(rotvec, pivot):
    """(B, 4, 4) rotation about a pivot."""
    b = len(rotvec)
    out = np.tile(np.eye(4), (b, 1, 1))
    r = Rotation.from_rotvec(rotvec).as_matrix()
    out[:, :3, :3] = r
    out[:, :3, 3] = pivot - np.einsum("bij,bj->bi", r, pivot)
    return out


class HeadModel:
    def __init__(self, asset: HeadAsset, shapes_cache=None):
        """`shapes_cache`: folder of the cached identity-shape derivatives (default: the head cache folder)."""
        self.asset = asset
        self._shapes_cache = shapes_cache
        self._identity_shapes: IdentityShapes | None = None
        self.template = asset.template.astype(np.float64)
        self.identity_basis = asset.identity_basis.astype(np.float64)
        self.blendshapes = asset.blendshapes.astype(np.float64)
        self.regressor = asset.joint_regressor.astype(np.float64)
        self.weights = asset.skin_weights.astype(np.float64)
        self.shape_names = asset.shape_names
        self._arkit_columns = columns(asset.shape_names)

    def shape_weights(self, weights, batch: int) -> np.ndarray:
        """Accept weights in the asset's shape order (S) or in full ARKIT_NAMES order (52)."""
        if weights is None:
            return np.zeros((batch, len(self.shape_names)))
        w = np.asarray(weights, np.float64)
        w = w[None] if w.ndim == 1 else w
        if w.shape[-1] == len(ARKIT_NAMES) and len(ARKIT_NAMES) != len(self.shape_names):
            w = w[:, self._arkit_columns]
        return _batch(w, batch, len(self.shape_names), "weights")

    def _batch_size(self, *arrays) -> int:
        sizes = {np.asarray(a).shape[0] for a in arrays if a is not None and np.asarray(a).ndim == 2}
        if len(sizes) > 1:
            raise ValueError(f"inconsistent batch sizes {sorted(sizes)}")
        return sizes.pop() if sizes else 1

    @property
    def identity_shapes(self) -> IdentityShapes:
        """The identity-specific shapes; loaded (or computed and cached, about a minute) on first use."""
        if self._identity_shapes is None:
            self._identity_shapes = load_identity_shapes(self.asset, self._shapes_cache)
        return self._identity_shapes

    def shapes(self, identity=None) -> np.ndarray:
        """(S, V, 3) displacements of the ARKit shapes (asset.shape_names order) on one identity (K,)."""
        beta = np.zeros(self.identity_basis.shape[2]) if identity is None else np.asarray(identity, np.float64)
        return self.identity_shapes(beta.reshape(-1))

    def shaped(self, identity=None, weights=None) -> np.ndarray:
        """(B, V, 3) unposed vertices: neutral + the identity's shapes . weights."""
        b = self._batch_size(identity, weights)
        beta = _batch(identity, b, self.identity_basis.shape[2], "identity")
        w = self.shape_weights(weights, b)
        out = self.neutral(beta)
        for i in np.flatnonzero(w.any(1)):
            out[i] += self.identity_shapes.combine(beta[i], w[i])
        return out

    def neutral(self, identity=None) -> np.ndarray:
        b = self._batch_size(identity)
        beta = _batch(identity, b, self.identity_basis.shape[2], "identity")
        return self.template + np.einsum("vck,bk->bvc", self.identity_basis, beta)

    def joints(self, identity=None) -> np.ndarray:
        return np.einsum("jv,bvc->bjc", self.regressor, self.neutral(identity))

    def joint_transforms(self, joints, neck=None, jaw=None, eye_left=None, eye_right=None) -> np.ndarray:
        """(B, J, 4, 4) world transforms of the joints for axis-angle rotations (B, 3) in radians."""
        b = joints.shape[0]
        rot = {"neck": neck, "jaw": jaw, "eye_left": eye_left, "eye_right": eye_right}
        names, parents = self.asset.joint_names, self.asset.joint_parents
        g = np.zeros((b, len(names), 4, 4))
        for j, (name, parent) in enumerate(zip(names, parents)):
            local = _rigid(_batch(rot.get(name), b, 3, name), joints[:, j])
            g[:, j] = local if parent < 0 else g[:, parent] @ local
        return g

    def vertices(self, identity=None, weights=None, neck=None, jaw=None, eye_left=None, eye_right=None,
                 return_joints: bool = False):
        """Posed vertices (B, V, 3) in metres."""
        b = self._batch_size(identity, weights, neck, jaw, eye_left, eye_right)
        beta = _batch(identity, b, self.identity_basis.shape[2], "identity")
        joints = np.einsum("jv,bvc->bjc", self.regressor, self.neutral(beta))
        shaped = self.shaped(beta, self.shape_weights(weights, b))
        g = self.joint_transforms(joints, neck, jaw, eye_left, eye_right)
        blend = np.einsum("vj,bjkl->bvkl", self.weights, g)
        posed = np.einsum("bvkl,bvl->bvk", blend[..., :3, :3], shaped) + blend[..., :3, 3]
        return (posed, joints) if return_joints else posed

    def place_props(self, identity=None, weights=None, neck=None, jaw=None, eye_left=None, eye_right=None):
        """Prop vertices (name -> (B, N, 3)) for the same arguments as `vertices`.

        Mouth props follow a similarity fitted on the skin around the mouth (so they scale with the
        identity); the lower teeth and tongue also take the jaw motion of the ARKit weights, then every
        prop takes the transform of the joint it follows.
        """
        asset = self.asset
        b = self._batch_size(identity, weights, neck, jaw, eye_left, eye_right)
        identity = _batch(identity, b, self.identity_basis.shape[2], "identity")
        w = self.shape_weights(weights, b)
        neutral = self.neutral(identity)
        joints = np.einsum("jv,bvc->bjc", self.regressor, neutral)
        g = self.joint_transforms(joints, neck, jaw, eye_left, eye_right)
        anchors = asset.prop_anchor_ids
        jaw_index = asset.joint_names.index("jaw")
        out = {}
        for name, prop in asset.props.items():
            pts = np.repeat(prop.vertices[None].astype(np.float64), b, 0)
            if prop.follows.startswith("eye"):
                eye = asset.eyeball_left if prop.follows == "eye_left" else asset.eyeball_right
                src, joint = eye, asset.joint_names.index(prop.follows)
            else:
                src, joint = anchors, asset.joint_names.index("neck" if prop.follows == "skull" else "jaw")
            for i in range(b):
                s, r, t = similarity_transform(self.template[src], neutral[i, src])
                pts[i] = s * pts[i] @ r.T + t
            if prop.follows == "jaw":
                motion = w @ asset.jaw_shape_motion
                for i in range(b):
                    r = Rotation.from_rotvec(motion[i, :3]).as_matrix()
                    pivot = joints[i, jaw_index]
                    pts[i] = (pts[i] - pivot) @ r.T + pivot + motion[i, 3:]
            out[name] = np.einsum("bkl,bnl->bnk", g[:, joint, :3, :3], pts) + g[:, joint, None, :3, 3]
        return out
