"""The 52 ARKit blendshape names in ARKit's order, their Left/Right pairs and the pairs that exclude each other.

Weight vectors in ARKit order always have all 52 entries; tongueOut is present and always 0 on FLAME.
"Left" is the character's own left (+X).
"""
from __future__ import annotations

import numpy as np

ARKIT_NAMES = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

N_ARKIT = len(ARKIT_NAMES)
INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}

# Shapes FLAME topology cannot carry: it has no tongue.
OMITTED = ("tongueOut",)

# Left/right pairs (the character's left is +X on both FLAME and ICT).
MIRROR_PAIRS = tuple(
    (name, name[: -len("Left")] + "Right") for name in ARKIT_NAMES if name.endswith("Left")
)

GAZE_SHAPES = tuple(n for n in ARKIT_NAMES if n.startswith("eyeLook"))
BLINK_SHAPES = ("eyeBlinkLeft", "eyeBlinkRight")

# Pairs that cannot both be at full strength: one pulls the same tissue the other way.
EXCLUSIVE_PAIRS: tuple[tuple[str, str], ...] = (
    ("mouthSmileLeft", "mouthFrownLeft"),
    ("mouthSmileRight", "mouthFrownRight"),
    ("eyeBlinkLeft", "eyeWideLeft"),
    ("eyeBlinkRight", "eyeWideRight"),
    ("eyeSquintLeft", "eyeWideLeft"),
    ("eyeSquintRight", "eyeWideRight"),
    ("browDownLeft", "browOuterUpLeft"),
    ("browDownRight", "browOuterUpRight"),
    ("jawLeft", "jawRight"),
    ("mouthLeft", "mouthRight"),
    ("mouthPucker", "mouthStretchLeft"),
    ("mouthPucker", "mouthStretchRight"),
    ("mouthPucker", "mouthSmileLeft"),
    ("mouthPucker", "mouthSmileRight"),
    ("mouthFunnel", "mouthRollLower"),
    ("mouthFunnel", "mouthRollUpper"),
    ("eyeLookUpLeft", "eyeLookDownLeft"),
    ("eyeLookUpRight", "eyeLookDownRight"),
    ("eyeLookInLeft", "eyeLookOutLeft"),
    ("eyeLookInRight", "eyeLookOutRight"),
    ("cheekPuff", "mouthRollLower"),
    ("cheekPuff", "mouthRollUpper"),
)


def columns(shape_names) -> np.ndarray:
    """Column of each of `shape_names` in an ARKit-ordered (52,) weight vector; an unknown name is an error."""
    unknown = [n for n in shape_names if n not in INDEX]
    if unknown:
        raise ValueError(f"shapes {unknown} are not ARKit names; rebuild the head asset")
    return np.array([INDEX[n] for n in shape_names], np.int64)
