"""The scripted range-of-motion performance of a benchmark sequence (numpy only).

One identity's performance is a list of events played one after the other, each with a smooth onset, a hold
and a smooth release back to neutral: a speech passage (jaw and visemes), every expression template of
`models.vocab.templates` in turn, and between them one-sided shapes and extremes. Blinks, a slow gaze drift and
small head motion run on top for the whole clip. With fewer frames than the whole script needs
(`frames_for_every_template`) the clip plays as many events as fit, from the start.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.expressions import FREE_SHAPES, enforce_constraints, gaze_to_weights, template_weights, weights_to_gaze
from models.vocab.arkit import INDEX, MIRROR_PAIRS, N_ARKIT
from models.vocab.templates import TEMPLATES

FPS = 24.0
MIN_EVENT_FRAMES = 6  # onset, hold and release need at least this many frames
BLINK_PERIOD_S = 2.5
BLINK_PROFILE = (0.35, 0.85, 1.0, 1.0, 0.6, 0.2)  # a blink closes faster than it opens
HEAD_AMPLITUDE_DEG = (4.0, 3.0, 2.0)  # yaw, pitch, roll
HEAD_PERIOD_S = (5.3, 4.1, 6.7)
GAZE_AMPLITUDE_DEG = (6.0, 4.0)  # yaw, pitch
SPEECH_SYLLABLE_HZ = 3.5
_VISEMES = (("mouthFunnel",), ("mouthPucker",), ("mouthStretchLeft", "mouthStretchRight"),
            ("mouthLowerDownLeft", "mouthLowerDownRight"), ("mouthSmileLeft", "mouthSmileRight"),
            ("mouthRollLower",), ("mouthUpperUpLeft", "mouthUpperUpRight"))


@dataclasses.dataclass
class Script:
    weights: np.ndarray  # (F, 52) float32 ARKit weights, constraints enforced
    head_pose_deg: np.ndarray  # (F, 3) yaw, pitch, roll
    gaze_deg: np.ndarray  # (F, 2 eyes [left, right], 2 [yaw, pitch]) from the weights' eyeLook shapes
    kinds: list[str]  # (F,) the event each frame belongs to: "speech", "template:NAME", "asymmetric:SHAPE", ...


def _event_list(rng: np.random.Generator) -> list[tuple[str, object]]:
    """(kind, target) in playing order; a target is (52,) weights, or a callable of the event's time in seconds
    that returns (n, 52) (speech)."""
    one_sided = [a for pair in MIRROR_PAIRS for a in pair if not a.startswith("eyeLook")]
    events: list[tuple[str, object]] = []
    for i, name in enumerate(TEMPLATES):
        if i % 4 == 0:
            events.append(("speech", _speech(rng)))
        events.append((f"template:{name}", template_weights(name)))
        if i % 4 == 1:
            shape = one_sided[int(rng.integers(len(one_sided)))]
            w = np.zeros(N_ARKIT, np.float32)
            w[INDEX[shape]] = rng.uniform(0.8, 1.0)
            events.append((f"asymmetric:{shape}", w))
        if i % 4 == 3:
            picks = rng.choice(len(FREE_SHAPES), size=3, replace=False)
            w = np.zeros(N_ARKIT, np.float32)
            for k in picks:
                w[INDEX[FREE_SHAPES[k]]] = 1.0
            if w[INDEX["mouthClose"]] > 0:  # a corrective for an open jaw
                w[INDEX["jawOpen"]] = 1.0
            events.append(("extreme:" + "+".join(FREE_SHAPES[k] for k in picks), w))
    return events


def _speech(rng: np.random.Generator):
    phase = rng.uniform(0, 2 * np.pi)
    order = rng.permutation(len(_VISEMES))

    def weights(t: np.ndarray) -> np.ndarray:
        w = np.zeros((len(t), N_ARKIT), np.float32)
        syllable = np.abs(np.sin(np.pi * SPEECH_SYLLABLE_HZ * t + phase))
        w[:, INDEX["jawOpen"]] = 0.08 + 0.45 * syllable
        which = order[(np.floor(SPEECH_SYLLABLE_HZ * t + phase / np.pi).astype(int)) % len(order)]
        for k, names in enumerate(_VISEMES):
            for name in names:
                w[:, INDEX[name]] = np.where(which == k, 0.6 * syllable, 0.0)
        return w

    return weights


def envelope(n: int) -> np.ndarray:
    """(n,) 0 -> 1 -> 0: smoothstep onset over the first 30 %, hold, smoothstep release over the last 30 %."""
    x = (np.arange(n) + 0.5) / n
    ramp = np.clip(np.minimum(x, 1 - x) / 0.3, 0, 1)
    return ramp * ramp * (3 - 2 * ramp)


def frames_for_every_template(rng_seed: int = 0) -> int:
    """The clip length at which every event (so every template) plays, at MIN_EVENT_FRAMES each."""
    return len(_event_list(np.random.default_rng(rng_seed))) * MIN_EVENT_FRAMES


def make_script(rng: np.random.Generator, frames: int, fps: float = FPS) -> Script:
    """The performance of `frames` frames at `fps`, drawn from `rng` (the identity's expression stream)."""
    if frames < 1:
        raise ValueError(f"a sequence needs at least 1 frame, got {frames}")
    events = _event_list(rng)
    n_events = max(1, min(len(events), frames // MIN_EVENT_FRAMES))
    bounds = np.linspace(0, frames, n_events + 1).round().astype(int)
    weights = np.zeros((frames, N_ARKIT), np.float32)
    kinds = [""] * frames
    for (kind, target), lo, hi in zip(events, bounds[:-1], bounds[1:]):
        n = hi - lo
        shape = target(np.arange(n) / fps) if callable(target) else np.broadcast_to(target, (n, N_ARKIT))
        weights[lo:hi] = shape * envelope(n)[:, None]
        kinds[lo:hi] = [kind] * n

    blink = np.zeros(frames, np.float32)
    period = int(round(BLINK_PERIOD_S * fps))
    start = min(int(rng.integers(period // 3, period)), max(frames - len(BLINK_PROFILE), 0))
    while start < frames:
        profile = np.asarray(BLINK_PROFILE[:frames - start], np.float32)
        blink[start:start + len(profile)] = np.maximum(blink[start:start + len(profile)], profile)
        start += period + int(rng.integers(-period // 4, period // 4 + 1))
    for side in ("Left", "Right"):
        col = INDEX["eyeBlink" + side]
        weights[:, col] = np.maximum(weights[:, col], blink)

    t = np.arange(frames) / fps
    phases = rng.uniform(0, 2 * np.pi, 5)
    head = np.stack([a * np.sin(2 * np.pi * t / p + ph)
                     for a, p, ph in zip(HEAD_AMPLITUDE_DEG, HEAD_PERIOD_S, phases[:3])], 1)
    gaze_yaw = GAZE_AMPLITUDE_DEG[0] * np.sin(2 * np.pi * t / 3.7 + phases[3])
    gaze_pitch = GAZE_AMPLITUDE_DEG[1] * np.sin(2 * np.pi * t / 4.9 + phases[4])
    gaze_w = gaze_to_weights(np.stack([gaze_yaw, gaze_yaw], 1), np.stack([gaze_pitch, gaze_pitch], 1))
    weights = enforce_constraints(np.maximum(weights, gaze_w))
    return Script(weights=weights, head_pose_deg=head.astype(np.float32), gaze_deg=weights_to_gaze(weights),
                  kinds=kinds)
