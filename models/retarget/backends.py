"""Capture backends: Track + clip -> Performance. One interface, so the neural backend plugs in beside
the landmark one (`BACKENDS`, `get_backend`)."""
from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

import numpy as np

from ..video.errors import CaptureError
from ..video.track import Track
from .camera import intrinsics
from .landmark_fit import FitOptions, LandmarkRig, eye_matrices, fit_clip
from .performance import Performance


class Backend(Protocol):
    name: str

    def digest(self) -> str:
        """What identifies the backend's models and code in the analysis cache key."""

    def analyse(self, frames, track: Track, model, progress: Callable | None, cancel: Callable | None,
                log: Callable | None) -> Performance:
        """The raw Performance of the tracked frames."""


@dataclasses.dataclass
class LandmarkBackend:
    """Fit the rig to MediaPipe's 478 points (no trained model)."""

    options: FitOptions = dataclasses.field(default_factory=FitOptions)
    name: str = "landmarks"

    def digest(self) -> str:
        return f"landmarks-v1-{dataclasses.asdict(self.options)}"

    def analyse(self, frames, track, model, progress=None, cancel=None, log=None) -> Performance:
        rig = LandmarkRig(model)
        k = intrinsics(track.size, self.options.fov_deg)
        weights, rotation, translation, gaze_yp, residual, beta = fit_clip(
            rig, track, self.options, k, progress, cancel, log)
        usable = track.usable
        eye = eye_matrices(gaze_yp)
        eye[~usable] = np.eye(3)
        return Performance(weights=weights, head_rotation=rotation, head_translation=translation,
                           eye_rotation=eye, found=usable.copy(), residual_mm=residual,
                           time_s=track.time_s.copy(), fps=float(track.fps), source=str(frames.source),
                           settings={"backend": self.name, "actor_identity": beta.tolist(),
                                     "focal_px": float(k[0, 0]), "frame_range": [frames.start, frames.stop],
                                     "tracked": int(track.found.sum()), "interpolated": int(track.filled.sum())},
                           landmarks=track.landmarks)


def _neural(**options) -> Backend:
    from .neural import NeuralBackend  # loads ONNX Runtime and the model files only when asked for

    return NeuralBackend(**options)


BACKENDS = {"landmarks": LandmarkBackend, "neural": _neural}


def get_backend(name: str, **options) -> Backend:
    if name not in BACKENDS:
        raise CaptureError(f"unknown capture backend {name!r}; use one of: {', '.join(BACKENDS)}")
    return BACKENDS[name](**options)
