"""Named expressions as ARKit weights: the rare shapes a random sampler almost never hits, and the extremes.

The expression sampler (`models/expressions.py`) draws one of these at a random intensity, with jitter.
"""
from __future__ import annotations

from .arkit import INDEX

TEMPLATES: dict[str, dict[str, float]] = {
    # rare mouth shapes named in the requirements
    "lip_roll": {"mouthRollLower": 1.0, "mouthRollUpper": 1.0, "mouthPressLeft": 0.3, "mouthPressRight": 0.3},
    "lip_roll_lower": {"mouthRollLower": 1.0, "mouthShrugUpper": 0.3},
    "lip_roll_upper": {"mouthRollUpper": 1.0, "mouthShrugLower": 0.3},
    "kiss": {"mouthPucker": 1.0, "mouthFunnel": 0.35, "mouthClose": 0.0},
    "cheek_puff": {"cheekPuff": 1.0, "mouthPressLeft": 0.2, "mouthPressRight": 0.2},
    "mouth_left": {"mouthLeft": 1.0},
    "mouth_right": {"mouthRight": 1.0},
    "jaw_left": {"jawLeft": 1.0, "jawOpen": 0.15},
    "jaw_right": {"jawRight": 1.0, "jawOpen": 0.15},
    "jaw_forward": {"jawForward": 1.0, "jawOpen": 0.1},
    # blinks and winks
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "wink_left": {"eyeBlinkLeft": 1.0, "cheekSquintLeft": 0.5, "mouthSmileLeft": 0.3},
    "wink_right": {"eyeBlinkRight": 1.0, "cheekSquintRight": 0.5, "mouthSmileRight": 0.3},
    # common expressions at their extremes
    "smile_wide": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "cheekSquintLeft": 0.6,
                   "cheekSquintRight": 0.6, "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3, "jawOpen": 0.2,
                   "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3},
    "smirk_left": {"mouthSmileLeft": 0.9, "mouthDimpleLeft": 0.4, "mouthLeft": 0.2},
    "smirk_right": {"mouthSmileRight": 0.9, "mouthDimpleRight": 0.4, "mouthRight": 0.2},
    "frown": {"mouthFrownLeft": 1.0, "mouthFrownRight": 1.0, "browDownLeft": 0.5, "browDownRight": 0.5,
              "mouthShrugLower": 0.4},
    "surprise": {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0, "eyeWideLeft": 0.8,
                 "eyeWideRight": 0.8, "jawOpen": 0.6, "mouthFunnel": 0.2},
    "scream": {"jawOpen": 1.0, "mouthStretchLeft": 0.7, "mouthStretchRight": 0.7, "browInnerUp": 0.6,
               "eyeWideLeft": 0.5, "eyeWideRight": 0.5, "mouthLowerDownLeft": 0.6, "mouthLowerDownRight": 0.6},
    "anger": {"browDownLeft": 1.0, "browDownRight": 1.0, "eyeSquintLeft": 0.5, "eyeSquintRight": 0.5,
              "noseSneerLeft": 0.4, "noseSneerRight": 0.4, "mouthPressLeft": 0.5, "mouthPressRight": 0.5},
    "disgust": {"noseSneerLeft": 1.0, "noseSneerRight": 1.0, "mouthUpperUpLeft": 0.7, "mouthUpperUpRight": 0.7,
                "browDownLeft": 0.4, "browDownRight": 0.4, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
    "sad": {"browInnerUp": 0.9, "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7, "mouthShrugLower": 0.4,
            "mouthPressLeft": 0.2, "mouthPressRight": 0.2},
    "lips_pressed": {"mouthPressLeft": 1.0, "mouthPressRight": 1.0, "mouthShrugUpper": 0.3},
    "lip_funnel": {"mouthFunnel": 1.0, "jawOpen": 0.25},
    "teeth_bared": {"mouthUpperUpLeft": 1.0, "mouthUpperUpRight": 1.0, "mouthLowerDownLeft": 1.0,
                    "mouthLowerDownRight": 1.0, "mouthStretchLeft": 0.5, "mouthStretchRight": 0.5},
    "jaw_open_closed_lips": {"jawOpen": 0.5, "mouthClose": 0.5},
    "yawn": {"jawOpen": 1.0, "eyeBlinkLeft": 0.7, "eyeBlinkRight": 0.7, "browInnerUp": 0.3,
             "mouthFunnel": 0.2},
    "brow_raise_left": {"browOuterUpLeft": 1.0, "browInnerUp": 0.4},
    "brow_raise_right": {"browOuterUpRight": 1.0, "browInnerUp": 0.4},
    "sneer_left": {"noseSneerLeft": 1.0, "mouthUpperUpLeft": 0.7, "cheekSquintLeft": 0.4},
    "sneer_right": {"noseSneerRight": 1.0, "mouthUpperUpRight": 0.7, "cheekSquintRight": 0.4},
    "squint": {"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0, "cheekSquintLeft": 0.6, "cheekSquintRight": 0.6,
               "browDownLeft": 0.3, "browDownRight": 0.3},
}
for _name, _shape in TEMPLATES.items():  # a typo in a template must fail at import, not silently
    for _key in _shape:
        assert _key in INDEX, f"template {_name!r} names unknown ARKit shape {_key!r}"
