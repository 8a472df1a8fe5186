"""Named groups of the 68-point (iBUG / Multi-PIE) landmark set, as indices into the 68 points.

"left" and "right" are the character's own (left = +X in FLAME's frame): the right eye is 36-41, the left
42-47, the jaw contour runs from the right ear (0) to the left (16). Eye points run corner, upper lid,
corner, lower lid (clockwise in a frontal image).
"""
from __future__ import annotations

import dataclasses

N_LANDMARKS = 68

JAW = tuple(range(0, 17))  # the contour: silhouette points, not fixed surface points
JAW_END = {"right": 0, "left": 16}  # the upper ends of the contour, by the ears
CHIN = 8
CHIN_CONTOUR = tuple(range(5, 12))
CHEEK_CONTOUR = (1, 2, 3, 4, 12, 13, 14, 15)
BROW = {"right": tuple(range(17, 22)), "left": tuple(range(22, 27))}
BROWS = tuple(range(17, 27))
NOSE = tuple(range(27, 36))
NOSE_TOP = 27  # the top of the bridge, between the eyes
NOSE_BOTTOM = 33  # the point under the nose tip (subnasale)
LIPS_OUTER = tuple(range(48, 60))
LIPS_INNER = tuple(range(60, 68))
MOUTH = tuple(range(48, 68))
MOUTH_CORNER = {"right": 48, "left": 54}
UPPER_LIP = (49, 50, 51, 52, 53, 61, 62, 63)
LOWER_LIP = (55, 56, 57, 58, 59, 65, 66, 67)
EYES_ALL = tuple(range(36, 48))
INNER = tuple(range(17, 68))  # the 51 points that are fixed on the surface (all but the jaw contour)


@dataclasses.dataclass(frozen=True)
class Opening:
    """An eye or the inner mouth: two corners, and the upper points each above its lower partner."""

    corners: tuple[int, int]
    upper: tuple[int, ...]
    lower: tuple[int, ...]

    @property
    def upper_line(self) -> tuple[int, ...]:
        """Corner, the upper points, corner."""
        return (self.corners[0], *self.upper, self.corners[1])

    @property
    def lower_line(self) -> tuple[int, ...]:
        """The far corner, the lower points, the first corner (the 68-point order)."""
        return (self.corners[1], *reversed(self.lower), self.corners[0])

    @property
    def ids(self) -> tuple[int, ...]:
        """Corner, upper points, corner, lower points from the far corner back (the 68-point order)."""
        return (self.corners[0], *self.upper, self.corners[1], *reversed(self.lower))


EYE = {"right": Opening((36, 39), (37, 38), (41, 40)), "left": Opening((42, 45), (43, 44), (47, 46))}
INNER_MOUTH = Opening((60, 64), (61, 62, 63), (67, 66, 65))
