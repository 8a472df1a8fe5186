"""What the landmark fit reads from MediaPipe's 478 points: per-point weights and openness ratios.

The groups themselves are the vocabulary's (`models.vocab.mediapipe478`, left = the character's left).
"""
import numpy as np

from ..vocab import mediapipe478 as mp

FEATURES = (mp.LIPS_OUTER + mp.LIPS_INNER + mp.EYE["right"] + mp.EYE["left"]
            + sum(mp.BROW["right"], ()) + sum(mp.BROW["left"], ()))
IRIS = mp.IRIS["right"] + mp.IRIS["left"]


def fit_weights(oval: float = 0.3, feature: float = 3.0, other_stride: int = 4) -> np.ndarray:
    """Per-landmark weight for the fit: silhouette points count less (they slide over the surface as the head
    turns), lid/lip/brow points more, iris points not at all (gaze is solved apart). Of the remaining mesh
    points every `other_stride`-th is kept: they are dense and redundant, and fewer make each frame's solve fast."""
    w = np.zeros(mp.N_LANDMARKS)
    w[:mp.N_MESH:other_stride] = 1.0
    w[list(mp.NOSE)] = 1.0
    w[list(mp.FACE_OVAL)] = oval
    w[list(FEATURES)] = feature
    # The head asset's correspondence (fitted on a closed-mouth render) puts the upper and lower inner-lip points
    # on the same surface, so they do not part when the jaw opens: they would hold the mouth shut.
    w[list(mp.LIPS_INNER)] = 0.0
    return w


# Point pairs measuring openness: (upper, lower) mid-points and the corners.
MOUTH_GAP, MOUTH_CORNERS = (13, 14), (mp.MOUTH_CORNER["right"], mp.MOUTH_CORNER["left"])
RIGHT_EYE_GAP, LEFT_EYE_GAP = (159, 145), (386, 374)


def openness(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, 2) -> (T, 3): mouth, right eye, left eye openness (gap / width), independent of scale."""
    def ratio(gap, corners):
        g = np.linalg.norm(landmarks[:, gap[0]] - landmarks[:, gap[1]], axis=-1)
        w = np.linalg.norm(landmarks[:, corners[0]] - landmarks[:, corners[1]], axis=-1)
        return g / np.maximum(w, 1e-6)
    return np.stack([ratio(MOUTH_GAP, MOUTH_CORNERS), ratio(RIGHT_EYE_GAP, mp.EYE_CORNERS["right"]),
                     ratio(LEFT_EYE_GAP, mp.EYE_CORNERS["left"])], 1)
