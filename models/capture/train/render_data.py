"""`train --render N`: render the preset's training set first, through the generator's resumable render."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RenderSettings:
    """How a preset renders its training data (`python -m synthetic render` options)."""
    resolution: int = 256
    samples: int = 8
    device: str = "cpu"
    workers: int = 1
    denoise: bool = True


RENDER_PRESETS = {
    # the settings of every CPU-preset set so far and of the held-out set (README, Evaluation)
    "cpu": RenderSettings(),
    # Cycles on the CUDA/OptiX device when there is one: more samples cost little there
    "gpu": RenderSettings(samples=16, device="auto"),
}


def render_training_set(out: Path, count: int, seed: int, settings: RenderSettings, log=print) -> int:
    """Render what is missing of `count` samples into `out` (the same call again resumes; a folder rendered with
    other settings is refused with synthetic's one-line ConfigError before anything is written). Returns the count."""
    from synthetic.config import RenderConfig
    from synthetic.render import run

    if count < 1:
        raise ValueError(f"--render {count}: give the number of training samples to render (e.g. 2000)")
    config = RenderConfig(out=Path(out), count=count, seed=seed, resolution=settings.resolution,
                          samples=settings.samples, device=settings.device, workers=settings.workers,
                          denoise=settings.denoise)
    return len(run(config, log=log)["samples"])
