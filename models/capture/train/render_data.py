"""`train --render N`: render the preset's training set first, through the generator's resumable render."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from synthetic.config import RenderConfig

# `out`, `count` and `seed` are the call's; the rest is how each preset renders
RENDER_PRESETS = {
    # the settings of every CPU-preset set so far and of the held-out set (README, Evaluation)
    "cpu": RenderConfig(out=Path("."), count=1, seed=0, resolution=256, samples=8, device="cpu"),
    # Cycles on the CUDA/OptiX device when there is one: more samples cost little there
    "gpu": RenderConfig(out=Path("."), count=1, seed=0, resolution=256, samples=16, device="auto"),
}


def render_training_set(out: Path, count: int, seed: int, preset: RenderConfig, log=print) -> int:
    """Render what is missing of `count` samples into `out` with `preset`'s settings (the same call again resumes;
    a folder rendered with other settings is refused with synthetic's one-line ConfigError before anything is
    written). Returns the count."""
    from synthetic.render import run

    if count < 1:  # synthetic's own check would name its --count, not the --render the user typed
        raise ValueError(f"--render {count}: give the number of training samples to render (e.g. 2000)")
    return len(run(dataclasses.replace(preset, out=Path(out), count=count, seed=seed), log=log)["samples"])
