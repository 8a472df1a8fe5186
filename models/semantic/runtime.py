"""Inference with the exported SEREP networks through ONNX Runtime (no torch needed).

All meshes are (B, V, 3) float32 in metres on FLAME topology; codes are (B, 64).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.model_files import ModelFileError, load_model_files
from models.paths import weights_dir

WEIGHTS_DIR = weights_dir()
FILES = {"expression": "semantic_expression_encoder.onnx", "identity": "semantic_identity_encoder.onnx",
         "decoder": "semantic_decoder.onnx"}
META = "semantic.json"
REQUIRED = {"n_vertices": int, "asset_digest": str}


def restore_hint(weights_dir: Path) -> str:
    if Path(weights_dir).resolve() == WEIGHTS_DIR:
        return ("restore the shipped weights with `git checkout -- models/weights/` or re-export them with "
                "`python -m models.semantic export`")
    return f"re-export them with `python -m models.semantic export --out {weights_dir}`"


def semantic_digests(weights_dir: Path = WEIGHTS_DIR) -> dict[str, str]:
    """sha256 of the three ONNX files by role (expression, identity, decoder), checked against semantic.json."""
    weights_dir = Path(weights_dir)
    meta, _ = load_model_files(weights_dir, META, FILES.values(), restore_hint(weights_dir), REQUIRED)
    return {role: meta["sha256"][name] for role, name in FILES.items()}


def providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class SemanticRuntime:
    def __init__(self, weights_dir: Path = WEIGHTS_DIR):
        import onnxruntime as ort

        weights_dir = Path(weights_dir)
        hint = restore_hint(weights_dir)
        self.meta, contents = load_model_files(weights_dir, META, FILES.values(), hint, REQUIRED)
        self.n_vertices = self.meta["n_vertices"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sessions = {}
        for key, name in FILES.items():
            try:
                self.sessions[key] = ort.InferenceSession(contents[name], opts, providers=providers())
            except Exception as exc:  # onnxruntime raises its own untyped errors
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise ModelFileError(f"{weights_dir / name} is not a loadable ONNX model ({first}); {hint}") from None

    def _mesh(self, x, name: str) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (self.n_vertices, 3):
            raise ValueError(f"{name} must be (B, {self.n_vertices}, 3) or ({self.n_vertices}, 3) in metres on "
                             f"FLAME topology, got {x.shape}")
        return np.ascontiguousarray(x)

    def encode_expression(self, mesh, neutral) -> np.ndarray:
        mesh, neutral = self._mesh(mesh, "mesh"), self._mesh(neutral, "neutral")
        neutral = np.broadcast_to(neutral, mesh.shape).copy()
        return self.sessions["expression"].run(None, {"mesh": mesh, "neutral": neutral})[0]

    def encode_identity(self, neutral) -> np.ndarray:
        return self.sessions["identity"].run(None, {"neutral": self._mesh(neutral, "neutral")})[0]

    def displacement(self, z_exp, z_id) -> np.ndarray:
        z_exp = np.atleast_2d(np.asarray(z_exp, np.float32))
        z_id = np.broadcast_to(np.atleast_2d(np.asarray(z_id, np.float32)), z_exp.shape).copy()
        return self.sessions["decoder"].run(None, {"z_exp": z_exp, "z_id": z_id})[0]

    def decode(self, z_exp, z_id, neutral) -> np.ndarray:
        return self._mesh(neutral, "neutral") + self.displacement(z_exp, z_id)

    def retarget(self, mesh, source_neutral, target_neutral) -> np.ndarray:
        """The expression of ``mesh`` (an identity with ``source_neutral``) on ``target_neutral``."""
        z_exp = self.encode_expression(mesh, source_neutral)
        target = np.broadcast_to(self._mesh(target_neutral, "target_neutral"), (len(z_exp), self.n_vertices, 3))
        return self.decode(z_exp, self.encode_identity(target), target)
