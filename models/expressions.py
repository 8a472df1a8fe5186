"""The shared ARKit expression sampler: synthetic renders and training draw expressions from here.

numpy only (no bpy), so training code can import it. Weights are float32 in ``ARKIT_NAMES`` order.

A draw is one of
  * neutral (only gaze and maybe a blink),
  * a named template from ``TEMPLATES`` (``models.vocab.templates``) (the rare expressions a random sampler almost never hits:
    lip roll, kiss, cheek puff, mouth left/right, jaw sideways, ...) at a random intensity, with jitter,
  * speech: the jaw partly open with lip shapes as in talking (visemes), sometimes wide open,
  * sparse random activations: a few shapes, mostly symmetric, sometimes one-sided, sometimes extreme.
Then gaze (``eyeLook*``) and blinks are added, and the constraints are enforced:
exclusive pairs (``EXCLUSIVE_PAIRS`` in ``models.vocab.arkit``) never sum above 1, ``mouthClose <= jawOpen`` (a corrective
meant for an open jaw), and ``tongueOut`` is 0 (the FLAME head has no tongue).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.vocab.arkit import (ARKIT_NAMES, BLINK_SHAPES, EXCLUSIVE_PAIRS, GAZE_SHAPES, INDEX, MIRROR_PAIRS, N_ARKIT,
                                OMITTED)
from models.vocab.templates import TEMPLATES

# Shapes the sparse random sampler picks from (gaze and blinks are drawn separately).
FREE_SHAPES = tuple(n for n in ARKIT_NAMES if n not in GAZE_SHAPES + BLINK_SHAPES + OMITTED)

# Eye rotation at eyeLook weight 1, degrees (ARKit's convention is roughly this range).
GAZE_MAX_YAW_DEG = 30.0
GAZE_MAX_PITCH_DEG = 25.0

_PAIR_IDX = np.array([(INDEX[a], INDEX[b]) for a, b in EXCLUSIVE_PAIRS], dtype=np.int64)
_MIRROR_IDX = np.array([(INDEX[a], INDEX[b]) for a, b in MIRROR_PAIRS], dtype=np.int64)
_MIRROR_OF = np.arange(N_ARKIT)
_MIRROR_OF[_MIRROR_IDX[:, 0]] = _MIRROR_IDX[:, 1]
_MIRROR_OF[_MIRROR_IDX[:, 1]] = _MIRROR_IDX[:, 0]
_FREE_IDX = np.array([INDEX[n] for n in FREE_SHAPES], dtype=np.int64)
_TEMPLATE_NAMES = tuple(TEMPLATES)


@dataclasses.dataclass(frozen=True)
class ExpressionOptions:
    """Mixture of the sampler; the defaults are what the synthetic renders use."""

    p_neutral: float = 0.05  # nothing but gaze (and maybe a blink)
    p_template: float = 0.30  # a named template, scaled and jittered
    p_speech: float = 0.22  # an open, talking mouth: without it only ~9 % of draws show the mouth open
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
        if self.p_neutral + self.p_template + self.p_speech > 1.0:
            raise ValueError("ExpressionOptions: p_neutral + p_template + p_speech must be <= 1")
        if self.mean_active < 0 or self.template_jitter < 0:
            raise ValueError("ExpressionOptions: mean_active and template_jitter must be >= 0")


def template_weights(name: str) -> np.ndarray:
    """The (52,) float32 weights of a named template at full intensity."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown expression template {name!r}; known: {', '.join(_TEMPLATE_NAMES)}")
    w = np.zeros(N_ARKIT, np.float32)
    for key, value in TEMPLATES[name].items():
        w[INDEX[key]] = value
    return w


def enforce_constraints(weights: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], make exclusive pairs sum to <= 1 (the weaker side gives way),
    ``mouthClose <= jawOpen`` and ``tongueOut = 0``. Works on (52,) or (n, 52); returns a new array."""
    w = np.clip(np.asarray(weights, np.float32), 0.0, 1.0).copy()
    flat = w.reshape(-1, N_ARKIT)
    for a, b in _PAIR_IDX:
        wa, wb = flat[:, a].copy(), flat[:, b].copy()
        a_wins = wa >= wb
        flat[:, b] = np.where(a_wins, np.minimum(wb, 1.0 - wa), wb)
        flat[:, a] = np.where(a_wins, wa, np.minimum(wa, 1.0 - wb))
    flat[:, INDEX["mouthClose"]] = np.minimum(flat[:, INDEX["mouthClose"]], flat[:, INDEX["jawOpen"]])
    flat[:, [INDEX[n] for n in OMITTED]] = 0.0
    return w


def gaze_to_weights(yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    """eyeLook* weights for per-eye gaze angles. yaw/pitch: (n, 2) for (left, right) eyes in degrees;
    yaw > 0 looks towards the character's left (+X), pitch > 0 looks up. Returns (n, 52) with only eyeLook set."""
    yaw = np.asarray(yaw_deg, np.float32) / GAZE_MAX_YAW_DEG
    pitch = np.asarray(pitch_deg, np.float32) / GAZE_MAX_PITCH_DEG
    w = np.zeros((yaw.shape[0], N_ARKIT), np.float32)
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
    w = np.asarray(weights, np.float32).reshape(-1, N_ARKIT)
    out = np.zeros((w.shape[0], 2, 2), np.float32)
    out[:, 0, 0] = (w[:, INDEX["eyeLookOutLeft"]] - w[:, INDEX["eyeLookInLeft"]]) * GAZE_MAX_YAW_DEG
    out[:, 1, 0] = (w[:, INDEX["eyeLookInRight"]] - w[:, INDEX["eyeLookOutRight"]]) * GAZE_MAX_YAW_DEG
    for side, col in (("Left", 0), ("Right", 1)):
        out[:, col, 1] = (w[:, INDEX["eyeLookUp" + side]] - w[:, INDEX["eyeLookDown" + side]]) * GAZE_MAX_PITCH_DEG
    return out


def _sparse(rng: np.random.Generator, opts: ExpressionOptions, n_active: int) -> np.ndarray:
    w = np.zeros(N_ARKIT, np.float32)
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


# lip shapes of speech that go with an open jaw (visemes: o/u rounds, e/i spreads, f/v lower lip, a drops)
_SPEECH_SHAPES = (("mouthFunnel",), ("mouthPucker",), ("mouthStretchLeft", "mouthStretchRight"),
                  ("mouthLowerDownLeft", "mouthLowerDownRight"), ("mouthUpperUpLeft", "mouthUpperUpRight"),
                  ("mouthSmileLeft", "mouthSmileRight"), ("mouthShrugUpper",), ("mouthRollLower",))


def _speech(rng: np.random.Generator, opts: ExpressionOptions) -> np.ndarray:
    w = np.zeros(N_ARKIT, np.float32)
    # mostly the partial openings of talking, a quarter wide open (shouting, laughing, vowels sung)
    w[INDEX["jawOpen"]] = rng.uniform(0.55, 1.0) if rng.random() < 0.25 else rng.uniform(0.22, 0.55)
    for k in rng.choice(len(_SPEECH_SHAPES), size=int(rng.integers(1, 3)), replace=False):
        value = rng.beta(1.6, 2.4)
        for name in _SPEECH_SHAPES[k]:
            w[INDEX[name]] = np.clip(value + rng.normal(0, 0.05), 0, 1)
    if rng.random() < 0.5:  # brows and cheeks move while talking too
        w = np.maximum(w, _sparse(rng, opts, 1) * 0.6)
        w[INDEX["mouthClose"]] = 0.0  # the lips stay apart
    return w


def _gaze(rng: np.random.Generator, opts: ExpressionOptions) -> np.ndarray:
    if rng.random() >= opts.p_gaze:
        return np.zeros(N_ARKIT, np.float32)
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
    """One draw: ((52,) float32 weights, the kind drawn: 'neutral', 'speech', 'sparse' or 'template:<name>')."""
    u = rng.random()
    if u < opts.p_neutral:
        w, kind = np.zeros(N_ARKIT, np.float32), "neutral"
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
    elif u < opts.p_neutral + opts.p_template + opts.p_speech:
        w, kind = _speech(rng, opts), "speech"
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
    out = np.zeros((n, N_ARKIT), np.float32)
    for i in range(n):
        out[i] = sample_one(rng, opts)[0]
    return out
