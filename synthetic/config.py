"""Render settings and their validation (no bpy: checked before Blender starts)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "optix")
HDRI_SUFFIXES = (".exr", ".hdr")


class RenderStopped(RuntimeError):
    """A render that cannot go on (a worker died); what was written is kept and the same command resumes."""


class ConfigError(ValueError):
    """A bad argument, output folder or asset: reported before any rendering starts."""


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    out: Path
    count: int
    seed: int
    resolution: int = 256
    samples: int = 16
    shard: tuple[int, int] = (0, 1)  # (k, n): this process renders indices i with i % n == k
    workers: int = 1
    device: str = "auto"
    hdri_dir: Path | None = None
    denoise: bool = True
    transparent: bool = False  # debug/test: film alpha is the silhouette, no background
    occluders: bool = True
    masks: bool = False  # also write an object-index mask per sample
    threads: int = 0  # render threads per worker; 0 = cores // workers
    flame: Path | None = None  # head asset inputs; None = the defaults under ../shared
    landmarks: Path | None = None
    ict: Path | None = None

    def output_settings(self) -> dict:
        """The settings that change what is written: a resumed run must match them exactly."""
        return {"count": self.count, "seed": self.seed, "resolution": self.resolution, "samples": self.samples,
                "denoise": self.denoise, "transparent": self.transparent, "occluders": self.occluders,
                "masks": self.masks}


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected K/N with integers, e.g. --shard 0/4") from None
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"--shard {text!r}: need N >= 1 and 0 <= K < N (K counts from 0), e.g. 0/4 .. 3/4")
    return k, n


def shard_indices(count: int, shard: tuple[int, int]) -> list[int]:
    k, n = shard
    return list(range(k, count, n))


def not_writable(out: Path, reason: str) -> ConfigError:
    return ConfigError(f"output folder {out} is not writable ({reason}); pick another --out or fix its permissions")


def check_writable(out: Path) -> None:
    """Whether `out` (or the folder it would be created in) is writable, without writing anything."""
    existing = Path(out).absolute()
    while not existing.exists():
        existing = existing.parent
    reason = (f"{existing} is not a folder" if not existing.is_dir()
              else None if os.access(existing, os.W_OK | os.X_OK) else f"no write permission in {existing}")
    if reason:
        raise not_writable(out, reason)


def validate(config: RenderConfig) -> None:
    """Raise ConfigError naming the first problem (all cheap checks, no Blender)."""
    if config.count < 1:
        raise ConfigError(f"--count {config.count}: must be at least 1")
    if not 16 <= config.resolution <= 4096:
        raise ConfigError(f"--resolution {config.resolution}: must be between 16 and 4096 pixels")
    if not 1 <= config.samples <= 4096:
        raise ConfigError(f"--samples {config.samples}: must be between 1 and 4096")
    if config.seed < 0:
        raise ConfigError(f"--seed {config.seed}: must be >= 0")
    if config.workers < 1:
        raise ConfigError(f"--workers {config.workers}: must be at least 1")
    if config.threads < 0:
        raise ConfigError(f"--threads {config.threads}: must be >= 0")
    if config.device not in DEVICES:
        raise ConfigError(f"--device {config.device!r}: choose one of {', '.join(DEVICES)}")
    k, n = config.shard
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"--shard {k}/{n}: need 0 <= K < N")
    if config.hdri_dir is not None:
        d = Path(config.hdri_dir)
        if not d.is_dir():
            raise ConfigError(f"--hdri-dir {d}: not a folder")
        if not any(p.suffix.lower() in HDRI_SUFFIXES for p in d.iterdir()):
            raise ConfigError(f"--hdri-dir {d}: holds no .exr or .hdr environment maps")
    if Path(config.out).exists() and not Path(config.out).is_dir():
        raise ConfigError(f"--out {config.out}: exists and is not a folder")
    check_writable(Path(config.out))
