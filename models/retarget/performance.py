"""`Performance`: the raw (unsmoothed) per-frame result of a clip's analysis, and its npz form."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..atomic_io import load_record, save_record
from ..vocab.arkit import ARKIT_NAMES

FORMAT = "facecap-performance"
VERSION = 1


@dataclasses.dataclass
class Performance:
    """Per frame T: head frame (FLAME's: metres, +Y up, +Z out of the face, +X the character's left)."""

    weights: np.ndarray  # (T, 52) ARKit order (ARKIT_NAMES), in [0, 1]; tongueOut is 0 on FLAME
    head_rotation: np.ndarray  # (T, 3, 3) the head's rotation about the neck joint
    head_translation: np.ndarray  # (T, 3) metres, the neck joint's offset from its mean position over the clip
    eye_rotation: np.ndarray  # (T, 2, 3, 3) [left (+X), right] eye rotations in the head frame
    found: np.ndarray  # (T,) bool: a face drove this frame (tracked or interpolated over a short gap)
    residual_mm: np.ndarray  # (T,) the fit's RMS residual; nan where not found
    time_s: np.ndarray  # (T,) source time of each frame
    fps: float
    source: str = ""
    settings: dict = dataclasses.field(default_factory=dict)  # backend, frame range, digests, identity, ...
    landmarks: np.ndarray | None = None  # (T, 478, 2) float32 the tracked MediaPipe points (previews), optional

    def __len__(self) -> int:
        return len(self.found)

    def save(self, path: Path) -> None:
        save_record(path, self, {"format": FORMAT, "version": VERSION, "fps": self.fps, "source": self.source,
                                 "settings": self.settings, "arkit_names": list(ARKIT_NAMES)})

    @classmethod
    def load(cls, path: Path) -> "Performance":
        arrays, meta = load_record(path, cls, FORMAT, VERSION)
        arrays["found"] = arrays["found"].astype(bool)
        return cls(**arrays, fps=float(meta["fps"]), source=meta["source"], settings=meta["settings"])

    def neutral_like(self) -> "Performance":
        """A copy with every frame at rest (the shape of a clip whose face is never found)."""
        t = len(self)
        eye = np.tile(np.eye(3), (t, 1, 1))
        return dataclasses.replace(self, weights=np.zeros((t, 52)), head_rotation=eye,
                                   head_translation=np.zeros((t, 3)), eye_rotation=np.tile(np.eye(3), (t, 2, 1, 1)))
