"""Named groups of MediaPipe Face Mesh's 478 landmarks (468 mesh points + 10 iris points with refinement).

"left" and "right" are the character's own (left = +X in FLAME's frame, on the right of a frontal,
unmirrored image); MediaPipe's own LEFT_* connection sets use the same sense. Checked on the head asset:
point 263 (left eye, outer corner) and iris centre 473 lie at +X. Loops are ordered along the curve as
MediaPipe's connection sets chain them (FACEMESH_LIPS, _LEFT_EYE, ... in mediapipe.solutions.face_mesh).
"""
from __future__ import annotations

N_LANDMARKS = 478
N_MESH = 468  # without the iris points

LIPS_OUTER = (0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267)
LIPS_INNER = (13, 82, 81, 80, 191, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312)
EYE = {
    "left": (249, 263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390),
    "right": (7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163),
}
EYE_CORNERS = {"left": (362, 263), "right": (133, 33)}  # (inner, outer)
IRIS_CENTRE = {"left": 473, "right": 468}
IRIS = {"left": (473, 474, 475, 476, 477), "right": (468, 469, 470, 471, 472)}  # centre, then the ring
BROW = {  # each brow as its upper and lower edge
    "left": ((336, 296, 334, 293, 300), (285, 295, 282, 283, 276)),
    "right": ((107, 66, 105, 63, 70), (55, 65, 52, 53, 46)),
}
FACE_OVAL = (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400,
             378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
NOSE_TIP = 1
MOUTH_CORNER = {"left": 291, "right": 61}
