"""The head asset: one versioned file holding everything FLAME-topology code needs.

Arrays are float32 metres, Y up, face towards +Z, +X the character's left.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from ..atomic_io import save_npz

ASSET_FORMAT = "facecap-head"
ASSET_VERSION = 2  # 2: eyelid margins, build metrics and attribution are typed fields, no longer in `info`

REGION_NAMES = ("forehead_brows", "eyes", "nose", "cheeks", "mouth", "chin_jaw", "face")
JOINT_NAMES = ("root", "neck", "jaw", "eye_left", "eye_right")
JOINT_PARENTS = (-1, 0, 1, 1, 1)


@dataclasses.dataclass
class Prop:
    """A mesh carried along with the head for renders (teeth, gums/tongue, eyeballs)."""

    vertices: np.ndarray  # (N, 3) in the FLAME template frame
    faces: np.ndarray  # (M, 3) int32
    uv: np.ndarray  # (N, 2) per-vertex UV, may be empty
    follows: str  # "skull", "jaw", "eye_left" or "eye_right"


@dataclasses.dataclass
class LidMargins:
    """The margin of each lid of one eye: vertex chains corner -> corner, both in the same direction."""

    upper: np.ndarray
    lower: np.ndarray


@dataclasses.dataclass
class HeadAsset:
    template: np.ndarray  # (V, 3) neutral of the mean identity
    faces: np.ndarray  # (F, 3) int32
    identity_basis: np.ndarray  # (V, 3, K) identity components
    shape_names: tuple[str, ...]  # ARKit names present, in ARKIT_NAMES order
    blendshapes: np.ndarray  # (S, V, 3) displacement at weight 1
    omitted: tuple[str, ...]  # ARKit names not carried
    head_vertices: np.ndarray  # (Vh,) int indices of the skin mesh
    eyeball_left: np.ndarray  # (Ve,) indices, the character's left (+X)
    eyeball_right: np.ndarray
    regions: dict[str, np.ndarray]  # name -> (V,) bool, names in REGION_NAMES
    lmk68_faces: np.ndarray  # (68,) triangle index
    lmk68_bary: np.ndarray  # (68, 3) barycentric weights
    mp478_faces: np.ndarray  # (478,) triangle index of each MediaPipe Face Mesh landmark
    mp478_bary: np.ndarray  # (478, 3)
    joint_names: tuple[str, ...]
    joint_parents: tuple[int, ...]
    joint_regressor: np.ndarray  # (J, V): pivots = joint_regressor @ vertices (affine rows)
    skin_weights: np.ndarray  # (V, J) rows sum to 1
    props: dict[str, Prop]
    prop_anchor_ids: np.ndarray  # skin vertices whose similarity fit places the mouth props on an identity
    jaw_shape_motion: np.ndarray  # (S, 6) rigid jaw motion of each shape: rotation vector, translation
    mirror: np.ndarray  # (V,) index of each vertex's mirror image across x = 0
    eyelid_margins: dict[str, LidMargins]  # "left" (+X) and "right"
    attribution: dict[str, str]  # source -> credit and licence
    builder_version: int
    landmark_residual_mm: float  # mean over the 51 inner 68-point landmarks after registration
    asymmetry_pct_as_transferred: dict[str, float]  # per Left shape, before the pairs are averaged
    info: dict  # provenance and build settings, for people to read (code reads the typed fields)

    @property
    def n_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def n_identity(self) -> int:
        return int(self.identity_basis.shape[2])

    @property
    def skin_faces(self) -> np.ndarray:
        """The triangles of the skin mesh (no eyeballs)."""
        return self.faces[np.isin(self.faces, self.head_vertices).all(1)]


def asset_digest(asset: HeadAsset) -> str:
    """The one digest of a head asset: what a network or a dataset made from it depends on (geometry, identity
    basis, shapes and their names). Recorded in the semantic model's metadata and in synthetic manifests."""
    h = hashlib.sha256()
    for a in (asset.template, asset.faces, asset.identity_basis, asset.blendshapes):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(list(asset.shape_names)).encode())
    return h.hexdigest()[:16]


class AssetError(RuntimeError):
    """An asset file or an input to its build is missing, corrupt or of the wrong kind."""


def save_asset(asset: HeadAsset, path: Path) -> None:
    """Write atomically: a reader never sees a half-written file."""
    arrays = {}
    for field in dataclasses.fields(asset):
        value = getattr(asset, field.name)
        if isinstance(value, np.ndarray):
            arrays[field.name] = value
    for name, mask in asset.regions.items():
        arrays[f"region/{name}"] = mask
    for name, prop in asset.props.items():
        for key in ("vertices", "faces", "uv"):
            arrays[f"prop/{name}/{key}"] = getattr(prop, key)
    for side, margins in asset.eyelid_margins.items():
        arrays[f"eyelid/{side}/upper"], arrays[f"eyelid/{side}/lower"] = margins.upper, margins.lower
    meta = {
        "format": ASSET_FORMAT,
        "version": ASSET_VERSION,
        "shape_names": list(asset.shape_names),
        "omitted": list(asset.omitted),
        "joint_names": list(asset.joint_names),
        "joint_parents": list(asset.joint_parents),
        "props": {name: prop.follows for name, prop in asset.props.items()},
        "eyelid_sides": list(asset.eyelid_margins),
        "attribution": asset.attribution,
        "builder_version": asset.builder_version,
        "landmark_residual_mm": asset.landmark_residual_mm,
        "asymmetry_pct_as_transferred": asset.asymmetry_pct_as_transferred,
        "info": asset.info,
    }
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    save_npz(path, arrays, compressed=True)


def load_asset_file(path: Path) -> HeadAsset:
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"head asset {path} does not exist; build it with `python -m models.head build`")
    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(bytes(data["meta_json"]).decode())
    except Exception as exc:  # zip, json or key errors all mean the same to a user
        raise AssetError(f"head asset {path} is unreadable ({exc}); delete it and rebuild with "
                         "`python -m models.head build`") from exc
    if meta.get("format") != ASSET_FORMAT or meta.get("version") != ASSET_VERSION:
        raise AssetError(f"head asset {path} is format {meta.get('format')} v{meta.get('version')}, "
                         f"expected {ASSET_FORMAT} v{ASSET_VERSION}; rebuild with `python -m models.head build`")
    plain = {f.name for f in dataclasses.fields(HeadAsset)} & set(data.files)
    props = {
        name: Prop(data[f"prop/{name}/vertices"], data[f"prop/{name}/faces"], data[f"prop/{name}/uv"], follows)
        for name, follows in meta["props"].items()
    }
    regions = {key.split("/", 1)[1]: data[key] for key in data.files if key.startswith("region/")}
    margins = {side: LidMargins(data[f"eyelid/{side}/upper"], data[f"eyelid/{side}/lower"])
               for side in meta["eyelid_sides"]}
    return HeadAsset(
        **{name: data[name] for name in plain},
        shape_names=tuple(meta["shape_names"]),
        omitted=tuple(meta["omitted"]),
        joint_names=tuple(meta["joint_names"]),
        joint_parents=tuple(meta["joint_parents"]),
        regions=regions,
        props=props,
        eyelid_margins=margins,
        attribution=meta["attribution"],
        builder_version=meta["builder_version"],
        landmark_residual_mm=meta["landmark_residual_mm"],
        asymmetry_pct_as_transferred=meta["asymmetry_pct_as_transferred"],
        info=meta["info"],
    )
