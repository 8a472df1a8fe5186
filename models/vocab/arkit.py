"""The 52 ARKit blendshape names and how ICT-FaceKit's shapes map onto them."""

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

# Shapes FLAME topology cannot carry: it has no tongue.
OMITTED = ("tongueOut",)

# Left/right pairs (the character's left is +X on both FLAME and ICT).
MIRROR_PAIRS = tuple(
    (name, name[: -len("Left")] + "Right") for name in ARKIT_NAMES if name.endswith("Left")
)


# Shapes whose ICT names already end in Left/Right as whole words of the ARKit name.
_UNSPLIT = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")


def ict_sources(arkit_name: str) -> tuple[str, ...]:
    """ICT-FaceKit shape names whose deltas sum to one ARKit shape."""
    if arkit_name in _UNSPLIT:
        return (arkit_name,)
    if arkit_name in ("browInnerUp", "cheekPuff"):
        return (arkit_name + "_L", arkit_name + "_R")
    if arkit_name.endswith("Left"):
        return (arkit_name[: -len("Left")] + "_L",)
    if arkit_name.endswith("Right"):
        return (arkit_name[: -len("Right")] + "_R",)
    return (arkit_name,)
