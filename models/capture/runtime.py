"""Inference of the capture model with ONNX Runtime (no torch): face crops -> expression code, landmarks, head
rotation and gaze. CUDA provider when available (fp16 file there), else CPU (fp32), as models/semantic/runtime.py.

A model is NAME.json beside its files (NAME.onnx, NAME_fp16.onnx, NAME.pt); the JSON carries each file's sha256,
checked at load, and the digests of the semantic autoencoder whose codes the model learned.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from models.capture.crop import apply_affine, invert_affine, make_crop, rotation_to_frame
from models.capture.mirror import (CodeMirror, mean_rotation, mirror_gaze, mirror_images, mirror_landmarks,
                                   mirror_rotation)
from models.model_files import ModelFileError, load_model_files
from models.paths import weights_dir
from models.semantic.runtime import semantic_digests
from models.vocab import capture64

WEIGHTS_DIR = weights_dir()
DEFAULT_NAME = "capture_light"
FORMAT, VERSION = "facecap-capture", 1
INPUTS = ("image",)
OUTPUTS = ("z_exp", "landmarks", "head_rotation", "gaze")


def file_names(name: str) -> dict[str, str]:
    return {"fp32": f"{name}.onnx", "fp16": f"{name}_fp16.onnx", "torch": f"{name}.pt", "meta": f"{name}.json"}


def providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@dataclasses.dataclass(frozen=True)
class CaptureOptions:
    weights_dir: Path = WEIGHTS_DIR
    name: str = DEFAULT_NAME
    precision: str = "auto"  # "fp32", "fp16" or "auto" (fp16 on CUDA, fp32 on CPU)
    batch: int = 32  # frames per ONNX call
    semantic_dir: Path | None = WEIGHTS_DIR  # the decoder the codes are for; None skips the check
    providers: tuple[str, ...] | None = None  # default: CUDA when present, else CPU
    threads: int = 0  # ONNX Runtime intra-op threads (0: its default)
    # average each crop's prediction with its mirror image's (mapped back), when the model carries its code mirror
    # map; twice the network evaluations
    mirror_average: bool = True


@dataclasses.dataclass
class CaptureResult:
    z_exp: np.ndarray  # (B, 64) semantic expression codes
    landmarks64: np.ndarray  # (B, 64, 2) crop pixels, capture64 order
    head_rotation: np.ndarray  # (B, 3, 3) head rotation in the camera frame (undoing the crop's roll)
    gaze: np.ndarray  # (B, 2, 2) radians, [left, right] x [yaw, pitch], head frame
    confidence: np.ndarray  # (B,) 1 - landmark disagreement with MediaPipe (NaN without its landmarks)
    affine: np.ndarray  # (B, 2, 3) frame -> crop of each frame
    capture_digest: str
    semantic_digest: str

    @property
    def landmarks64_frame(self) -> np.ndarray:
        return apply_affine(invert_affine(self.affine), self.landmarks64)


class SemanticMismatch(RuntimeError):
    pass


class CaptureRuntime:
    def __init__(self, options: CaptureOptions = CaptureOptions()):
        import onnxruntime as ort

        self.options = options
        names = file_names(options.name)
        folder = Path(options.weights_dir)
        restore = ("train and export a capture model with `python -m models.capture train --data DIR` (it exports "
                   "when done), or restore the shipped one with `git checkout -- models/weights/`")
        required = {"format": str, "version": int, "resolution": int, "semantic": dict}
        chosen = list(options.providers or providers())
        use_fp16 = options.precision == "fp16" or (options.precision == "auto" and chosen[0] == "CUDAExecutionProvider")
        self.meta, contents = load_model_files(folder, names["meta"], [names["fp32"]], restore, required)
        if (self.meta["format"], self.meta["version"]) != (FORMAT, VERSION):
            raise ModelFileError(f"{folder / names['meta']} is not a {FORMAT} v{VERSION} model file; {restore}")
        file = names["fp32"]
        if use_fp16 and names["fp16"] in self.meta["sha256"]:
            file = names["fp16"]
            contents = load_model_files(folder, names["meta"], [file], restore, required)[1]
        if options.semantic_dir is not None:
            self.check_semantic(options.semantic_dir)
        self.resolution = int(self.meta["resolution"])
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if options.threads:
            opts.intra_op_num_threads = options.threads
        self.file = file
        try:
            self.session = ort.InferenceSession(contents[file], opts, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ModelFileError(f"{folder / file} is not a loadable ONNX model ({first}); {restore}") from None
        self.digest = self.meta["sha256"][names["fp32"]]
        self.code_mirror = None
        if "code_mirror" in self.meta:
            matrix = np.asarray(self.meta["code_mirror"], np.float32)
            if matrix.shape != (65, 64) or not np.all(np.isfinite(matrix)):
                raise ModelFileError(f"{folder / names['meta']}: code_mirror is not a finite 65 x 64 map; {restore}")
            self.code_mirror = CodeMirror(matrix)

    @property
    def mirror_average(self) -> bool:
        return self.options.mirror_average and self.code_mirror is not None

    def _network(self, crops: np.ndarray) -> list[np.ndarray]:
        outs = [self.session.run(None, {INPUTS[0]: np.ascontiguousarray(crops[s:s + self.options.batch])})
                for s in range(0, len(crops), max(1, self.options.batch))]
        return [np.concatenate([o[k] for o in outs]).astype(np.float32) for k in range(len(OUTPUTS))]

    def _mirror_averaged(self, crops: np.ndarray) -> list[np.ndarray]:
        (z, lmk, rot, gaze), (zm, lmkm, rotm, gazem) = self._network(crops), self._network(mirror_images(crops))
        return [(z + self.code_mirror(zm)) / 2, (lmk + mirror_landmarks(lmkm, self.resolution)) / 2,
                mean_rotation(rot, mirror_rotation(rotm)).astype(np.float32), (gaze + mirror_gaze(gazem)) / 2]

    def check_semantic(self, semantic_dir: Path) -> None:
        """Refuses a semantic decoder other than the one whose codes this model learned."""
        want = self.meta["semantic"]
        have = semantic_digests(semantic_dir)
        if have["decoder"] != want["decoder"] or have["expression"] != want["expression"]:
            raise SemanticMismatch(
                f"capture model {self.options.name} learned the codes of the semantic autoencoder with decoder sha256 "
                f"{want['decoder'][:12]}…, but {semantic_dir} holds decoder {have['decoder'][:12]}…: restore that semantic "
                f"model (models/weights/semantic_*.onnx as exported then) or retrain the capture model "
                f"(`python -m models.capture train --data DIR`) on the current one")

    def run_crops(self, crops: np.ndarray, affines: np.ndarray | None = None,
                  landmarks478: np.ndarray | None = None) -> CaptureResult:
        """Crops (B, R, R, 3) uint8 made by `crop.make_crop`; their affines (identity when None)."""
        crops = np.asarray(crops)
        r = self.resolution
        if crops.ndim != 4 or crops.shape[1:] != (r, r, 3) or crops.dtype != np.uint8:
            raise ValueError(f"crops must be (B, {r}, {r}, 3) uint8 RGB from models.capture.crop.make_crop, "
                             f"got {crops.shape} {crops.dtype}")
        b = len(crops)
        if affines is None:
            affines = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (b, 1, 1))
        z, lmk, rot, gaze = self._mirror_averaged(crops) if self.mirror_average else self._network(crops)
        confidence = np.full(b, np.nan, np.float32)
        if landmarks478 is not None:
            mp = apply_affine(affines, capture64.from_mp478(landmarks478))
            # disagreement as a fraction of the crop: 0 when the two agree, 1 at a tenth of the crop
            confidence = np.clip(1 - np.linalg.norm(lmk - mp, axis=2).mean(1) / (0.1 * r), 0, 1).astype(np.float32)
        return CaptureResult(z, lmk, rotation_to_frame(rot, affines).astype(np.float32), gaze, confidence,
                             np.asarray(affines, np.float64), self.digest, self.meta["semantic"]["decoder"])

    def run_frames(self, frames, landmarks478=None, boxes=None) -> CaptureResult:
        """Frames (H, W, 3) uint8 RGB, each with MediaPipe's (478, 2) landmarks or, where those are None or NaN
        (MediaPipe found no face), a face box (x0, y0, x1, y1)."""
        crops, affines, marks = [], [], []
        for i, frame in enumerate(frames):
            lm = None if landmarks478 is None or landmarks478[i] is None else np.asarray(landmarks478[i], np.float64)
            if lm is not None and not np.all(np.isfinite(lm)):
                lm = None
            crop = make_crop(frame, self.resolution, lm, None if boxes is None else boxes[i])
            crops.append(crop.image), affines.append(crop.affine)
            marks.append(np.full((478, 2), np.nan) if lm is None else lm)
        return self.run_crops(np.array(crops), np.array(affines), None if landmarks478 is None else np.array(marks))
