"""Reading and validating the third-party inputs of the head build (FLAME 2023 Open, ICT-FaceKit)."""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np

from ...paths import shared_dir
from ..asset import AssetError

FLAME_VERTICES = 5023
FLAME_FACES = 9976
ICT_VERTICES = 26719


def default_flame_path() -> Path:
    return shared_dir() / "assets/flame2023_open/flame2023_open_subset.npz"


def default_landmarks_path() -> Path:
    return shared_dir() / "assets/flame2023_open/landmarks68_embedding.npz"


def default_ict_path() -> Path:
    return shared_dir() / "assets/ict_facekit/ict_facekit_light.npz"


@dataclasses.dataclass
class FlameSource:
    template: np.ndarray  # (5023, 3) float64 metres
    faces: np.ndarray  # (9976, 3) int32
    identity_basis: np.ndarray  # (5023, 3, K)
    lmk68_faces: np.ndarray  # (68,)
    lmk68_bary: np.ndarray  # (68, 3)
    kind: str  # "subset-npz" or "full-pkl"


@dataclasses.dataclass
class IctSource:
    neutral: np.ndarray  # (26719, 3) metres
    quads: np.ndarray  # (Q, 4)
    uv: np.ndarray
    faces_uv: np.ndarray
    expr_names: list[str]
    expr_deltas: np.ndarray  # (57, 26719, 3) metres
    regions: dict[str, tuple[int, int]]  # inclusive ranges
    landmarks68: np.ndarray  # (68,) vertex indices


def _require_file(path: Path, what: str, hint: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{what} not found at {path}. {hint}")
    return path


FLAME_HINT = ("Put FLAME 2023 Open (flame2023_open_subset.npz, or the full flame2023_Open.pkl from "
              "flame.is.tue.mpg.de) there, or pass --flame PATH.")
ICT_HINT = "Put ict_facekit_light.npz (ICT-FaceKit, MIT) there, or pass --ict PATH."


class _ChumpyStandIn:
    """Unpickles chumpy arrays found in older FLAME pickles without needing chumpy."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {})

    def __array__(self, dtype=None):
        value = self.__dict__.get("x", self.__dict__.get("_x"))
        return np.asarray(value, dtype=dtype)


class _FlameUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyStandIn
        if module.startswith(("numpy", "scipy", "builtins", "copy_reg", "copyreg", "collections", "__builtin__")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a FLAME pickle")


def _read_flame_arrays(path: Path) -> tuple[dict, str]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}, "subset-npz"
        if path.suffix == ".pkl":
            with open(path, "rb") as handle:
                raw = _FlameUnpickler(handle, encoding="latin1").load()
            if not isinstance(raw, dict):
                raise ValueError("the pickle does not hold a dict")
            return {k: (np.asarray(v.todense() if hasattr(v, "todense") else v)) for k, v in raw.items()
                    if k in ("v_template", "f", "faces", "shapedirs")}, "full-pkl"
    except AssetError:
        raise
    except Exception as exc:
        raise AssetError(f"FLAME file {path} is corrupt or unreadable ({exc}). {FLAME_HINT}") from exc
    raise AssetError(f"FLAME file {path} must be .npz (the subset) or .pkl (flame2023_Open.pkl)")


def load_flame(path: Path | None = None, landmarks_path: Path | None = None) -> FlameSource:
    path = _require_file(path or default_flame_path(), "FLAME model", FLAME_HINT)
    lpath = _require_file(landmarks_path or default_landmarks_path(), "FLAME 68-landmark embedding",
                          "It is landmarks68_embedding.npz (lmk_face_idx, lmk_b_coords).")
    arrays, kind = _read_flame_arrays(path)
    faces = arrays.get("faces", arrays.get("f"))
    missing = [k for k, v in (("v_template", arrays.get("v_template")), ("faces", faces),
                              ("shapedirs", arrays.get("shapedirs"))) if v is None]
    if missing:
        raise AssetError(f"FLAME file {path} lacks {', '.join(missing)}. {FLAME_HINT}")
    template = np.asarray(arrays["v_template"], np.float64)
    faces = np.asarray(faces).astype(np.int32)
    shapedirs = np.asarray(arrays["shapedirs"], np.float64)
    if template.shape != (FLAME_VERTICES, 3) or faces.shape != (FLAME_FACES, 3):
        raise AssetError(f"FLAME file {path} has {template.shape[0]} vertices / {faces.shape[0]} faces; FLAME "
                         f"topology has {FLAME_VERTICES} / {FLAME_FACES}. Is it a FLAME 2020/2023 model?")
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (FLAME_VERTICES, 3):
        raise AssetError(f"FLAME shapedirs in {path} has shape {shapedirs.shape}, expected (5023, 3, K)")
    if kind == "full-pkl":
        # The full model stacks 300 identity then 100 expression components; keep identity only.
        shapedirs = shapedirs[:, :, : min(300, shapedirs.shape[2])]
    if not np.isfinite(template).all() or not np.isfinite(shapedirs).all():
        raise AssetError(f"FLAME file {path} holds NaN or infinite values; re-download it")
    try:
        with np.load(lpath, allow_pickle=False) as lm:
            lmk_faces = np.asarray(lm["lmk_face_idx"]).astype(np.int64)
            lmk_bary = np.asarray(lm["lmk_b_coords"], np.float64)
    except Exception as exc:
        raise AssetError(f"landmark embedding {lpath} is corrupt or lacks lmk_face_idx/lmk_b_coords ({exc})") from exc
    if lmk_faces.shape != (68,) or lmk_bary.shape != (68, 3) or lmk_faces.max() >= FLAME_FACES:
        raise AssetError(f"landmark embedding {lpath} is not a 68-point embedding on FLAME topology")
    return FlameSource(template, faces, shapedirs, lmk_faces, lmk_bary, kind)


def load_ict(path: Path | None = None) -> IctSource:
    path = _require_file(path or default_ict_path(), "ICT-FaceKit model", ICT_HINT)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("neutral", "faces", "uv", "faces_uv", "expr_names", "expr_deltas",
                                            "region_names", "region_ranges", "landmarks68")}
    except Exception as exc:
        raise AssetError(f"ICT-FaceKit file {path} is corrupt or incomplete ({exc}). {ICT_HINT}") from exc
    neutral = arrays["neutral"].astype(np.float64)
    if neutral.shape != (ICT_VERTICES, 3) or arrays["expr_deltas"].shape[1:] != (ICT_VERTICES, 3):
        raise AssetError(f"ICT-FaceKit file {path} has {neutral.shape[0]} vertices; the Face Model Light "
                         f"has {ICT_VERTICES}. {ICT_HINT}")
    cm = 0.01  # ICT is in centimetres
    regions = {str(n): (int(a), int(b)) for n, (a, b) in zip(arrays["region_names"], arrays["region_ranges"])}
    return IctSource(
        neutral=neutral * cm,
        quads=arrays["faces"].astype(np.int64),
        uv=arrays["uv"].astype(np.float64),
        faces_uv=arrays["faces_uv"].astype(np.int64),
        expr_names=[str(n) for n in arrays["expr_names"]],
        expr_deltas=arrays["expr_deltas"].astype(np.float64) * cm,
        regions=regions,
        landmarks68=arrays["landmarks68"].astype(np.int64),
    )
