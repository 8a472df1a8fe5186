"""Named groups of MediaPipe Face Mesh landmark indices (478 with iris refinement).

"right"/"left" are the subject's, as MediaPipe names them (the subject's right eye is on the image's left).
"""
import numpy as np

N_LANDMARKS = 478
N_MESH = 468  # without the iris points

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
NOSE = (1, 2, 4, 5, 6, 19, 94, 168, 197, 195, 98, 327, 129, 358)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)
IRIS = RIGHT_IRIS + LEFT_IRIS

# Features the expression fit leans on (the lids, lips and brows carry most of what the weights say).
FEATURES = LIPS_OUTER + LIPS_INNER + RIGHT_EYE + LEFT_EYE + RIGHT_BROW + LEFT_BROW


def fit_weights(oval: float = 0.3, feature: float = 3.0, other_stride: int = 4) -> np.ndarray:
    """Per-landmark weight for the fit: silhouette points count less (they slide over the surface as the head
    turns), lid/lip/brow points more, iris points not at all (gaze is solved apart). Of the remaining mesh
    points every `other_stride`-th is kept (inner-lip points are left out, see below) (they are dense and redundant; fewer make each frame's solve fast)."""
    w = np.zeros(N_LANDMARKS)
    w[:N_MESH:other_stride] = 1.0
    w[list(NOSE)] = 1.0
    w[list(FACE_OVAL)] = oval
    w[list(FEATURES)] = feature
    # The head asset's correspondence (fitted on a closed-mouth render) puts the upper and lower inner-lip points
    # on the same surface, so they do not part when the jaw opens: they would hold the mouth shut.
    w[list(LIPS_INNER)] = 0.0
    return w

# Point pairs measuring openness: (upper, lower) mid-points and (outer, inner) corners.
MOUTH_GAP = (13, 14)
MOUTH_CORNERS = (61, 291)
RIGHT_EYE_GAP, RIGHT_EYE_CORNERS = (159, 145), (33, 133)
LEFT_EYE_GAP, LEFT_EYE_CORNERS = (386, 374), (263, 362)


def openness(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, 2) -> (T, 3): mouth, right eye, left eye openness (gap / width), independent of scale."""
    def ratio(gap, corners):
        g = np.linalg.norm(landmarks[:, gap[0]] - landmarks[:, gap[1]], axis=-1)
        w = np.linalg.norm(landmarks[:, corners[0]] - landmarks[:, corners[1]], axis=-1)
        return g / np.maximum(w, 1e-6)
    return np.stack([ratio(MOUTH_GAP, MOUTH_CORNERS), ratio(RIGHT_EYE_GAP, RIGHT_EYE_CORNERS),
                     ratio(LEFT_EYE_GAP, LEFT_EYE_CORNERS)], 1)
