"""The shared ARKit expression sampler: synthetic renders and training draw expressions from here.

numpy only (no bpy), so training code can import it. Weights are float32 in ``ARKIT_NAMES`` order.

A draw is one of
  * neutral (only gaze and maybe a blink),
  * a named template from ``TEMPLATES`` (the rare expressions a random sampler almost never hits:
    lip roll, kiss, cheek puff, mouth left/right, jaw sideways, ...) at a random intensity, with jitter,
  * sparse random activations: a few shapes, mostly symmetric, sometimes one-sided, sometimes extreme.
Then gaze (``eyeLook*``) and blinks are added, and the constraints are enforced:
contradictory pairs (``CONTRADICTORY_PAIRS``) never sum above 1, ``mouthClose <= jawOpen`` (a corrective
meant for an open jaw), and ``tongueOut`` is 0 (the FLAME head has no tongue).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.vocab.arkit import ARKIT_NAMES, MIRROR_PAIRS

N_SHAPES = len(ARKIT_NAMES)
INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}

# Pairs that cannot both be at full strength: one pulls the same tissue the other way.
CONTRADICTORY_PAIRS: tuple[tuple[str, str], ...] = (
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

GAZE_SHAPES = tuple(n for n in ARKIT_NAMES if n.startswith("eyeLook"))
BLINK_SHAPES = ("eyeBlinkLeft", "eyeBlinkRight")
# Shapes the sparse random sampler picks from (gaze and blinks are drawn separately).
FREE_SHAPES = tuple(n for n in ARKIT_NAMES if n not in GAZE_SHAPES + BLINK_SHAPES + ("tongueOut",))

# Eye rotation at eyeLook weight 1, degrees (ARKit's convention is roughly this range).
GAZE_MAX_YAW_DEG = 30.0
GAZE_MAX_PITCH_DEG = 25.0

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

_PAIR_IDX = np.array([(INDEX[a], INDEX[b]) for a, b in CONTRADICTORY_PAIRS], dtype=np.int64)
_MIRROR_IDX = np.array([(INDEX[a], INDEX[b]) for a, b in MIRROR_PAIRS], dtype=np.int64)
_MIRROR_OF = np.arange(N_SHAPES)
_MIRROR_OF[_MIRROR_IDX[:, 0]] = _MIRROR_IDX[:, 1]
_MIRROR_OF[_MIRROR_IDX[:, 1]] = _MIRROR_IDX[:, 0]
_FREE_IDX = np.array([INDEX[n] for n in FREE_SHAPES], dtype=np.int64)
_TEMPLATE_NAMES = tuple(TEMPLATES)


@dataclasses.dataclass(frozen=True)
class ExpressionOptions:
    """Mixture of the sampler; the defaults are what the synthetic renders use."""

    p_neutral: float = 0.05  # nothing but gaze (and maybe a blink)
    p_template: float = 0.30  # a named template, scaled and jittered
    mean_active: float = 3.5  # Poisson mean of shapes picked by the sparse sampler (at least 1)
    p_extreme: float = 0.20  # a picked shape is pushed to 0.85..1
    p_asymmetric: float = 0.30  # a picked Left/Right shape is one-sided (else both sides, similar)
    p_blink: float = 0.12  # full blink or wink on top of anything else
    p_partial_blink: float = 0.15  # lids partly closed
    p_gaze: float = 0.7  # eyes not straight ahead
    template_extra: float = 0.4  # chance a template gets a sparse random shape added
    template_jitter: float = 0.08  # std of noise added to a template's active shapes

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("p_") or field.name == "template_extra":
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"ExpressionOptions.{field.name}={value} must be in [0, 1]")
        if self.p_neutral + self.p_template > 1.0:
            raise ValueError("ExpressionOptions: p_neutral + p_template must be <= 1")
        if self.mean_active < 0 or self.template_jitter < 0:
            raise ValueError("ExpressionOptions: mean_active and template_jitter must be >= 0")


def template_weights(name: str) -> np.ndarray:
    """The (52,) float32 weights of a named template at full intensity."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown expression template {name!r}; known: {', '.join(_TEMPLATE_NAMES)}")
    w = np.zeros(N_SHAPES, np.float32)
    for key, value in TEMPLATES[name].items():
        w[INDEX[key]] = value
    return w


def enforce_constraints(weights: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], make contradictory pairs sum to <= 1 (the weaker side gives way),
    ``mouthClose <= jawOpen`` and ``tongueOut = 0``. Works on (52,) or (n, 52); returns a new array."""
    w = np.clip(np.asarray(weights, np.float32), 0.0, 1.0).copy()
    flat = w.reshape(-1, N_SHAPES)
    for a, b in _PAIR_IDX:
        wa, wb = flat[:, a].copy(), flat[:, b].copy()
        a_wins = wa >= wb
        flat[:, b] = np.where(a_wins, np.minimum(wb, 1.0 - wa), wb)
        flat[:, a] = np.where(a_wins, wa, np.minimum(wa, 1.0 - wb))
    flat[:, INDEX["mouthClose"]] = np.minimum(flat[:, INDEX["mouthClose"]], flat[:, INDEX["jawOpen"]])
    flat[:, INDEX["tongueOut"]] = 0.0
    return w


def gaze_to_weights(yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    """eyeLook* weights for per-eye gaze angles. yaw/pitch: (n, 2) for (left, right) eyes in degrees;
    yaw > 0 looks towards the character's left (+X), pitch > 0 looks up. Returns (n, 52) with only eyeLook set."""
    yaw = np.asarray(yaw_deg, np.float32) / GAZE_MAX_YAW_DEG
    pitch = np.asarray(pitch_deg, np.float32) / GAZE_MAX_PITCH_DEG
    w = np.zeros((yaw.shape[0], N_SHAPES), np.float32)
    # Left eye: looking to +X is "out"; right eye: looking to +X is "in".
    w[:, INDEX["eyeLookOutLeft"]] = np.clip(yaw[:, 0], 0, 1)
    w[:, INDEX["eyeLookInLeft"]] = np.clip(-yaw[:, 0], 0, 1)
    w[:, INDEX["eyeLookInRight"]] = np.clip(yaw[:, 1], 0, 1)
    w[:, INDEX["eyeLookOutRight"]] = np.clip(-yaw[:, 1], 0, 1)
    for side, col in (("Left", 0), ("Right", 1)):
        w[:, INDEX["eyeLookUp" + side]] = np.clip(pitch[:, col], 0, 1)
        w[:, INDEX["eyeLookDown" + side]] = np.clip(-pitch[:, col], 0, 1)
    return w


def weights_to_gaze(weights: np.ndarray) -> np.ndarray:
    """Per-eye gaze (n, 2 eyes [left, right], 2 [yaw, pitch]) in degrees from the eyeLook* weights;
    the inverse of ``gaze_to_weights``."""
    w = np.asarray(weights, np.float32).reshape(-1, N_SHAPES)
    out = np.zeros((w.shape[0], 2, 2), np.float32)
    out[:, 0, 0] = (w[:, INDEX["eyeLookOutLeft"]] - w[:, INDEX["eyeLookInLeft"]]) * GAZE_MAX_YAW_DEG
    out[:, 1, 0] = (w[:, INDEX["eyeLookInRight"]] - w[:, INDEX["eyeLookOutRight"]]) * GAZE_MAX_YAW_DEG
    for side, col in (("Left", 0), ("Right", 1)):
        out[:, col, 1] = (w[:, INDEX["eyeLookUp" + side]] - w[:, INDEX["eyeLookDown" + side]]) * GAZE_MAX_PITCH_DEG
    return out


def _sparse(rng: np.random.Generator, opts: ExpressionOptions, n_active: int) -> np.ndarray:
    w = np.zeros(N_SHAPES, np.float32)
    picks = rng.choice(_FREE_IDX, size=min(n_active, len(_FREE_IDX)), replace=False)
    for i in picks:
        value = rng.uniform(0.85, 1.0) if rng.random() < opts.p_extreme else rng.beta(1.6, 2.4)
        w[i] = max(w[i], value)
        if i == INDEX["mouthClose"]:  # a corrective for an open jaw: open the jaw at least as far
            w[INDEX["jawOpen"]] = max(w[INDEX["jawOpen"]], value)
        mirror = _MIRROR_OF[i]
        if mirror != i and rng.random() >= opts.p_asymmetric:
            w[mirror] = max(w[mirror], np.clip(value + rng.normal(0, 0.08), 0, 1))
    return w


def _gaze(rng: np.random.Generator, opts: ExpressionOptions) -> np.ndarray:
    if rng.random() >= opts.p_gaze:
        return np.zeros(N_SHAPES, np.float32)
    yaw = rng.uniform(-1, 1) * GAZE_MAX_YAW_DEG
    pitch = rng.uniform(-0.9, 0.8) * GAZE_MAX_PITCH_DEG
    vergence = abs(rng.normal(0, 2.0))  # eyes turn in a little for a near target
    yaws = np.array([[yaw - vergence, yaw + vergence]], np.float32)
    pitches = np.full((1, 2), pitch, np.float32)
    return gaze_to_weights(yaws, pitches)[0]


def _blink(rng: np.random.Generator, opts: ExpressionOptions, w: np.ndarray) -> None:
    u = rng.random()
    left, right = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
    if u < opts.p_blink:
        kind = rng.integers(3)  # both, left wink, right wink
        value = rng.uniform(0.9, 1.0)
        if kind in (0, 1):
            w[left] = max(w[left], value)
        if kind in (0, 2):
            w[right] = max(w[right], value)
    elif u < opts.p_blink + opts.p_partial_blink:
        value = rng.uniform(0.2, 0.8)
        w[left] = max(w[left], value)
        w[right] = max(w[right], np.clip(value + rng.normal(0, 0.1), 0, 1))


def sample_one(rng: np.random.Generator, opts: ExpressionOptions = ExpressionOptions()) -> tuple[np.ndarray, str]:
    """One draw: ((52,) float32 weights, the kind drawn: 'neutral', 'sparse' or 'template:<name>')."""
    u = rng.random()
    if u < opts.p_neutral:
        w, kind = np.zeros(N_SHAPES, np.float32), "neutral"
    elif u < opts.p_neutral + opts.p_template:
        name = _TEMPLATE_NAMES[rng.integers(len(_TEMPLATE_NAMES))]
        base = template_weights(name)
        intensity = rng.uniform(0.85, 1.0) if rng.random() < 0.5 else rng.uniform(0.4, 0.85)
        active = base > 0
        w = base * intensity
        w[active] += rng.normal(0, opts.template_jitter, int(active.sum())).astype(np.float32)
        if rng.random() < opts.template_extra:
            w = np.maximum(w, _sparse(rng, opts, 1) * 0.6)
        kind = "template:" + name
    else:
        n_active = max(1, int(rng.poisson(opts.mean_active)))
        w, kind = _sparse(rng, opts, n_active), "sparse"
    w = np.maximum(w, _gaze(rng, opts))
    _blink(rng, opts, w)
    return enforce_constraints(w), kind


def sample_expressions(rng: np.random.Generator, n: int,
                       options: ExpressionOptions | None = None) -> np.ndarray:
    """(n, 52) float32 ARKit weights in ARKIT_NAMES order, drawn from ``rng``."""
    if n < 0:
        raise ValueError(f"sample_expressions: n={n} must be >= 0")
    opts = options if options is not None else ExpressionOptions()
    out = np.zeros((n, N_SHAPES), np.float32)
    for i in range(n):
        out[i] = sample_one(rng, opts)[0]
    return out
