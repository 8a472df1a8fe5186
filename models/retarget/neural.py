"""The neural capture backend: the capture model (models.capture, ONNX Runtime) reads each frame's semantic
expression code, head rotation and gaze; the SEREP decoder puts the code on the target identity, and the mesh
solve turns the decoded mesh into that identity's ARKit weights.

frames + Track -> crops (models.capture.crop, from the tracked 478 points) -> CaptureResult -> decode -> solve.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ..model_files import ModelFileError
from ..video.errors import Cancelled, CaptureError
from .camera import FRONTAL
from .landmark_fit import eye_matrices
from .performance import Performance
from .solve import MeshSolver, to_arkit


@dataclasses.dataclass
class NeuralOptions:
    weights_dir: str | None = None  # the capture model's folder (default: the shipped models/weights)
    name: str = "capture_light"
    semantic_dir: str | None = None  # the semantic autoencoder's folder (default: the shipped one)
    target_identity: tuple[float, ...] | None = None  # the identity the codes are decoded on (default: the template)
    batch: int = 32  # frames per ONNX call
    providers: tuple[str, ...] | None = None  # ONNX Runtime execution providers (default: CUDA when present, else CPU)
    threads: int = 0  # ONNX Runtime intra-op threads (0: its default)
    mirror_average: bool = True  # average each frame with its mirror image (when the model carries the code map)


MISSING = ("the neural backend could not load its models: {error}. Train a capture model with "
           "`python -m models.capture train --data DIR`, or use --backend landmarks")


class NeuralBackend:
    name = "neural"

    def __init__(self, options: NeuralOptions | None = None):
        from ..capture.runtime import CaptureOptions, CaptureRuntime
        from ..paths import weights_dir
        from ..semantic.runtime import SemanticRuntime

        self.options = options or NeuralOptions()
        semantic_dir = Path(self.options.semantic_dir or weights_dir())
        try:
            self.capture = CaptureRuntime(CaptureOptions(
                weights_dir=Path(self.options.weights_dir or weights_dir()), name=self.options.name,
                batch=self.options.batch, semantic_dir=semantic_dir, providers=self.options.providers,
                threads=self.options.threads, mirror_average=self.options.mirror_average))
            self.semantic = SemanticRuntime(semantic_dir)
        except (ModelFileError, RuntimeError) as exc:
            raise CaptureError(MISSING.format(error=str(exc).rstrip("."))) from None

    def digest(self) -> str:
        identity = np.asarray(self.options.target_identity or (), np.float64).tobytes()
        return (f"neural-v1-{self.capture.digest[:16]}-{self.capture.meta['semantic']['decoder'][:16]}-"
                f"{hashlib.sha256(identity).hexdigest()[:12]}" + ("-mirror" if self.capture.mirror_average else ""))

    def analyse(self, frames, track, model, progress=None, cancel=None, log=None) -> Performance:
        n = len(track)
        k = model.identity_basis.shape[2]
        beta = np.zeros(k) if self.options.target_identity is None else np.asarray(self.options.target_identity,
                                                                                   np.float64)
        if beta.shape != (k,):
            raise CaptureError(f"the target identity has {beta.size} coefficients; the head asset has {k}")
        neutral = model.neutral(beta)[0]
        z_id = self.semantic.encode_identity(neutral.astype(np.float32))
        solver = MeshSolver(neutral, model.shapes(beta), model.shape_names)
        weights = np.zeros((n, 52))
        rotation = np.tile(np.eye(3), (n, 1, 1))
        gaze = np.zeros((n, 2, 2))
        residual = np.full(n, np.nan)
        usable = track.usable
        images, rows = [], []

        def flush():
            if not rows:
                return
            result = self.capture.run_frames(images, landmarks478=track.landmarks[rows])
            meshes = self.semantic.decode(result.z_exp, z_id, neutral.astype(np.float32))
            w, r = solver.solve(meshes)
            weights[rows], residual[rows] = to_arkit(w, model.shape_names), r
            rotation[rows] = FRONTAL.T @ result.head_rotation
            gaze[rows] = result.gaze
            images.clear(), rows.clear()

        for pos, (_, _, image) in enumerate(frames):
            if pos >= n:
                break
            if cancel is not None and cancel():
                raise Cancelled("analysis cancelled; run it again to start over")
            if usable[pos]:
                images.append(image)
                rows.append(pos)
            if len(rows) >= self.options.batch:
                flush()
            if progress is not None:
                progress(pos + 1, n, "capture")
        flush()
        eye = eye_matrices(gaze)
        eye[~usable] = np.eye(3)
        return Performance(weights=weights, head_rotation=rotation, head_translation=np.zeros((n, 3)),
                           eye_rotation=eye, found=usable.copy(), residual_mm=residual, time_s=track.time_s.copy(),
                           fps=float(track.fps), source=str(frames.source),
                           settings={"backend": self.name, "capture_model": self.options.name,
                                     "capture_digest": self.capture.digest,
                                     "semantic_decoder_digest": self.capture.meta["semantic"]["decoder"],
                                     "target_identity": beta.tolist(), "frame_range": [frames.start, frames.stop],
                                     "tracked": int(track.found.sum()), "interpolated": int(track.filled.sum())},
                           landmarks=track.landmarks)
