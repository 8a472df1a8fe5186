"""MediaPipe Face Mesh (478 points with iris) on images and video frames: pixels, or None when no face."""
from __future__ import annotations

import numpy as np


class FaceMesh:
    """One MediaPipe graph; ``video=True`` tracks across consecutive frames of one clip."""

    def __init__(self, video: bool = False, min_confidence: float = 0.3):
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=not video, refine_landmarks=True,
                                                     max_num_faces=1, min_detection_confidence=min_confidence,
                                                     min_tracking_confidence=min_confidence)

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray | None:
        result = self._mesh.process(np.ascontiguousarray(image_rgb[..., :3]))
        if not result.multi_face_landmarks:
            return None
        h, w = image_rgb.shape[:2]
        return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
